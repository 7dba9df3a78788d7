"""The `assistcal` command, run with typer's CliRunner on a fresh SQLite file per test."""

import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from app.cli import app
from app.cli.common import prepare
from app.config import Settings
from app.db.engine import make_engine
from app.db.migrate import alembic_config
from app.demo.service import dataset
from app.main import create_app
from app.tables import metadata
from tests.helpers import auth

DEMO_MARK = "Illustrative example, not a real plan."
BOOTSTRAP_KEY = "a-chosen-bootstrap-key-1234567890"
KEY_CREATED = re.compile(r"^(\w+) key for (\S+) \(id ([0-9a-f-]{36})\):\n(\S+)\n\Z")
GENERATED_KEY = re.compile(r"\bac_[A-Za-z0-9_-]{20,}")


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite database file; no ASSISTCAL_* setting leaks in from outside."""
    monkeypatch.chdir(tmp_path)  # no .env file of the developer's
    for name in ("ASSISTCAL_BOOTSTRAP_ADMIN_KEY", "ASSISTCAL_ADMIN_ORG"):
        monkeypatch.delenv(name, raising=False)
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def cli(url: str) -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env={"ASSISTCAL_DATABASE_URL": url})

    return invoke


@pytest.fixture
def api(url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=url, key_touch_seconds=0))) as client:
        yield client


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.output


def me(client: TestClient, key: str) -> Any:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})


def create_key(cli: Any, org: str, role: str) -> tuple[str, str]:
    """`keys create`; returns (id, key)."""
    match = KEY_CREATED.match(ok(cli("keys", "create", "--org", org, "--role", role)))
    assert match is not None
    assert match.group(1) == role
    assert match.group(2) == org
    return match.group(3), match.group(4)


def count(url: str, table: sa.Table) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def all_items(client: TestClient, path: str, key: str) -> list[dict[str, Any]]:
    """Every item of a list endpoint, following next_cursor in small pages."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 10}
    for _ in range(100):
        page = client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        if body["next_cursor"] is None:
            return items
        params["cursor"] = body["next_cursor"]
    raise AssertionError("next_cursor never ran out")


# -- db ----------------------------------------------------------------------------------------


