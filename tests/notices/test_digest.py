"""The coordinators' digest, sent to a real SMTP server: what it says and links to, its
unsubscribe headers, the reader's language, who gets it and when, and once per period, even
with three processes sending at the same moment."""

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.activities.models import Activity
from app.auth.models import Person
from app.config import Settings
from app.core.timeutil import utcnow
from app.db.engine import open_session
from app.mail import sending
from app.mail.models import OutboxMail
from app.notices import choices, digest
from app.notices.models import DigestSent
from tests.conftest import KeyMaker
from tests.helpers import auth, make_member, submit
from tests.support.smtp import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
BASE = "https://calendar.example.org"
SENDER = "assistcal <calendar@example.org>"
MONDAY = datetime(2027, 3, 8, tzinfo=UTC)  # ISO week 10


@dataclass
class World:
    ana: uuid.UUID  # a coordinator, in English, weekly (never chose)
    bea: uuid.UUID  # a coordinator, in Spanish
    finding_id: str
    new_id: str
    changed_id: str
    request_id: str


@pytest.fixture
def world(engine: Engine, client: TestClient, make_key: KeyMaker) -> World:
    """Two weekly coordinators, one who turned the digest off, one daily, a provider; a
    duplicate pair of new activities for Trinidad and Tobago, an older activity changed
    today, a request from Peru waiting."""
    ana = make_member(engine, "OAS-CICTE", "ana@example.org", role="coordinator", name="Ana")
    bea = make_member(engine, "UNODA", "bea@example.org", role="coordinator", name="Beatriz")
    off = make_member(engine, "UNODA", "carla@example.org", role="coordinator", name="Carla")
    daily = make_member(engine, "UNODA", "dora@example.org", role="admin", name="Dora")
    make_member(engine, "UNLIREC", "pedro@example.org", role="provider", name="Pedro")
    make_member(engine, "UNODA", "ines@example.org", role="coordinator", join=False)  # invited
    with open_session(engine, write=True) as session:
        session.execute(
            sa.update(Person).where(sa.column("id") == bea.person_id).values(language="es")
        )
        choices.save(session, off.person_id, kinds_on=[], digest="off")
        choices.save(session, daily.person_id, kinds_on=[], digest="daily")
        session.commit()

    soon = date.today() + timedelta(days=20)
    dates = {"start_date": soon.isoformat(), "end_date": (soon + timedelta(days=2)).isoformat()}
    first = submit(client, make_key("UNLIREC"), title="Workshop on 1540 reporting", **dates)
    second = submit(client, make_key("VERTIC"), title="Workshop on 1540 reporting", **dates)
    assert first["findings"] or second["findings"]
    changed = submit(
        client, make_key("UNLIREC"), title="Border control training", countries=["JM"], **dates
    )
    coordinator = make_key("UNODA", "coordinator")
    request = client.post(
        f"{API}/assistance-requests",
        json={
            "country": "PE",
            "themes": ["export_control"],
            "help_sought": "legislative_assistance",
            "language": "es",
        },
        headers=auth(coordinator),
    )
    assert request.status_code == 201, request.text
    with open_session(engine, write=True) as session:
        # Recorded a month ago, changed today.
        session.execute(
            sa.update(Activity)
            .where(sa.column("id") == uuid.UUID(changed["id"]))
            .values(created_at=utcnow() - timedelta(days=30))
        )
        session.execute(sa.delete(OutboxMail))  # the invitations
        session.commit()
    finding = (second["findings"] or first["findings"])[0]
    return World(
        ana.person_id,
        bea.person_id,
        finding["id"],
        first["id"],
        changed["id"],
        request.json()["id"],
    )


def smtp_settings(db_url: str, server: SmtpServer, **extra: object) -> Settings:
    return Settings(
        database_url=db_url,
        smtp_url=server.url,
        mail_from=SENDER,
        public_url=BASE,
        webhook_worker=False,
        mail_worker=False,
        **extra,  # type: ignore[arg-type]
    )


def deliver(engine: Engine, settings: Settings) -> None:
    """Send every queued mail to the test's SMTP server."""
    while sending.send_due(
        engine,
        transport=sending.transport_for(settings),
        mail_from=settings.mail_from,
        now=lambda: utcnow() + timedelta(seconds=1),
    ):
        pass


def received(server: SmtpServer) -> dict[str, EmailMessage]:
    return {r.recipients[0]: r.message for r in server.received}


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n")


