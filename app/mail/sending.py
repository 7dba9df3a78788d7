"""Sending the mail outbox: each pending mail goes to the SMTP server of ASSISTCAL_SMTP_URL
(or, without one, to the log), retried with growing delays until it is accepted, refused for
good (a 5xx for the recipient or the message) or out of attempts.

Mails are claimed as webhook deliveries are (app.db.outbox): a process that dies between
sending and recording sends the mail again after the lease, with the same Message-ID."""

import logging
import smtplib
import ssl
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from app.config import Settings, SmtpServer
from app.core.timeutil import as_utc, utcnow
from app.db import outbox
from app.db.engine import open_session
from app.mail.models import OutboxMail
from app.mail.service import TOPIC

log = logging.getLogger("assistcal.mail")

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)  # then 4 min, 16 min, 64 min, 4 h 16 min, 6 h, 6 h
LONGEST_WAIT = timedelta(hours=6)
LEASE_MARGIN = timedelta(seconds=60)
ERROR_LENGTH = 200

# The people tables, named rather than imported: app.auth sends its mail through this package,
# which may not import it back (docs/architecture.md).
_person = sa.table("person", sa.column("id", sa.Uuid), sa.column("removed_at", sa.DateTime))
_membership = sa.table(
    "membership",
    sa.column("person_id", sa.Uuid),
    sa.column("organization_id", sa.Integer),
    sa.column("status", sa.String),
)

# What a mail is sent with: (id, to, subject, text, html, language, Message-ID, created,
# more headers, whether the person it is for was removed meanwhile).
_SENT_WITH = sa.select(
    col(OutboxMail.id),
    col(OutboxMail.to_address),
    col(OutboxMail.subject),
    col(OutboxMail.text_body),
    col(OutboxMail.html_body),
    col(OutboxMail.language),
    col(OutboxMail.message_id),
    col(OutboxMail.created_at),
    col(OutboxMail.headers),
    # For a person: whether they were removed meanwhile, or left the organization it tells
    # of (every organization, when it tells of several).
    sa.and_(
        col(OutboxMail.person_id).is_not(None),
        sa.or_(
            _person.c.removed_at.is_not(None),
            ~sa.exists().where(
                _membership.c.person_id == col(OutboxMail.person_id),
                _membership.c.status == "active",
                sa.or_(
                    col(OutboxMail.organization_id).is_(None),
                    _membership.c.organization_id == col(OutboxMail.organization_id),
                ),
            ),
        ),
    ),
).outerjoin(_person, _person.c.id == col(OutboxMail.person_id))