def test_db_upgrade_current_downgrade(cli: Any, url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None

    assert "empty" in ok(cli("db", "current"))
    assert head in ok(cli("db", "upgrade"))
    assert ok(cli("db", "current")).strip() == head

    ok(cli("db", "downgrade", "base"))
    assert ok(cli("db", "current")).strip() == "empty (no migrations applied)"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


# -- orgs --------------------------------------------------------------------------------------


def test_orgs_create_and_list(cli: Any) -> None:
    name = "United Nations Regional Centre for Peace, Disarmament and Development in LAC"
    output = ok(cli("orgs", "create", "UNLIREC", "--name", name, "--kind", "un_entity"))
    assert "UNLIREC" in output

    lines = [line for line in ok(cli("orgs", "list")).splitlines() if line.startswith("UNLIREC ")]
    assert len(lines) == 1
    assert lines[0].split()[1] == "un_entity"
    assert lines[0].endswith(name)


def test_orgs_create_bad_kind(cli: Any) -> None:
    result = cli("orgs", "create", "UNLIREC", "--name", "UNLIREC", "--kind", "spaceship")
    assert result.exit_code != 0
    assert "kind:" in result.output
    assert "UNLIREC" not in ok(cli("orgs", "list"))


def test_orgs_create_twice(cli: Any) -> None:
    ok(cli("orgs", "create", "UNLIREC", "--name", "UNLIREC", "--kind", "un_entity"))
    result = cli("orgs", "create", "UNLIREC", "--name", "Again", "--kind", "un_entity")
    assert result.exit_code != 0
    assert "exists" in result.output
    lines = [line for line in ok(cli("orgs", "list")).splitlines() if line.startswith("UNLIREC ")]
    assert len(lines) == 1
    assert "Again" not in lines[0]


# -- keys --------------------------------------------------------------------------------------


def test_keys_create_works_and_revoke_by_id_takes_effect_at_once(cli: Any, api: TestClient) -> None:
    ok(cli("orgs", "create", "UNLIREC", "--name", "UNLIREC", "--kind", "un_entity"))
    key_id, key = create_key(cli, "UNLIREC", "provider")

    response = me(api, key)
    assert response.status_code == 200, response.text
    assert response.json()["organization"] == "UNLIREC"
    assert response.json()["role"] == "provider"

    listed = ok(cli("keys", "list", "--org", "UNLIREC"))
    assert key_id in listed
    assert key not in listed, "the secret is never listed"
    assert "active" in listed

    assert "revoked" in ok(cli("keys", "revoke", key_id))
    assert me(api, key).status_code == 401
    assert "revoked" in ok(cli("keys", "list", "--org", "UNLIREC"))


def test_keys_revoke_by_prefix(cli: Any, api: TestClient) -> None:
    ok(cli("orgs", "create", "UNLIREC", "--name", "UNLIREC", "--kind", "un_entity"))
    key_id, key = create_key(cli, "UNLIREC", "provider")
    _, other = create_key(cli, "UNLIREC", "provider")
    assert me(api, key).status_code == 200

    line = next(
        line for line in ok(cli("keys", "list", "--org", "UNLIREC")).splitlines() if key_id in line
    )
    prefix = line.split()[1].rstrip("…")
    assert key.startswith(prefix)

    ok(cli("keys", "revoke", prefix))
    assert me(api, key).status_code == 401
    assert me(api, other).status_code == 200, "only the key with that prefix is revoked"


def test_keys_create_unknown_role(cli: Any, url: str) -> None:
    ok(cli("orgs", "create", "UNLIREC", "--name", "UNLIREC", "--kind", "un_entity"))
    result = cli("keys", "create", "--org", "UNLIREC", "--role", "superuser")
    assert result.exit_code != 0
    assert "role" in result.output
    assert count(url, metadata.tables["api_key"]) == 0


def test_keys_errors_name_what_is_missing(cli: Any) -> None:
    ok(cli("orgs", "create", "UNLIREC", "--name", "UNLIREC", "--kind", "un_entity"))
    result = cli("keys", "create", "--org", "NOPE", "--role", "provider")
    assert result.exit_code != 0
    assert "NOPE" in result.output

    result = cli("keys", "revoke", "ac_nothing")
    assert result.exit_code != 0
    assert "no key with prefix" in result.output

    result = cli("keys", "revoke", "00000000-0000-0000-0000-000000000001")
    assert result.exit_code != 0
    assert "no API key" in result.output


# -- prepare -----------------------------------------------------------------------------------


def test_prepare_prints_an_admin_key_once(
    url: str, api: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=url)
    prepare(settings)
    first = capsys.readouterr().out
    assert "shown only this once" in first
    keys = GENERATED_KEY.findall(first)
    assert len(keys) == 1, first

    prepare(settings)
    again = capsys.readouterr().out
    assert GENERATED_KEY.search(again) is None, again
    assert "shown only this once" not in again
    assert count(url, metadata.tables["api_key"]) == 1

    response = me(api, keys[0])
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert response.json()["organization"] == settings.admin_org


def test_prepare_with_bootstrap_admin_key(
    url: str, api: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=url, bootstrap_admin_key=BOOTSTRAP_KEY)
    prepare(settings)
    first = capsys.readouterr().out
    assert "ASSISTCAL_BOOTSTRAP_ADMIN_KEY" in first
    assert GENERATED_KEY.search(first) is None, first
    assert "shown only this once" not in first
    assert BOOTSTRAP_KEY not in first, "the chosen secret is not echoed"
    assert count(url, metadata.tables["api_key"]) == 1

    prepare(settings)
    again = capsys.readouterr().out
    assert GENERATED_KEY.search(again) is None, again
    assert "ASSISTCAL_BOOTSTRAP_ADMIN_KEY" not in again
    assert count(url, metadata.tables["api_key"]) == 1

    response = me(api, BOOTSTRAP_KEY)
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"


# -- demo --------------------------------------------------------------------------------------


def test_demo_load_once_then_nothing_more(cli: Any, url: str, api: TestClient) -> None:
    data = dataset()
    output = ok(cli("demo", "load"))
    assert data["notice"] in output
    assert (
        "organizations created: 18; activities created: 47, moved to new dates: 0, "
        "already at these dates: 0" in output
    )

    _, admin = create_key(cli, "ASSISTCAL", "admin")
    organizations = {o["acronym"] for o in all_items(api, "/api/v1/organizations", admin)}
    demo_orgs = {o["acronym"] for o in data["organizations"]}
    assert len(demo_orgs) == 18
    assert demo_orgs <= organizations
    assert organizations - demo_orgs == {"ASSISTCAL"}

    activities = all_items(api, "/api/v1/activities", admin)
    assert len(activities) == 47
    assert len({a["id"] for a in activities}) == 47
    assert {a["external_ref"] for a in activities} == {
        a["external_ref"] for a in data["activities"]
    }
    for activity in activities:
        assert (activity["description"] or "").startswith(DEMO_MARK), activity["external_ref"]

    again = ok(cli("demo", "load"))
    assert data["notice"] in again
    assert (
        "organizations created: 0; activities created: 0, moved to new dates: 0, "
        "already at these dates: 47" in again
    )
    assert "Nothing to do: the demo calendar already runs from" in again
    assert count(url, metadata.tables["activity"]) == 47
    assert count(url, metadata.tables["organization"]) == 19


def _in_2026(day: str) -> str:
    moved = date.fromisoformat(day)
    if (moved.month, moved.day) == (2, 29):
        return "2026-02-28"
    return moved.replace(year=2026).isoformat()


def demo_dates(url: str) -> dict[str, tuple[date, date]]:
    activity = metadata.tables["activity"]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(activity.c.external_ref, activity.c.start_date, activity.c.end_date)
            ).all()
    finally:
        engine.dispose()
    return {ref: (start, end) for ref, start, end in rows}


