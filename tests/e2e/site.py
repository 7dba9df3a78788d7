"""Every page of the site, for the browser tests that visit them all (tests/e2e/test_offline.py,
tests/e2e/test_accessibility.py): the paths, listed from the app's routes so that a new page is
covered without touching the tests, and a served site with the demo calendar and people."""

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from fastapi.routing import iter_route_contexts
from sqlmodel import select

from app.config import Settings
from app.main import create_app
from tests.e2e.browser import expect
from tests.e2e.live import Server, start

# Not pages: the API, the feeds and the operations routes answer programs, not people.
# Single sign-on's routes send the browser to the provider and back.
NOT_SITE = ("/api/", "/feeds/", "/healthz", "/readyz", "/metrics", "/auth/oidc/")
# Query parameters a page cannot do without.
QUERIES = {"/language": "?to=en&next=%2Fcalendar"}


def site_paths() -> list[str]:
    """Every GET route of the app but the API's, the feeds' and the operations'."""
    app = create_app(Settings(database_url="sqlite://"))
    return sorted(
        {
            context.path
            for context in iter_route_contexts(list(app.routes))
            if "GET" in (context.methods or ()) and not context.path.startswith(NOT_SITE)
        }
    )


def fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a parameter of {path}: add one to the test"
    return path + QUERIES.get(path, "")


def is_page(server: Server, path: str, cookies: str) -> bool:
    """Whether `path` answers the browser's cookies with HTML (not a CSV, JSON or an icon).
    Asked over plain HTTP: Playwright hides and aborts a browser's requests for
    /favicon.ico."""
    answer = httpx.get(server.url + path, headers={"Cookie": cookies}, follow_redirects=True)
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:200]}"
    return answer.headers["content-type"].startswith("text/html")


def run(server: Server, *command: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app", *command],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def demo_site(folder: Path) -> tuple[subprocess.Popen[str], Server, dict[str, str]]:
    """`assistcal serve` with the demo calendar, and two people of the operators'
    organization, invited: the admin's and the reader's invitation links (their tokens)."""
    process, server = start(folder)
    run(server, "demo", "load")
    for who, role in (("admin", "admin"), ("reader", "provider")):
        run(server, "users", "invite", f"{who}@example.org", "--org", "ASSISTCAL", "--role", role,
            "--manages")  # fmt: skip
    with sqlite3.connect(folder / "assistcal.db") as db:
        mails = dict(db.execute("SELECT to_address, text_body FROM mail_outbox").fetchall())
    links = {}
    for who in ("admin", "reader"):
        found = re.search(r"/auth/link/([\w-]+)", mails[f"{who}@example.org"])
        assert found is not None, mails
        links[who] = found.group(1)
    return process, server, links


def page_values(server: Server, links: dict[str, str]) -> dict[str, str]:
    """What the pages' paths need: an activity, an assistance request (recorded now, with
    the operator's key), the reader's invitation link, and the operators' organization."""
    operator = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    public = httpx.get(f"{server.url}/api/v1/activities", params={"limit": 1}).json()
    request = httpx.post(
        f"{server.url}/api/v1/assistance-requests",
        json={"country": "TT", "themes": ["outreach"], "help_sought": "workshop", "language": "en"},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert request.status_code == 201, request.text
    return {
        "activity_id": str(public["items"][0]["id"]),
        "request_id": str(request.json()["id"]),
        "token": links["reader"],
        "acronym": "ASSISTCAL",
        **_unsubscribe_link(server),
    }


def _unsubscribe_link(server: Server) -> dict[str, str]:
    """An e-mail's one-click unsubscribe link (its page asks before it changes anything),
    made as the service makes it, for a person of the site's database."""
    from app.auth.models import Person
    from app.db.engine import make_engine, open_session
    from app.notices import choices

    engine = make_engine(server.env["ASSISTCAL_DATABASE_URL"])
    try:
        with open_session(engine, write=True) as session:
            person = session.exec(select(Person).limit(1)).first()
            assert person is not None, "the site has no person"
            path = choices.unsubscribe_path(choices.choice(session, person.id), ["findings"])
            session.commit()
    finally:
        engine.dispose()
    _, _, person_id, kinds, signature = path.split("/")
    return {"person_id": person_id, "kinds": kinds, "signature": signature}


def signed_in(browser: Any, server: Server, token: str) -> Any:
    """The browser state of a person who accepted their invitation (`token`, once): the
    storage state a signed-in context starts from."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/auth/link/{token}")
    page.get_by_role("button", name="Accept the invitation and sign in").click()
    expect(page.locator("#account-link")).to_be_visible()
    state = context.storage_state()
    context.close()
    return state
