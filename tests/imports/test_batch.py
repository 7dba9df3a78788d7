"""Imports write a file's rows together: the findings are those of one-at-a-time submission,
bad rows are named by their line, and a 50,000-row file imports cleanly."""

import random
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.activities import bulk, records
from app.activities.models import Activity, ActivityCreate
from app.core import vocab
from app.core.principal import Principal
from app.db.engine import open_session
from app.errors import Conflict
from app.findings import detection as findings
from app.findings.models import Finding
from app.imports import readers
from app.imports import service as imports
from app.organizations import service as organizations
from app.organizations.models import Organization
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth, table_counts
from tests.imports.test_imports import API, listed, upload

# Near-duplicates (in two languages), overlaps and clashes, between rows of the file and with
# an activity stored before.
ROWS = [
    ("National workshop on export control", "2025-03-10", "2025-03-12", "TT", "export_control"),
    ("Taller nacional sobre control de exportaciones", "2025-03-10", "2025-03-12", "TT", ""),
    ("Border control training", "2025-03-11", "2025-03-11", "TT", "border_control"),
    ("Legislative assistance visit", "2025-03-12", "2025-03-14", "TT;JM", "border_control"),
    ("National workshop on export control", "2025-03-24", "2025-03-26", "JM", "export_control"),
    ("Regional seminar on reporting", "2025-03-09", "2025-03-13", "JM", "reporting"),
    ("Outreach to industry", "2025-05-01", "2025-05-01", "BB", "outreach"),
]


def _csv(rows: list[tuple[str, ...]]) -> bytes:
    lines = ["title,start,end,countries,themes"]
    lines += [",".join(row[:4]) + "," + (row[4] or "export_control") for row in rows]
    return ("\n".join(lines) + "\n").encode()


def _pairs(engine: Engine) -> set[tuple[str, str, str]]:
    """The stored findings as (kind, title, title), independent of ids."""
    with engine.connect() as conn:
        titles = dict(conn.execute(sa.select(Activity.id, Activity.title)).all())  # type: ignore[call-overload]
        rows = conn.execute(sa.select(Finding.kind, Finding.first_id, Finding.second_id))  # type: ignore[call-overload]
        return {
            (kind, *sorted((titles[first] + str(first), titles[second] + str(second))))
            for kind, first, second in rows
        }