def finding_kinds(url: str) -> dict[str, int]:
    from app.findings.models import Finding

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counted = sa.select(Finding.kind, sa.func.count()).group_by(Finding.kind)
            return dict(conn.execute(counted.where(Finding.status == "open")).all())
    finally:
        engine.dispose()


def test_demo_load_dates_the_calendar_around_today(cli: Any, url: str) -> None:
    today = date.today()
    output = ok(cli("demo", "load"))
    got = demo_dates(url)
    written = {
        a["external_ref"]: (date.fromisoformat(a["start_date"]), a) for a in dataset()["activities"]
    }
    assert got.keys() == written.keys()
    shifts = {got[ref][0] - start for ref, (start, _) in written.items()}
    assert len(shifts) == 1  # one shift for all: same spacing, so the same findings
    assert next(iter(shifts)).days % 7 == 0  # whole weeks: same weekdays
    for ref, (_, raw) in written.items():
        start, end = got[ref]
        if raw["status"] == "completed":
            assert end < today, ref
        else:
            assert start > today, ref
    assert today - timedelta(days=70) <= min(s for s, _ in got.values()) < today
    assert today + timedelta(days=180) < max(e for _, e in got.values())
    first, last = min(s for s, _ in got.values()), max(e for _, e in got.values())
    assert f"The demo calendar runs from {first} to {last} (moved to dates around today)" in output
    assert finding_kinds(url) == {"duplicate": 4, "overlap": 5, "clash": 2}


def _in_2026(day: str) -> str:
    moved = date.fromisoformat(day)
    if (moved.month, moved.day) == (2, 29):
        return "2026-02-28"
    return moved.replace(year=2026).isoformat()


def test_demo_load_moves_the_dates_to_another_year(cli: Any, url: str) -> None:
    output = ok(cli("demo", "load", "--year", "2026"))
    assert "activities created: 47" in output
    assert "(moved to 2026)" in output

    expected = {
        a["external_ref"]: (_in_2026(a["start_date"]), _in_2026(a["end_date"]))
        for a in dataset()["activities"]
    }
    got = {ref: (s.isoformat(), e.isoformat()) for ref, (s, e) in demo_dates(url).items()}
    assert got == expected
    assert got["DEMO-UNLIREC-2024-03"] == ("2026-02-27", "2026-02-28")  # 2024-02-29 moved
    assert finding_kinds(url) == {"duplicate": 4, "overlap": 5, "clash": 2}
    assert "--year" in ok(cli("demo", "load", "--help"))
    refused = cli("demo", "load", "--year", "24")
    assert refused.exit_code == 2
    assert "--year" in refused.output


