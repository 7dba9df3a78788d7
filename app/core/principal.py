import uuid
from dataclasses import dataclass

ROLE_RANK = {"provider": 0, "coordinator": 1, "admin": 2}


def lesser_role(first: str, second: str) -> str:
    """The role with fewer rights of the two (a person's key never acts above its owner)."""
    return first if ROLE_RANK.get(first, -1) <= ROLE_RANK.get(second, -1) else second


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a person (through a membership) or an API key, the
    organization it acts for and its role there.

    A program's organization key has `key_id` and no person; a person in the pages has a
    person and a membership and no key; a person's own key has all three."""

    key_id: uuid.UUID | None
    key_prefix: str | None
    organization_id: int
    organization: str
    role: str
    person_id: uuid.UUID | None = None
    person_name: str | None = None
    person_email: str | None = None
    membership_id: uuid.UUID | None = None
    manages: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def reads_all(self) -> bool:
        return self.role in ("admin", "coordinator")

    def may_write_for(self, organization_id: int) -> bool:
        """Providers write their own organization's activities; coordinators and admins
        may enter or correct anyone's."""
        return self.reads_all or organization_id == self.organization_id

    def may_manage(self, organization_id: int) -> bool:
        """Admins manage every organization's members and keys; a member who `manages` an
        organization manages that one's."""
        return self.is_admin or (self.manages and organization_id == self.organization_id)

    @property
    def label(self) -> str:
        """Who acted, as histories show it: "Ana Pérez (OAS-CICTE)", or for a program's
        key "OAS-CICTE (ac_1a2b3c4d)"."""
        if self.person_name:
            return f"{self.person_name} ({self.organization})"
        return f"{self.organization} ({self.key_prefix})"
