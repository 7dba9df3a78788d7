"""E-mail: queued in the transaction of the change (a rolled-back change sends nothing), sent
to a real SMTP server (plain, STARTTLS with a login, SMTPS) as a text and HTML message with its
Message-ID, Date and Auto-Submitted, retried after a temporary refusal, failed at once after a
permanent one; without a server, written to the log."""

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from app.assistance.models import AssistanceRequest
from app.config import Settings
from app.core import i18n
from app.core.timeutil import utcnow
from app.db.engine import open_session
from app.mail import sending
from app.mail.compose import compose
from app.mail.models import OutboxMail
from app.mail.service import queue
from app.main import create_app
from app.notices import digest
from tests.support.smtp import PASSWORD, USER, SmtpServer

LINK = "https://calendar.example.org/invitations/4Yq-kz_9?next=/calendar&x=1"
INVITATION = {
    "name": "Ana <Ruiz>",
    "inviter": "Ana Pérez (OAS-CICTE)",
    "organization": "UNLIREC",
    "organization_name": "UN Regional Centre for Peace, Disarmament and Development",
    "role": "provider",
    "link": LINK,
    "days": 7,
}
SENDER = "assistcal <calendar@example.org>"
# A weekly digest with something in every part but its lists of findings and activities
# (tests/notices/test_digest.py sends a full one).
DIGEST = digest.context(
    digest.Content(
        frequency="weekly",
        since=date(2027, 3, 1),
        findings_total=3,
        findings_by_kind={"duplicate": 2, "clash": 1},
        findings_by_region=[("419", 3)],
        requests=[
            AssistanceRequest(
                id=uuid.UUID(int=1),
                country="TT",
                themes=["legislation"],
                help_sought="workshop",
                language="en",
                recorded_by="UNODA",
                created_at=datetime(2027, 3, 2, tzinfo=UTC),
            )
        ],
        requests_total=6,
        gap_from=date(2027, 3, 8),
        gap_to=date(2027, 6, 6),
        gaps=[digest.Gap("419", ["AG", "AR", "BB", "BS", "BZ", "BO", "BR", "CL"], 33)],
        gaps_total=8,
    ),
    digest.Reader(uuid.UUID(int=2), "ana@example.org", "Ana", "en", had=False),
    base="https://calendar.example.org",
    unsubscribe="https://calendar.example.org/unsubscribe/x/digest/y",
)


def queue_one(engine: Engine, language: str = "en", **context: object) -> OutboxMail:
    with open_session(engine, write=True) as session:
        mail = queue(
            session,
            to="ana@example.net",
            template="invitation",
            language=language,
            **(INVITATION | context),
        )
        session.commit()
    return mail


def send(engine: Engine, settings: Settings, at: datetime) -> int:
    return sending.send_due(
        engine,
        transport=sending.transport_for(settings),
        mail_from=settings.mail_from,
        now=lambda: at,
    )


def stored(engine: Engine) -> list[OutboxMail]:
    with open_session(engine, write=False) as session:
        return list(session.exec(sa.select(OutboxMail)).scalars())  # type: ignore[call-overload]


def smtp_settings(db_url: str, url: str, **extra: object) -> Settings:
    return Settings(
        database_url=db_url,
        smtp_url=url,
        mail_from=SENDER,
        webhook_worker=False,
        mail_worker=False,
        **extra,  # type: ignore[arg-type]
    )


