import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, StringConstraints
from sqlmodel import AutoString, Field, SQLModel

from app.core.timeutil import UtcDatetime, utcnow
from app.core.types import ShortText
from app.core.vocab import OrgKind
from app.dbtypes import JSONValue

ACRONYM_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,29}$")


def normalise_acronym(value: str) -> str:
    acronym = value.strip().upper()
    if not ACRONYM_PATTERN.match(acronym):
        raise ValueError(
            "an acronym is 1 to 30 letters, digits or hyphens, starting with a letter or digit"
        )
    return acronym


Acronym = Annotated[str, AfterValidator(normalise_acronym)]
Alias = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class OrganizationBase(SQLModel):
    name: ShortText = Field(max_length=200)
    kind: OrgKind = Field(default="other", sa_type=AutoString)
    aliases: list[Alias] = Field(default_factory=list, sa_type=JSONValue, max_length=50)
    contact_email: EmailStr | None = Field(default=None, sa_type=AutoString, max_length=254)


class Organization(OrganizationBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    acronym: str = Field(unique=True, max_length=30)
    created_at: datetime = Field(default_factory=utcnow)


class OrganizationCreate(OrganizationBase):
    model_config = {"extra": "forbid"}
    acronym: Acronym


class OrganizationUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    name: ShortText | None = None
    kind: OrgKind | None = None
    aliases: list[Alias] | None = Field(default=None, max_length=50)
    contact_email: EmailStr | None = Field(default=None, max_length=254)


class OrganizationPublic(OrganizationBase):
    acronym: str
    created_at: UtcDatetime