def test_the_digest_tells_what_waits_with_links_and_how_to_stop_it(
    engine: Engine,
    db_url: str,
    world: World,
    smtp_server: Callable[[str], SmtpServer],
) -> None:
    server = smtp_server("smtp")
    settings = smtp_settings(db_url, server)
    sent = digest.send_due(engine, settings, utcnow(), on_demand=True)
    deliver(engine, settings)

    # Coordinators and admins who get one: not the one who turned it off, not a provider,
    # not a coordinator who has not joined yet.
    assert sorted(sent.queued) == ["ana@example.org", "bea@example.org", "dora@example.org"]
    mails = received(server)
    assert sorted(mails) == sorted(sent.queued)

    message = mails["ana@example.org"]
    assert message["Subject"] == "Weekly digest: 1 open finding, 1 request waiting"
    text = text_of(message)
    assert text.startswith("Hello Ana,\n\nWhat waits for a coordinator on assistcal")
    assert f"\n{BASE}/review\n" in text
    assert "Open findings: 1\nBy kind: Duplicate 1\n" in text
    assert "By region: Latin America and the Caribbean 1\n" in text
    flat = " ".join(text.split())  # the lines as wrapped at 72 characters
    pair = flat.split("Open findings: 1 ")[1].split(" New activities: 2 ")[0]
    assert pair.startswith("By kind: Duplicate 1 By region: ")
    providers = sorted(re.findall(r"Workshop on 1540 reporting \((\w+)\)", pair))
    assert providers == ["UNLIREC", "VERTIC"]  # the pair, in the order of their ids
    assert pair.endswith(f" {BASE}/review#finding-{world.finding_id}")
    assert f"\n  {BASE}/review#finding-{world.finding_id}\n" in text  # under its item
    assert f"\n  {BASE}/activity/{world.new_id}\n" in text
    changed = flat.split("Changed activities: 1 ")[1].split(" Requests waiting")[0]
    assert changed.startswith("- Border control training (UNLIREC), ")
    assert changed.endswith(f", Jamaica {BASE}/activity/{world.changed_id}")
    assert (
        "Requests waiting: 1 - Peru: Legislative assistance \u2013 Received, waiting since "
    ) in flat
    assert f"\n  {BASE}/requests/{world.request_id}\n" in text
    # Trinidad and Tobago and Jamaica have activities planned soon; Barbados has none.
    gaps = flat.split("States with nothing planned from ")[1]
    assert (
        "- Latin America and the Caribbean, 31 of 33: Antigua and Barbuda, Argentina, "
        "Bahamas, Barbados, Belize, Bolivia (Plurinational State of) and 25 more "
        f"{BASE}/coverage?region=419&year="
    ) in gaps
    assert all(len(line) <= 72 for line in text.splitlines() if "http" not in line)

    html = html_of(message)
    assert '<html lang="en" dir="ltr">' in html
    assert f'href="{BASE}/review#finding-{world.finding_id}"' in html
    assert f'href="{BASE}/review?kind=duplicate"' in html
    assert "<style" not in html  # inline styles only
    assert "<img" not in html  # no remote images

    # One-click unsubscribe (RFC 8058), with the link the footer gives.
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{BASE}/unsubscribe/{world.ana}/digest/")
    assert f"To stop it, open: {link}" in flat
    assert f'href="{link}"' in html
    person_id, kinds, signature = link.removeprefix(f"{BASE}/unsubscribe/").split("/")
    with open_session(engine, write=False) as session:
        verified = choices.verified(session, uuid.UUID(person_id), kinds, signature)
    assert verified is not None
    assert verified[1] == ["digest"]

    assert mails["dora@example.org"]["Subject"].startswith("Daily digest: ")


def test_a_spanish_reader_gets_it_in_spanish(
    engine: Engine, db_url: str, world: World, smtp_server: Callable[[str], SmtpServer]
) -> None:
    server = smtp_server("smtp")
    settings = smtp_settings(db_url, server)
    digest.send_due(engine, settings, utcnow(), on_demand=True, to="bea@example.org")
    deliver(engine, settings)
    [message] = received(server).values()
    assert message["Subject"] == "Resumen semanal: 1 alerta abierta, 1 solicitud en espera"
    assert message["Content-Language"] == "es"
    text = text_of(message)
    assert text.startswith("Hola, Beatriz:\n\nLo que espera a un coordinador")
    assert "Por tipo: Duplicado 1\nPor región: América Latina y el Caribe 1\n" in text
    flat = " ".join(text.split())
    assert "- Perú: Asistencia legislativa \u2013 Recibida, en espera desde el" in flat
    assert "América Latina y el Caribe, 31 de 33: Antigua y Barbuda" in flat
    assert "Recibe este resumen semanal porque coordina en assistcal." in flat
    assert '<html lang="es" dir="ltr">' in html_of(message)
    months = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic")
    assert any(f" {month} " in text for month in months)  # dates the Spanish way