def test_the_invitation_says_why_and_what_to_do_in_text_and_accessible_html() -> None:
    mail = compose("invitation", "en", **INVITATION)
    assert mail.subject == "Invitation to UNLIREC on assistcal"
    assert mail.text.startswith("Hello Ana <Ruiz>,\n\nAna Pérez (OAS-CICTE) invites you")
    assert f"\n{LINK}\n" in mail.text  # on a line of its own, never broken
    assert "within 7 days" in mail.text
    assert "as provider" in mail.text
    assert "If you did not expect it, ignore it" in mail.text
    assert all(len(line) <= 72 for line in mail.text.splitlines() if line != LINK)
    assert '<html lang="en" dir="ltr">' in mail.html
    assert f"<title>{mail.subject}</title>" in mail.html
    assert "Hello Ana &lt;Ruiz&gt;," in mail.html  # escaped
    escaped = LINK.replace("&", "&amp;")
    assert f'<a href="{escaped}" style="color:#0b5394">{escaped}</a>' in mail.html  # in full

    sign_in = compose("sign_in", "en", link=LINK, minutes=15)
    assert sign_in.subject == "Your sign-in link for assistcal"
    assert "within 15 minutes" in sign_in.text
    assert "If it was not you, ignore it" in sign_in.text


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("invitation", INVITATION),
        ("invitation", INVITATION | {"name": None}),
        ("sign_in", {"link": LINK, "minutes": 15}),
        ("test", {}),
        ("digest", DIGEST),
        ("digest", DIGEST | {"digest": replace(DIGEST["digest"], frequency="daily")}),
    ],
)
@pytest.mark.parametrize("language", [code for code in i18n.LANGUAGES if code != "en"])
def test_every_line_of_every_mail_is_in_each_language(
    template: str, context: dict[str, object], language: str
) -> None:
    english = compose(template, "en", **context)
    translated = compose(template, language, **context)
    assert translated.subject != english.subject
    assert f'<html lang="{language}" dir="{i18n.direction(language)}">' in translated.html
    words = [
        line
        for line in english.text.splitlines()
        if line.strip() not in ("", "--", LINK) and not line.strip().startswith("https://")
    ]
    left = [line for line in words if line in translated.text.splitlines()]
    assert left == [], "not translated"
    with pytest.raises(ValueError, match="no e-mails in 'de'"):
        compose(template, "de", **context)


def test_delivered_as_a_text_and_html_message_with_its_headers(
    engine: Engine, db_url: str, clean_db: None, smtp_server: Callable[[str], SmtpServer]
) -> None:
    server = smtp_server("smtp")
    settings = smtp_settings(db_url, server.url)
    mail = queue_one(engine, "es")
    at = utcnow() + timedelta(seconds=1)
    assert send(engine, settings, at) == 1
    assert send(engine, settings, at + timedelta(hours=1)) == 0  # sent once

    [received] = server.received
    assert received.sender == "calendar@example.org"
    assert received.recipients == ["ana@example.net"]
    message = received.message
    assert message["From"] == SENDER
    assert message["To"] == "ana@example.net"
    assert message["Subject"] == "Invitación a UNLIREC en assistcal"
    assert message["Message-ID"] == mail.message_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "es"
    assert abs(parsedate_to_datetime(message["Date"]) - mail.created_at) < timedelta(seconds=1)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert "le invita a unirse a UNLIREC" in text.get_content()
    assert LINK in text.get_content()
    assert html.get_content_type() == "text/html"
    assert '<html lang="es" dir="ltr">' in html.get_content()

    [row] = stored(engine)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None