def test_demo_load_again_moves_the_activities_it_loaded(
    cli: Any, url: str, api: TestClient
) -> None:
    ok(cli("demo", "load"))
    _, admin = create_key(cli, "ASSISTCAL", "admin")
    before = {a["external_ref"]: a for a in all_items(api, "/api/v1/activities", admin)}
    withdrawn = before["DEMO-UNODA-2024-02"]
    gone = api.delete(f"/api/v1/activities/{withdrawn['id']}", headers=auth(admin))
    assert gone.status_code == 200, gone.text

    output = ok(cli("demo", "load", "--year", "2027"))
    assert (
        "organizations created: 0; activities created: 0, moved to new dates: 46, "
        "already at these dates: 0, withdrawn (left as they were): 1" in output
    )
    assert "Moved 46 demo activities to 2027: the demo calendar now runs from 2027-01-30 to" in (
        output
    )
    assert "created: 0" not in output.replace("organizations created: 0; activities created: 0", "")
    after = {a["external_ref"]: a for a in all_items(api, "/api/v1/activities", admin)}
    assert {ref: a["id"] for ref, a in after.items()} == {ref: a["id"] for ref, a in before.items()}
    assert count(url, metadata.tables["activity"]) == 47
    assert after["DEMO-UNODA-2024-02"]["start_date"] == withdrawn["start_date"]
    assert after["DEMO-UNLIREC-2024-01"]["start_date"] == "2027-04-16"
    history = api.get(
        f"/api/v1/activities/{after['DEMO-UNLIREC-2024-01']['id']}/history", headers=auth(admin)
    ).json()
    moves = [e for e in history["items"] if e["action"] == "activity.update"]
    assert [e["changes"]["start_date"][1] for e in moves] == ["2027-04-16"], history
    # The findings follow the activities to their new dates (the withdrawn one had none).
    assert finding_kinds(url) == {"duplicate": 4, "overlap": 5, "clash": 2}

    back = ok(cli("demo", "load"))
    assert "moved to new dates: 46" in back
    assert "Moved 46 demo activities to dates around today" in back
    assert min(s for s, _ in demo_dates(url).values()) < date.today()
    assert finding_kinds(url) == {"duplicate": 4, "overlap": 5, "clash": 2}


def test_demo_activities_are_marked_illustrative(cli: Any, url: str) -> None:
    output = ok(cli("demo", "load"))
    assert "Illustrative data" in output
    assert "not real plans" in output

    activity = metadata.tables["activity"]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            descriptions = conn.execute(sa.select(activity.c.description)).scalars().all()
    finally:
        engine.dispose()
    assert len(descriptions) == 47
    unmarked = [d for d in descriptions if not (d or "").startswith(DEMO_MARK)]
    assert unmarked == []


def test_serve_listens_on_localhost_8000_with_one_worker_by_default() -> None:
    import typer.main

    command = typer.main.get_command(app)
    serve = command.commands["serve"]  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in serve.params}
    assert defaults == {"host": "127.0.0.1", "port": 8000, "workers": 1}


def test_the_start_up_banner_says_where_mail_goes(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: None)
    runner = CliRunner()

    def serve(smtp_url: str) -> Result:
        env = {"ASSISTCAL_DATABASE_URL": url, "ASSISTCAL_SMTP_URL": smtp_url}
        return runner.invoke(app, ["serve"], env=env)

    through = ok(serve("smtp+starttls://ana%40example.org:hunter2@mail.example.org:587"))
    assert "mail: through smtp+starttls://mail.example.org:587\n" in through
    assert "hunter2" not in through
    assert "mail: not sent, written to the log (set ASSISTCAL_SMTP_URL)\n" in ok(serve(""))
    refused = serve("https://ana:hunter2@mail.example.org")
    assert refused.exit_code != 0
    assert "ASSISTCAL_SMTP_URL must start with smtp://" in str(refused.exception)
    assert "hunter2" not in str(refused.exception)