def test_due_from_the_hour_daily_and_on_mondays_weekly() -> None:
    assert digest.period("daily", MONDAY) == "2027-03-08"
    assert digest.period("weekly", MONDAY + timedelta(days=6)) == "2027-W10"
    assert digest.period("weekly", datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
    six = MONDAY.replace(hour=6)
    assert not digest.is_due("daily", six - timedelta(minutes=1), 6)
    assert digest.is_due("daily", six, 6)
    assert digest.is_due("weekly", six, 6)
    assert digest.is_due("weekly", six.replace(hour=23), 6)  # a process started later
    assert not digest.is_due("weekly", six + timedelta(days=1), 6)  # Tuesday
    assert digest.is_due("daily", six + timedelta(days=1), 6)
    # New and changed since the start of the period before.
    assert digest.since("daily", six) == MONDAY - timedelta(days=1)
    assert digest.since("weekly", six + timedelta(days=3)) == MONDAY - timedelta(days=7)


def test_sent_at_the_hour_not_before_and_once_a_period(
    engine: Engine, db_url: str, world: World, smtp_server: Callable[[str], SmtpServer]
) -> None:
    server = smtp_server("smtp")
    settings = smtp_settings(db_url, server, digest_hour=6)
    monday = MONDAY.replace(hour=5, minute=59)
    assert digest.send_due(engine, settings, monday).queued == []
    at_six = digest.send_due(engine, settings, monday + timedelta(minutes=1))
    assert sorted(at_six.queued) == ["ana@example.org", "bea@example.org", "dora@example.org"]
    again = digest.send_due(engine, settings, monday + timedelta(hours=3))
    assert (again.queued, again.already) == ([], 3)
    # Tuesday: the daily one only, once.
    tuesday = digest.send_due(engine, settings, monday + timedelta(days=1, hours=1))
    assert tuesday.queued == ["dora@example.org"]
    deliver(engine, settings)
    assert sorted(r.recipients[0] for r in server.received) == [
        "ana@example.org",
        "bea@example.org",
        "dora@example.org",
        "dora@example.org",
    ]
    with open_session(engine, write=False) as session:
        periods = sorted(session.execute(sa.select(DigestSent.period)).scalars())
    assert periods == ["2027-03-08", "2027-03-09", "2027-W10", "2027-W10"]


def test_three_processes_at_once_send_each_digest_once(
    engine: Engine, db_url: str, world: World, smtp_server: Callable[[str], SmtpServer]
) -> None:
    server = smtp_server("smtp")
    settings = smtp_settings(db_url, server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTCAL_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "ASSISTCAL_DATABASE_URL": db_url,
        "ASSISTCAL_PUBLIC_URL": BASE,
        "ASSISTCAL_DETECTION_MODEL": "false",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "app", "notify", "digest"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    queued = sum(out.count("queued: ") for out, _ in outputs)
    assert queued == 3, [out for out, _ in outputs]
    deliver(engine, settings)
    assert sorted(r.recipients[0] for r in server.received) == [
        "ana@example.org",
        "bea@example.org",
        "dora@example.org",
    ]
    # Each process says how many it queued and how many had had theirs: three in all.
    for out, _ in outputs:
        summary = re.search(r"(\d+) digest\(s\) queued, (\d+) already sent", out)
        assert summary is not None, out
        assert int(summary[1]) + int(summary[2]) == 3


def test_the_running_service_sends_the_digests_due(
    engine: Engine, db_url: str, world: World, smtp_server: Callable[[str], SmtpServer]
) -> None:
    from app.main import create_app

    server = smtp_server("smtp")
    live = smtp_settings(db_url, server, digest_hour=0).model_copy(
        update={"mail_worker": True, "mail_poll_seconds": 0.2}
    )
    with TestClient(create_app(live)):
        deadline = utcnow() + timedelta(seconds=20)
        while "dora@example.org" not in received(server) and utcnow() < deadline:
            time.sleep(0.1)
    assert received(server)["dora@example.org"]["Subject"].startswith("Daily digest: ")