@pytest.mark.parametrize("mode", ["smtp+starttls", "smtps"])
def test_encrypted_and_logged_in_with_a_verified_certificate(
    mode: str,
    engine: Engine,
    db_url: str,
    clean_db: None,
    ca_file: str,
    smtp_server: Callable[[str], SmtpServer],
) -> None:
    server = smtp_server(mode)
    queue_one(engine)
    at = utcnow() + timedelta(seconds=1)

    # A certificate of a CA the system does not know is refused, and tried again later.
    assert send(engine, smtp_settings(db_url, server.url), at) == 1
    [row] = stored(engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert PASSWORD not in row.last_error
    assert server.received == []

    trusted = smtp_settings(db_url, server.url, smtp_ca_file=ca_file)
    assert send(engine, trusted, at + timedelta(minutes=2)) == 1
    assert server.logins == [(USER, PASSWORD, True)]  # URL-decoded, over TLS
    assert len(server.received) == 1
    assert stored(engine)[0].status == "sent"


def test_a_temporary_refusal_is_retried_later_and_then_delivered(
    engine: Engine, db_url: str, clean_db: None, smtp_server: Callable[[str], SmtpServer]
) -> None:
    server = smtp_server("smtp")
    server.refusals = ["451 4.3.0 Try again later"]
    settings = smtp_settings(db_url, server.url)
    queue_one(engine)
    start = utcnow() + timedelta(seconds=1)
    assert send(engine, settings, start) == 1
    [row] = stored(engine)
    assert (row.status, row.attempts, row.last_error) == (
        "pending",
        1,
        "SMTP 451 4.3.0 Try again later",
    )
    assert send(engine, settings, start + timedelta(seconds=30)) == 0  # not due before 1 min
    assert send(engine, settings, start + timedelta(seconds=61)) == 1
    assert len(server.received) == 1
    [row] = stored(engine)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_permanent_refusal_fails_at_once(
    engine: Engine, db_url: str, clean_db: None, smtp_server: Callable[[str], SmtpServer]
) -> None:
    server = smtp_server("smtp")
    server.refusals = ["550 5.1.1 No such user"]
    settings = smtp_settings(db_url, server.url)
    queue_one(engine)
    start = utcnow() + timedelta(seconds=1)
    assert send(engine, settings, start) == 1
    assert send(engine, settings, start + timedelta(days=1)) == 0
    [row] = stored(engine)
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        1,
        "SMTP 550 5.1.1 No such user",
    )
    assert server.received == []


def test_an_unreachable_server_is_tried_with_growing_delays_then_given_up(
    engine: Engine, db_url: str, clean_db: None
) -> None:
    from tests.support.smtp import free_port

    settings = smtp_settings(db_url, f"smtp://127.0.0.1:{free_port()}", smtp_timeout_seconds=2)
    queue_one(engine)
    at = utcnow() + timedelta(seconds=1)
    waits = []
    for _ in range(sending.MAX_ATTEMPTS):
        assert send(engine, settings, at) == 1
        [row] = stored(engine)
        if row.status == "pending":
            waits.append(row.next_attempt_at.replace(tzinfo=None) - at.replace(tzinfo=None))
            assert send(engine, settings, at + waits[-1] - timedelta(seconds=1)) == 0
            at += waits[-1]
    minutes = [round(wait.total_seconds() / 60) for wait in waits]
    assert minutes == [1, 4, 16, 64, 256, 360, 360]
    [row] = stored(engine)
    assert (row.status, row.attempts) == ("failed", sending.MAX_ATTEMPTS)
    assert row.last_error is not None
    assert "ConnectionRefusedError" in row.last_error


def test_a_rolled_back_change_queues_and_sends_nothing(
    engine: Engine, db_url: str, clean_db: None, smtp_server: Callable[[str], SmtpServer]
) -> None:
    server = smtp_server("smtp")
    with open_session(engine, write=True) as session:
        queue(
            session, to="ana@example.net", template="sign_in", language="en", link=LINK, minutes=15
        )
        session.flush()
        session.rollback()
    assert stored(engine) == []
    assert send(engine, smtp_settings(db_url, server.url), utcnow() + timedelta(hours=1)) == 0
    assert server.received == []


def test_queue_refuses_what_is_not_one_address(session: object) -> None:
    for address in ("nobody", "a@example.org, b@example.org", "a@example.org\nBcc: c@x.org"):
        with pytest.raises(ValueError, match="not an e-mail address"):
            queue(session, to=address, template="test", language="en")  # type: ignore[arg-type]


def test_the_running_worker_sends_as_soon_as_the_change_commits(
    engine: Engine, db_url: str, clean_db: None, smtp_server: Callable[[str], SmtpServer]
) -> None:
    server = smtp_server("smtp")
    live = smtp_settings(db_url, server.url).model_copy(
        update={"mail_worker": True, "mail_poll_seconds": 60}
    )
    with TestClient(create_app(live)):
        time.sleep(0.2)  # the worker's first pass, which finds nothing, is over
        queue_one(engine)
        deadline = time.monotonic() + 5
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.05)
    [received] = server.received
    assert received.message["Subject"] == "Invitation to UNLIREC on assistcal"


