"""Interim: the lead's placeholder until h-mail merges (replaced by the helper's module)."""

import uuid
from typing import Any

from sqlmodel import Session

from app.mail.models import OutboxMail


def queue(session: Session, *, to: str, template: str, language: str, **context: Any) -> OutboxMail:
    text = "\n".join(f"{k}: {v}" for k, v in context.items())
    row = OutboxMail(
        to_address=to,
        subject=template,
        text_body=text,
        language=language,
        message_id=f"<{uuid.uuid4()}@assistcal>",
    )
    session.add(row)
    return row
