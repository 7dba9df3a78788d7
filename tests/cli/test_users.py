"""`assistcal users`: invite, list and remove people from the shell, through the real command
(typer's CliRunner) on a fresh SQLite file per test, as tests/cli/test_cli.py does."""

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from app.cli import app
from app.config import Settings
from app.db.engine import make_engine, open_session
from app.main import create_app
from tests.helpers import LINK, auth, mails_to

ANA = "ana.perez@example.org"
Cli = Callable[..., Result]


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env file of the developer's
    for name in ("ASSISTCAL_BOOTSTRAP_ADMIN_KEY", "ASSISTCAL_ADMIN_ORG", "ASSISTCAL_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def cli(url: str) -> Cli:
    runner = CliRunner()

    def invoke(*args: str, **env: str) -> Result:
        return runner.invoke(app, list(args), env={"ASSISTCAL_DATABASE_URL": url, **env})

    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.output


def people_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM person")).scalar_one()
    finally:
        engine.dispose()


def links_to(url: str, address: str) -> list[str]:
    """The links of the mails to `address`, newest first."""
    engine = make_engine(url)
    try:
        with open_session(engine, write=False) as session:
            found = [LINK.search(m.text_body) for m in mails_to(session, address)]
            return [m.group(0) for m in found if m is not None]
    finally:
        engine.dispose()


def test_users_invite_list_and_remove(cli: Cli, url: str) -> None:
    ok(cli("orgs", "create", "UNLIREC", "--name", "UN Regional Centre"))
    ok(cli("orgs", "create", "OPCW", "--name", "OPCW"))

    invited = cli(
        "users",
        "invite",
        "Ana.Perez@Example.org",
        "--org",
        "unlirec",
        "--role",
        "coordinator",
        "--manages",
        "--name",
        "Ana Pérez",
        "--language",
        "es",
    )
    output = ok(invited)
    assert f"invited {ANA} to UNLIREC as coordinator, manages" in output
    assert "ASSISTCAL_PUBLIC_URL is not set" in output
    assert len(links_to(url, ANA)) == 1

    again = cli(
        "users",
        "invite",
        ANA,
        "--org",
        "OPCW",
        "--role",
        "provider",
        ASSISTCAL_PUBLIC_URL="https://calendar.example.org",
    )
    assert "ASSISTCAL_PUBLIC_URL is not set" not in ok(again)
    assert people_count(url) == 1  # one person, two memberships
    newest = links_to(url, ANA)[0]
    assert newest.startswith("/auth/link/")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            body = conn.execute(
                sa.text("SELECT text_body FROM mail_outbox ORDER BY created_at DESC")
            ).scalars()
            assert "https://calendar.example.org/auth/link/" in next(iter(body))
    finally:
        engine.dispose()

    listed = ok(cli("users", "list")).splitlines()
    assert len(listed) == 2
    assert all(ANA in line and "Ana Pérez" in line and "(invited)" in line for line in listed)
    assert "UNLIREC" in listed[1] or "UNLIREC" in listed[0]
    assert any("coordinator manages" in line for line in listed)
    only_opcw = ok(cli("users", "list", "--org", "opcw")).splitlines()
    assert len(only_opcw) == 1
    assert "OPCW" in only_opcw[0]
    assert "provider (invited)" in only_opcw[0]

    # The API sees the same members.
    # The key is made before the service starts: its mail worker's log lines must not land in
    # the command's output.
    admin = ok(cli("keys", "create", "--org", "ASSISTCAL", "--role", "admin")).split()[-1]
    with TestClient(create_app(Settings(database_url=url, key_touch_seconds=0))) as api:
        members = api.get("/api/v1/organizations/UNLIREC/members", headers=auth(admin)).json()
        assert [(m["email"], m["role"], m["manages"]) for m in members] == [
            (ANA, "coordinator", True)
        ]

    assert f"removed {ANA}" in ok(cli("users", "remove", "ANA.PEREZ@example.org"))
    assert "removed" in ok(cli("users", "list"))
    assert ok(cli("users", "list", "--org", "UNLIREC")) == ""
    gone = cli("users", "remove", ANA)
    assert gone.exit_code == 1
    assert "no person with the address" in gone.output

    # Invited again, the person is back (the same row, for histories).
    ok(cli("users", "invite", ANA, "--org", "OPCW", "--role", "provider"))
    assert people_count(url) == 1
    assert "provider (invited)" in ok(cli("users", "list", "--org", "OPCW"))


def test_users_invite_refuses_bad_input_naming_it(cli: Cli, url: str) -> None:
    ok(cli("orgs", "create", "UNLIREC", "--name", "UN Regional Centre"))
    bad_role = cli("users", "invite", ANA, "--org", "UNLIREC", "--role", "owner")
    assert bad_role.exit_code == 2, bad_role.output
    assert "error: role:" in bad_role.output
    bad_email = cli("users", "invite", "not-an-address", "--org", "UNLIREC", "--role", "provider")
    assert bad_email.exit_code == 2, bad_email.output
    assert "error: email:" in bad_email.output
    bad_language = cli(
        "users", "invite", ANA, "--org", "UNLIREC", "--role", "provider", "--language", "xx"
    )
    assert bad_language.exit_code == 1, bad_language.output
    assert "language" in bad_language.output
    unknown = cli("users", "invite", ANA, "--org", "NOSUCH", "--role", "provider")
    assert unknown.exit_code == 1, unknown.output
    assert "no organization with acronym 'NOSUCH'" in unknown.output
    missing = cli("users", "invite", ANA, "--role", "provider")
    assert missing.exit_code == 2
    assert "--org" in missing.output
    assert people_count(url) == 0
    assert links_to(url, ANA) == []
    assert cli("users", "remove", ANA).exit_code == 1