def test_without_a_server_mails_are_written_to_the_log(
    engine: Engine, db_url: str, clean_db: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=db_url, smtp_url=None)
    assert isinstance(sending.transport_for(settings), sending.LogTransport)
    with open_session(engine, write=True) as session:
        queue(
            session, to="ana@example.net", template="sign_in", language="en", link=LINK, minutes=15
        )
        session.commit()
    with caplog.at_level(logging.INFO, logger="assistcal.mail"):
        assert send(engine, settings, utcnow() + timedelta(seconds=1)) == 1
    [record] = [r for r in caplog.records if r.name == "assistcal.mail"]
    logged = record.getMessage()
    assert "to ana@example.net: Your sign-in link for assistcal" in logged
    assert f"\n{LINK}\n" in logged
    assert stored(engine)[0].status == "sent"


def test_settings_read_the_smtp_url_and_refuse_a_bad_one_naming_the_setting() -> None:
    server = Settings(smtp_url="smtps://ana%40example.org:p%3Aw@mail.example.org").smtp_server
    assert server is not None
    assert (server.scheme, server.host, server.port) == ("smtps", "mail.example.org", 465)
    assert (server.username, server.password) == ("ana@example.org", "p:w")
    assert str(server) == "smtps://mail.example.org:465"
    assert Settings(smtp_url="smtp+starttls://mail.example.org").smtp_server is not None
    assert Settings(smtp_url="").smtp_server is None

    for url, reason in [
        ("https://user:hunter2@mail.example.org", "must start with smtp://"),
        ("mail.example.org:25", "must start with smtp://"),
        ("smtp://user:hunter2@mail.example.org", "use smtp\\+starttls:// or smtps://"),
        ("smtps://mail.example.org:port", "port that is not a number"),
    ]:
        with pytest.raises(ValidationError, match=f"ASSISTCAL_SMTP_URL.*{reason}") as refused:
            Settings(smtp_url=url)
        assert "hunter2" not in str(refused.value)
    with pytest.raises(ValidationError, match="ASSISTCAL_MAIL_FROM"):
        Settings(mail_from="assistcal")


def test_mail_test_sends_a_message_and_says_so(
    db_url: str, clean_db: None, ca_file: str, smtp_server: Callable[[str], SmtpServer]
) -> None:
    from typer.testing import CliRunner

    from app.cli import app

    server = smtp_server("smtp+starttls")
    env = {
        "ASSISTCAL_DATABASE_URL": db_url,
        "ASSISTCAL_SMTP_URL": server.url,
        "ASSISTCAL_SMTP_CA_FILE": ca_file,
    }
    result = CliRunner().invoke(app, ["mail", "test", "ops@example.net"], env=env)
    assert result.exit_code == 0, result.output
    assert (
        f"mail: through smtp+starttls://127.0.0.1:{server.url.rsplit(':', 1)[1]}" in result.output
    )
    [received] = server.received
    assert received.recipients == ["ops@example.net"]
    assert f"sent to ops@example.net (Message-ID {received.message['Message-ID']})" in result.output

    server.refusals = ["550 5.1.1 No such user"]
    refused = CliRunner().invoke(app, ["mail", "test", "nobody@example.net"], env=env)
    assert refused.exit_code == 1
    assert "failed: SMTP 550 5.1.1 No such user" in refused.output


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_labels_and_lists_are_punctuated_each_languages_way(language: str) -> None:
    """A label's colon (French: a no-break space before it; Chinese: full width) and the
    separator of a list (Chinese "、", Arabic " و") are the reader's language's."""
    mail = compose("digest", language, **DIGEST)
    _ = i18n.translator(language)
    total = DIGEST["digest"].findings_total
    assert f"{_('Open findings')}{i18n.colon(language, ' ')}{total}" in mail.text
    kinds = [f"{i18n.label(k, language)} {n}" for k, n in DIGEST["digest"].findings_by_kind.items()]
    assert len(kinds) > 1
    assert i18n.listed(kinds, language) in mail.text
    if language == "zh":
        assert "、" in i18n.listed(kinds, language)
        assert f"{_('Open findings')}\uff1a{total}" in mail.text
    if language == "fr":
        assert f"{_('Open findings')}\u00a0: {total}" in mail.text