def test_findings_are_those_of_one_at_a_time_submission(
    client: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    key = make_key("UNLIREC", "provider")
    before = activity_body(title="Taller de control de exportaciones", external_ref="old")
    assert client.post(f"{API}/activities", json=before, headers=auth(key)).status_code == 201
    answer = upload(client, key, _csv(ROWS))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["created"] == len(ROWS)
    batch = _pairs(engine)
    kinds = {kind for kind, _, _ in batch}
    assert kinds == {"duplicate", "overlap", "clash"}, batch
    # The report lists each possible duplicate once, under the id it is stored with.
    stored = client.get(f"{API}/findings?kind=duplicate", headers=auth(key)).json()["items"]
    assert sorted(f["id"] for f in report["findings"]) == sorted(f["id"] for f in stored)
    assert len(stored) >= 2

    # The same activities detected again one at a time, in the file's order, from nothing.
    with open_session(engine, write=True) as session:
        session.execute(sa.delete(Finding))
        order = session.scalars(sa.select(Activity.id).order_by(Activity.created_at)).all()  # type: ignore[call-overload]
        findings.rescan(session, order)
        session.commit()
    assert _pairs(engine) == batch


def _provider(session: Session, acronym: str) -> tuple[Organization, Principal]:
    organization = organizations.find(session, acronym)
    assert organization is not None
    assert organization.id is not None
    return organization, Principal(uuid.uuid4(), "test", organization.id, acronym, "provider")


def test_a_cancelled_row_raises_no_finding_and_progress_adds_up(
    make_key: KeyMaker, engine: Engine
) -> None:
    make_key("UNLIREC", "provider")
    with open_session(engine, write=True) as session:
        _, actor = _provider(session, "UNLIREC")
        _cancelled_and_progress(session, actor)


def _cancelled_and_progress(session: Session, actor: Principal) -> None:
    data = (
        b"title,start,countries,themes,status,ref\n"
        b"Workshop,2025-03-10,TT,export_control,cancelled,A\n"
        b"Workshop,2025-03-10,TT,export_control,planned,B\n"
        b"Seminar,2025-03-10,Atlantis,export_control,planned,C\n"
    )
    steps: list[int] = []
    options = imports.Options(skip_invalid=True)
    table = readers.read("a.csv", data)
    report = imports.run(session, table, actor=actor, options=options, progress=steps.append)
    assert (report.created, len(report.errors), report.findings) == (2, 1, [])
    assert sum(steps) == len(table.rows)
    steps.clear()
    edited = data.replace(b"planned,B", b"confirmed,B")
    again = imports.run(
        session, readers.read("a.csv", edited), actor=actor, options=options, progress=steps.append
    )
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert sum(steps) == len(table.rows)


def test_rows_past_the_header_and_line_numbers_after_quoted_line_breaks(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    data = (
        b'title,start,countries,themes\n"Two\nlines",2025-03-10,TT,reporting\n'
        b"Seminar, regional,2025-04-10,TT,reporting\n"
    )
    answer = upload(client, key, data)
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert (error["row"], error["column"], error["value"]) == (4, "column 5", "reporting")
    assert "quote values" in error["message"]
    assert listed(client, key) == []


def test_a_withdrawn_activity_is_not_brought_back(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    data = b"title,start,countries,themes,ref\nWorkshop,2025-03-10,TT,reporting,W1\n"
    assert upload(client, key, data).json()["created"] == 1
    [activity] = listed(client, key)
    gone = client.delete(f"{API}/activities/{activity['id']}", headers=auth(key))
    assert gone.status_code in (200, 204), gone.text
    assert upload(client, key, data).json()["unchanged"] == 1
    edited = upload(client, key, data.replace(b",TT,", b",JM,"))
    assert edited.status_code == 422
    assert "withdrawn" in edited.json()["errors"][0]["message"]


def test_an_organization_only_failed_rows_name_is_not_created(
    client: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    data = b"title,provider,start,countries,themes\nA,NEWORG,2025-01-01,Atlantis,reporting\n"
    answer = upload(client, coordinator, data, create_orgs="true", skip_invalid="true")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["created"], len(answer.json()["errors"])) == (0, 1)
    assert client.get(f"{API}/organizations/NEWORG", headers=auth(coordinator)).status_code == 404


def test_a_reference_taken_meanwhile_is_a_conflict_and_writes_nothing(
    make_key: KeyMaker, engine: Engine
) -> None:
    make_key("UNLIREC", "provider")
    record = records.prepared(ActivityCreate.model_validate(activity_body(external_ref="R")))
    with open_session(engine, write=True) as session:
        unlirec, actor = _provider(session, "UNLIREC")
        bulk.create_many(session, [(unlirec, record)], actor=actor)
        session.commit()
    counts = table_counts(engine)
    other = {**record, "external_ref": "S"}
    with open_session(engine, write=True) as session, pytest.raises(Conflict):
        bulk.create_many(session, [(unlirec, other), (unlirec, record)], actor=actor)
    assert table_counts(engine) == counts


def _big_csv(rows: int) -> bytes:
    """Distinct activities over the world's States and ten years: a large, ordinary file."""
    rng = random.Random(50_000)
    states = sorted(vocab.geography().countries)
    lines = ["title,start,end,countries,themes,type"]
    for n in range(rows):
        start = date(2025, 1, 1) + timedelta(days=rng.randrange(3650))
        end = start + timedelta(days=rng.choice([0, 1, 2]))
        theme = rng.choice(vocab.THEMES)
        lines.append(f"Activity {n} on {theme},{start},{end},{rng.choice(states)},{theme},workshop")
    return ("\n".join(lines) + "\n").encode()


def test_a_50000_row_file_imports_cleanly(
    client: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    key = make_key("UNLIREC", "provider")
    data = _big_csv(50_000)
    answer = upload(client, key, data)
    assert answer.status_code == 200, answer.text[:500]
    report: dict[str, Any] = answer.json()
    assert (report["created"], report["errors"]) == (50_000, [])
    assert table_counts(engine)["activity"] == 50_000
    bad = data + b"Broken,2025-02-30,,TT,reporting,workshop\n"
    refused = upload(client, key, bad)
    assert refused.status_code == 422
    assert refused.json()["unchanged"] == 50_000
    assert [e["row"] for e in refused.json()["errors"]] == [50_002]
