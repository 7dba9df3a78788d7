"""Files between the import page's dry run and its confirmation."""

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.errors import NotFound
from app.web.models import PendingUpload

KEPT = timedelta(hours=1)


def keep(
    session: Session,
    owner: Principal,
    filename: str,
    data: bytes,
    provider: str | None,
    skip_invalid: bool,
) -> uuid.UUID:
    session.execute(sa.delete(PendingUpload).where(col(PendingUpload.created_at) < utcnow() - KEPT))
    upload = PendingUpload(
        api_key_id=owner.key_id,
        membership_id=owner.membership_id,
        filename=filename[:300],
        data=data,
        provider=provider,
        skip_invalid=skip_invalid,
    )
    session.add(upload)
    session.flush()
    return upload.id


def get(
    session: Session, upload_id: uuid.UUID, owner: Principal
) -> tuple[str, bytes, str | None, bool]:
    """The kept file, only for the key (or the member) that uploaded it."""
    upload = session.get(PendingUpload, upload_id)
    if (
        upload is None
        or (upload.api_key_id, upload.membership_id) != (owner.key_id, owner.membership_id)
        or upload.created_at < utcnow() - KEPT
    ):
        raise _gone()
    return upload.filename, upload.data, upload.provider, upload.skip_invalid


def remove(session: Session, upload_id: uuid.UUID, owner: Principal) -> None:
    """The kept file removed from the store as it is imported; once only."""
    removed = session.execute(
        sa.delete(PendingUpload).where(
            col(PendingUpload.id) == upload_id,
            col(PendingUpload.api_key_id) == owner.key_id,
            col(PendingUpload.membership_id) == owner.membership_id,
        )
    )
    if removed.rowcount != 1:  # type: ignore[attr-defined]
        raise _gone()


def _gone() -> NotFound:
    return NotFound("this upload is no longer kept: choose the file again")