def test_findings_rescan_recomputes_and_keeps_decisions(cli: Any, url: str) -> None:
    from app.findings.models import Finding

    ok(cli("demo", "load"))
    engine = sa.create_engine(url)
    count = sa.select(Finding.kind, sa.func.count()).group_by(Finding.kind)
    with engine.begin() as conn:
        before = dict(conn.execute(count).all())
        assert before == {"duplicate": 4, "overlap": 5, "clash": 2}
        first = conn.execute(sa.select(Finding.id).order_by(Finding.id)).scalars().first()
        decided = sa.update(Finding).where(Finding.id == first)
        conn.execute(decided.values(status="dismissed", note="kept"))
        conn.execute(sa.delete(Finding).where(Finding.id != first))
    # A short time box: many small transactions, the same result.
    output = ok(cli("findings", "rescan", "--seconds", "0.05"))
    assert "rescanned 47 activities; findings now: 4 duplicate, 5 overlap, 2 clash" in output
    stamps = sa.select(Finding.id, Finding.updated_at)
    with engine.connect() as conn:
        after = dict(conn.execute(count).all())
        kept = conn.execute(
            sa.select(Finding.status, Finding.note).where(Finding.id == first)
        ).one()
        written = dict(conn.execute(stamps).all())
    assert after == before
    assert tuple(kept) == ("dismissed", "kept")
    # Nothing changed since: a second rescan writes nothing.
    ok(cli("findings", "rescan"))
    with engine.connect() as conn:
        assert dict(conn.execute(stamps).all()) == written
    engine.dispose()


def test_import_a_file_from_the_command_line(cli: Any, url: str, tmp_path: Path) -> None:
    from tests.imports.test_imports import SPANISH_CSV

    ok(cli("orgs", "create", "UNLIREC", "--name", "UNLIREC"))
    good = tmp_path / "plan.csv"
    good.write_text(SPANISH_CSV, encoding="utf-8")
    engine = sa.create_engine(url)
    count = sa.select(sa.func.count()).select_from(sa.table("activity"))

    dry = ok(cli("import", str(good), "--dry-run"))
    assert "would be created 2" in dry
    assert "País beneficiario" in dry  # the mapping used is shown
    with engine.connect() as conn:
        assert conn.execute(count).scalar() == 0

    assert "created 2" in ok(cli("import", str(good)))
    assert "unchanged 2" in ok(cli("import", str(good)))

    bad = tmp_path / "bad.csv"
    bad.write_text(SPANISH_CSV.replace("México", "Narnia").replace("Capacitación", "Otra"))
    failed = cli("import", str(bad))
    assert failed.exit_code == 1
    assert "Narnia" in failed.output
    assert "nothing was written" in failed.output
    with engine.connect() as conn:
        assert conn.execute(count).scalar() == 2
    engine.dispose()

    nameless = tmp_path / "nameless.csv"
    nameless.write_text("title,start,countries,themes,Notas\nX,2025-01-01,TT,reporting,n\n")
    refused = cli("import", str(nameless))
    assert refused.exit_code == 1
    assert "--provider" in refused.output
    named = ok(cli("import", str(nameless), "--provider", "UNLIREC"))
    assert "created 1" in named
    assert re.search(r"Notas\s+\(not imported", named)


