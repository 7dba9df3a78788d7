import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, StringConstraints
from sqlmodel import AutoString, Field, SQLModel

from app.core.timeutil import UtcDatetime, utcnow
from app.core.types import LanguageCode, RegionCode, ShortText
from app.core.vocab import ActivityType, Domain, OrgKind, Theme
from app.db import stamp
from app.db.types import JSONValue

ACRONYM_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,29}$")


def normalise_acronym(value: str) -> str:
    acronym = value.strip().upper()
    if not ACRONYM_PATTERN.match(acronym):
        raise ValueError(
            "an acronym is 1 to 30 letters, digits or hyphens, starting with a letter or digit"
        )
    return acronym


Acronym = Annotated[str, AfterValidator(normalise_acronym)]

# An IATI organisation identifier: a registration agency's prefix (a country code or XM/XI,
# a hyphen, the register's code) then the organization's number in that register, as in
# XM-DAC-41301 or GB-GOV-1.  An IATI activity identifier starts with it and adds a hyphen, so
# it holds none of the characters the IATI rules forbid there: spaces, "/", "&", "|", "?".
IATI_IDENTIFIER_PATTERN = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,}-[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")


def normalise_iati_identifier(value: str | None) -> str | None:
    if value is None:
        return None
    identifier = value.strip()
    if not IATI_IDENTIFIER_PATTERN.match(identifier):
        raise ValueError(
            "an IATI organisation identifier is a registration agency's prefix and the "
            "organization's number in its register, such as XM-DAC-41301 or GB-GOV-1 "
            "(letters, digits, '.', '_' and '-'; no spaces)"
        )
    return identifier


IatiIdentifier = Annotated[str | None, AfterValidator(normalise_iati_identifier)]
Alias = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class OrganizationBase(SQLModel):
    name: ShortText = Field(max_length=200)
    kind: OrgKind = Field(default="other", sa_type=AutoString)
    aliases: list[Alias] = Field(default_factory=list, sa_type=JSONValue, max_length=50)
    contact_email: EmailStr | None = Field(default=None, sa_type=AutoString, max_length=254)
    iati_identifier: IatiIdentifier = Field(
        default=None,
        sa_type=AutoString,
        max_length=80,
        unique=True,
        description="its IATI organisation identifier (XM-DAC-41301, GB-GOV-1): the IATI "
        "export names its activities with it",
    )


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
    iati_identifier: IatiIdentifier = Field(default=None, max_length=80)


class OrganizationPublic(OrganizationBase):
    acronym: str
    created_at: UtcDatetime


class ProfileBase(SQLModel):
    """What an organization offers: the help it gives, where and in which languages."""

    themes: list[Theme] = Field(default_factory=list, sa_type=JSONValue, max_length=10)
    domains: list[Domain] = Field(default_factory=list, sa_type=JSONValue, max_length=4)
    activity_types: list[ActivityType] = Field(
        default_factory=list, sa_type=JSONValue, max_length=12
    )
    languages: list[LanguageCode] = Field(default_factory=list, sa_type=JSONValue, max_length=20)
    regions: list[RegionCode] = Field(
        default_factory=list,
        sa_type=JSONValue,
        max_length=30,
        description="M49 regions it works in, e.g. '419'; the continents for the world",
    )
    contact_email: EmailStr | None = Field(default=None, sa_type=AutoString, max_length=254)


class OrganizationProfile(ProfileBase, table=True):
    __tablename__ = "organization_profile"

    organization_id: int = Field(foreign_key="organization.id", primary_key=True)
    updated_at: datetime = Field(default_factory=utcnow)


class ProfileIn(ProfileBase):
    model_config = {"extra": "forbid"}


class ProfilePublic(ProfileBase):
    organization: str
    updated_at: UtcDatetime | None = Field(description="null: the organization has no profile yet")


# Feeds and cached reads show providers' names (app.db.stamp).
stamp.watch(Organization)
