"""Queueing e-mails: each is composed and written to the outbox (mail_outbox) in the
transaction of the change it tells about, and sent by the mail worker (app.mail.sending) once
that transaction commits; a rolled-back change sends nothing."""

import uuid
from email.utils import make_msgid, parseaddr
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from app.config import Settings
from app.db import outbox
from app.mail.compose import compose
from app.mail.models import OutboxMail

TOPIC = "mail"  # the outbox worker that sends mail_outbox


def message_domain(settings: Settings) -> str:
    """The right-hand part of Message-IDs: the domain of ASSISTCAL_MAIL_FROM, else the public
    URL's host."""
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2]
    if not domain and settings.public_url:
        domain = urlsplit(settings.public_url).hostname or ""
    return domain or "localhost"


@cache
def process_domain() -> str:
    return message_domain(Settings())  # the process's configuration, read once


def queue(
    session: Session,
    *,
    to: str,
    template: str,
    language: str,
    headers: dict[str, str] | None = None,
    person_id: uuid.UUID | None = None,
    organization_id: int | None = None,
    message_id: str | None = None,
    **context: Any,
) -> OutboxMail:
    """Compose the mail `template` for `to` in `language` (app.mail.compose) and add it to the
    outbox in `session`'s transaction (no commit): its commit wakes the mail worker.
    `headers`: more headers (threading, Reply-To, List-Unsubscribe); `person_id`: the person
    it is for (nothing is sent once they are removed, or once they leave `organization_id`,
    the organization it tells of, when there is one); `message_id`: its Message-ID, when the
    caller must know it (a thread's first message), else a new one."""
    if "@" not in to or parseaddr(to)[1] != to or to != to.strip():
        raise ValueError(f"not an e-mail address: {to!r}")
    composed = compose(template, language, **context)
    mail = OutboxMail(
        to_address=to,
        subject=composed.subject,
        text_body=composed.text,
        html_body=composed.html,
        language=language,
        # the same on every retry, so that a client merges a rare double
        message_id=message_id or make_msgid(domain=process_domain()),
        headers=headers or None,
        person_id=person_id,
        organization_id=organization_id,
    )
    session.add(mail)
    outbox.queued(session, TOPIC)
    return mail