def test_import_an_edited_file_without_references(cli: Any, url: str, tmp_path: Path) -> None:
    ok(cli("orgs", "create", "UNLIREC", "--name", "UNLIREC"))
    header = "title,start,end,countries,themes\n"
    first = tmp_path / "plan.csv"
    first.write_text(
        header + "National workshop on export control,2025-05-05,2025-05-07,TT,reporting\n"
    )
    assert "created 1" in ok(cli("import", str(first), "--provider", "UNLIREC"))
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        [stored] = conn.execute(sa.text("SELECT id FROM activity")).scalars().all()
    activity_id = str(uuid.UUID(str(stored)))
    engine.dispose()

    moved = tmp_path / "moved.csv"
    moved.write_text(
        header + "National workshop on export control,2025-05-12,2025-05-14,TT,reporting\n"
    )
    dry = ok(cli("import", str(moved), "--provider", "UNLIREC", "--dry-run"))
    assert "would be created 0, would be updated 1" in dry
    assert f"row 2: would be updated, {activity_id} (certain)" in dry
    assert "start_date: 2025-05-05 -> 2025-05-12" in dry

    unsure = tmp_path / "unsure.csv"
    unsure.write_text(
        header + "Regional national workshop on export control,2025-05-06,2025-05-07,TT,reporting\n"
    )
    asked = ok(cli("import", str(unsure), "--provider", "UNLIREC", "--dry-run"))
    assert "would be created 1" in asked
    assert "a new activity unless you choose" in asked
    assert f"perhaps {activity_id}" in asked
    assert "--choices" in asked
    chosen = ok(
        cli(
            "import", str(unsure), "--provider", "UNLIREC", "--choices", f'{{"2": "{activity_id}"}}'
        )
    )
    assert "created 0, updated 1" in chosen
    assert "you chose this activity" in chosen
    refused = cli("import", str(unsure), "--provider", "UNLIREC", "--choices", '{"2": "perhaps"}')
    assert refused.exit_code == 1
    assert "choices" in refused.output


def test_report_coverage_prints_the_matrix(cli: Any) -> None:
    ok(cli("demo", "load", "--year", "2024"))
    output = ok(cli("report", "coverage", "--region", "419", "--year", "2024"))
    assert "Latin America and the Caribbean, 2024-01-01 to 2024-12-31, by theme" in output
    lines = output.splitlines()
    header = next(line for line in lines if line.strip().startswith("nap"))
    assert header.split() == [
        "nap",
        "repo",
        "legi",
        "as",
        "pp",
        "bc",
        "ec",
        "pf",
        "outr",
        "coor",
        "total",
    ]
    rows = {line[:2]: line for line in lines if re.match(r"^[A-Z]{2} ", line)}
    assert len(rows) == 33
    assert rows["TT"].split()[-1] != "."  # the demo plans activities for Trinidad and Tobago
    assert rows["HN"].split()[-11:] == ["."] * 11  # and nothing for Honduras
    assert re.search(r"\d+ of 33 States with nothing planned", output)
    by_type = ok(
        cli(
            "report",
            "coverage",
            "--region",
            "029",
            "--from",
            "2024-01-01",
            "--to",
            "2024-06-30",
            "--by",
            "type",
        )
    )
    assert "2024-01-01 to 2024-06-30, by type" in by_type
    refused = cli("report", "coverage", "--region", "999")
    assert refused.exit_code == 2
    assert "unknown region" in refused.output


def test_backup_and_restore_a_sqlite_database(cli: Any, url: str, tmp_path: Path) -> None:
    ok(cli("demo", "load"))
    engine = sa.create_engine(url)
    count = sa.select(sa.func.count()).select_from(sa.table("activity"))
    with engine.connect() as conn:
        before = conn.execute(count).scalar()
    backup = tmp_path / "backup.db"
    made = ok(cli("db", "backup", str(backup)))
    assert "integrity ok" in made
    assert cli("db", "backup", str(backup)).exit_code == 1  # never overwrites
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM finding"))
        conn.execute(sa.text("DELETE FROM activity_country"))
        conn.execute(sa.text("DELETE FROM activity_region"))
        conn.execute(sa.text("DELETE FROM activity"))
    restored = ok(cli("db", "restore", str(backup), "--yes"))
    assert "restored" in restored
    with engine.connect() as conn:
        assert conn.execute(count).scalar() == before
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    refused = cli("db", "restore", str(broken), "--yes")
    assert refused.exit_code == 1
    assert "fails its integrity check" in refused.output


def test_backup_refuses_postgresql(tmp_path: Path) -> None:
    runner = CliRunner()
    refused = runner.invoke(
        app,
        ["db", "backup", str(tmp_path / "x.db")],
        env={"ASSISTCAL_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert refused.exit_code == 2
    assert "pg_dump" in refused.output