class NotSent(Exception):
    """A mail the server did not take: `permanent` when trying again cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:ERROR_LENGTH]
        self.permanent = permanent


class Transport(Protocol):
    timeout: float

    def send(self, message: EmailMessage) -> None:
        """Send it, or raise NotSent."""

    def close(self) -> None:
        """After a pass: let go of any connection."""


class LogTransport:
    """No mail server configured (development): each mail is written to the log, text part
    included, so that its link can be followed."""

    timeout = 0.0

    def send(self, message: EmailMessage) -> None:
        text = message.get_body(("plain",))
        log.info(
            "mail not sent (no ASSISTCAL_SMTP_URL), to %s: %s\n%s",
            message["To"],
            message["Subject"],
            text.get_content() if isinstance(text, EmailMessage) else "",
        )

    def close(self) -> None:
        pass


class SmtpTransport:
    """An SMTP server, one connection per pass, opened at the first mail: STARTTLS or SMTPS
    with a verified certificate (against `ca_file` when given), and a login when the URL has a
    user."""

    def __init__(self, server: SmtpServer, *, ca_file: str | None, timeout: float) -> None:
        self.server = server
        self.ca_file = ca_file
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        context = ssl.create_default_context(cafile=self.ca_file)
        smtp: smtplib.SMTP
        if server.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        try:
            if server.scheme == "smtp+starttls":
                smtp.starttls(context=context)
            if server.username is not None:
                smtp.login(server.username, server.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:  # the connection stays usable
            code, reply = next(iter(exc.recipients.values()))
            raise NotSent(_reply(code, reply), permanent=code >= 500) from None
        except smtplib.SMTPDataError as exc:  # the message itself, after DATA
            reason = _reply(exc.smtp_code, exc.smtp_error)
            raise NotSent(reason, permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPResponseException as exc:  # the sender, the login: configuration
            self.close()
            raise NotSent(_reply(exc.smtp_code, exc.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as exc:  # the connection, TLS
            self.close()
            raise NotSent(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return f"SMTP {code} " + " ".join(text.split())


def transport_for(settings: Settings) -> Transport:
    server = settings.smtp_server
    if server is None:
        return LogTransport()
    return SmtpTransport(
        server, ca_file=settings.smtp_ca_file, timeout=settings.smtp_timeout_seconds
    )


def message(mail: tuple[Any, ...], mail_from: str) -> EmailMessage:
    """The message of a claimed row (as _SENT_WITH selects it)."""
    _, to, subject, text, html, language, message_id, created_at, headers, _ = mail
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = to
    email["Subject"] = subject
    email["Date"] = formatdate(as_utc(created_at).timestamp(), usegmt=True)
    email["Message-ID"] = message_id
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    for name, value in (headers or {}).items():
        email[name] = value
    email.set_content(text)
    if html:
        email.add_alternative(html, subtype="html")
    email["Content-Language"] = language  # after the parts: making them clears Content-*
    return email


def _record(
    mail_id: uuid.UUID,
    error: NotSent | None,
    now: datetime,
    engine: Engine,
    *,
    cancel: bool = False,
) -> None:
    with open_session(engine, write=True) as session:
        mail = session.get(OutboxMail, mail_id)
        if mail is None or mail.status != "pending":  # deleted, or recorded meanwhile
            return
        if cancel:
            mail.status = "cancelled"
            log.info("mail %s to %s not sent: the person left", mail.id, mail.to_address)
            session.add(mail)
            session.commit()
            return
        mail.attempts += 1
        if error is None:
            mail.status, mail.sent_at, mail.last_error = "sent", now, None
        else:
            mail.last_error = error.reason
            retry = outbox.retry_at(
                mail.attempts, now, first=FIRST_RETRY, cap=LONGEST_WAIT, max_attempts=MAX_ATTEMPTS
            )
            if error.permanent or retry is None:
                mail.status = "failed"
                log.warning(
                    "mail %s to %s failed for good after %d attempts: %s",
                    mail.id,
                    mail.to_address,
                    mail.attempts,
                    error.reason,
                )
            else:
                mail.next_attempt_at = retry
                log.warning(
                    "mail %s to %s: attempt %d failed (%s); next attempt at %s",
                    mail.id,
                    mail.to_address,
                    mail.attempts,
                    error.reason,
                    retry.isoformat(timespec="seconds"),
                )
        session.add(mail)
        session.commit()


def send_due(
    engine: Engine,
    *,
    transport: Transport,
    mail_from: str,
    now: Callable[[], datetime] = utcnow,
    limit: int = 20,
) -> int:
    """Send what is due now, once; returns how many attempts were made."""
    made = 0
    lease = timedelta(seconds=limit * 2 * transport.timeout) + LEASE_MARGIN
    try:
        while True:
            claimed = outbox.claim(
                engine, _SENT_WITH, model=OutboxMail, now=now(), lease=lease, limit=limit
            )
            for mail in claimed:
                if mail[-1]:  # its person was removed, or left, since it was written
                    _record(mail[0], None, now(), engine, cancel=True)
                    continue
                try:
                    transport.send(message(mail, mail_from))
                    error = None
                except NotSent as exc:
                    error = exc
                _record(mail[0], error, now(), engine)  # at once: a later failure resends none
                made += 1
            if len(claimed) < limit:
                return made
    finally:
        transport.close()


class Worker(outbox.Worker):
    """The mail worker thread (app.db.outbox.Worker)."""

    topic = TOPIC

    def __init__(
        self, engine: Engine, *, transport: Transport, mail_from: str, poll_seconds: float
    ) -> None:
        super().__init__(poll_seconds=poll_seconds, stop_seconds=transport.timeout * 2 + 5, log=log)
        self.engine = engine
        self.transport = transport
        self.mail_from = mail_from

    def send_due(self, opened: Any) -> None:
        send_due(self.engine, transport=self.transport, mail_from=self.mail_from)
