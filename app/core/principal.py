import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an API key, its organization and its role."""

    key_id: uuid.UUID
    key_prefix: str
    organization_id: int
    organization: str
    role: str

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
