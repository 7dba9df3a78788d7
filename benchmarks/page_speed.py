"""How long every page takes to render with a calendar of 5,000 activities (aim: under 100 ms
median each), and the calendar's PDF of a year of a region (aim: under 3 s).

    python benchmarks/page_speed.py [--activities 5000] [--rounds 10] [--pdf-rounds 3]
    ASSISTCAL_DATABASE_URL=postgresql://... python benchmarks/page_speed.py

Fills a fresh database: the demo calendar (47 activities of 2024, 18 providers), then
`--activities` illustrative activities over 2023 to 2025 and every State (one in twenty-five
for a region instead), written in bulk as an import writes them, with detection run over them
all (`findings.detection.detect_new`, the import's path); one in twenty repeats the one before
it under another provider, so the review queue has possible duplicates besides the overlaps
and clashes.  Forty findings are decided (dismissed or marked coordinated), forty assistance
requests recorded (`app.assistance.service`), a few linked to activities.

A person signs in (an invitation's link followed in the pages): a coordinator of OAS-CICTE who
manages its members (a dozen more are invited), so that every page opens, the provider's own
pages (`/our/...`) listing OAS-CICTE's share of the activities; they make three private feeds.
Then every page of the site (the app's GET routes but the API's, the feeds', the operations'
and single sign-on's, so that a new page is not forgotten) is requested `--rounds` times
through the whole application (in process, over its ASGI interface), with the path values of
PARAMETERS and the query strings of QUERIES, printing the median, the 95th percentile and the
slowest time of each and marking a median over the aim.  The answers that are not HTML (CSV,
XLSX, PDF, the icon) are timed apart, the PDFs `--pdf-rounds` times.
"""

import argparse
import logging
import os
import random
import re
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.assistance import service as assistance
from app.assistance.models import RequestCreate
from app.auth import people
from app.auth.models import MemberIn
from app.config import Settings
from app.core import vocab
from app.core.principal import Principal
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.demo import service as demo
from app.findings import detection
from app.findings import service as findings
from app.findings.models import DecisionIn, Finding
from app.mail.models import OutboxMail
from app.main import create_app
from app.organizations import service as organizations
from benchmarks.common import add_activities, databases, percentile

AIM_MS = 100
# Not pages: the API, the feeds and the operations routes answer programs, not people;
# single sign-on's routes send the browser to the provider and back.
NOT_SITE = ("/api/", "/openapi.json", "/feeds/", "/healthz", "/readyz", "/metrics", "/auth/oidc/")
# The query strings each page is timed with (the bare path when it is not named here).
YEAR_OF_REGION = "region=419&from=2024-01-01&to=2024-12-31"
QUERIES = {
    "/calendar": [
        "?start=2024-01&span=quarter",
        "?start=2024-01&span=quarter&rows=provider",
        "?start=2024-01&span=quarter&region=029&theme=export_control",
        "?start=2024-01&span=quarter&view=list",
    ],
    "/calendar.csv": [f"?{YEAR_OF_REGION}"],
    "/calendar.xlsx": [f"?{YEAR_OF_REGION}"],
    "/calendar.pdf": [f"?{YEAR_OF_REGION}", f"?{YEAR_OF_REGION}&theme=export_control"],
    "/coverage": ["?region=419&year=2024", "?region=019&year=2024&by=type"],
    "/coverage.csv": ["?region=419&year=2024"],
    "/review": ["", "?status=decided", "?status=all"],
    "/our/warnings": ["", "?status="],
    "/subscribe": ["", "?region=029"],
    "/language": ["?to=en&next=%2Fcalendar"],
}
PROVIDERS = ["OAS-CICTE", "UNLIREC", "UNODA", "OPCW", "IAEA", "BAFA", "UNRCPD", "VERTIC"]
PARTNERS = ["UNODC", "EU P2P", "US-STATE", "INTERPOL", "WCO"]


def illustrative(count: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` activities from 2023 to 2025, every State; one in twenty repeats the one
    before it under another provider (a possible duplicate)."""
    rng = random.Random(1540)
    geography = vocab.geography()
    states = sorted(geography.countries)
    regions = sorted(r for r in geography.region_names if r != "001")
    new: list[tuple[str, dict[str, Any]]] = []
    for n in range(count):
        if n % 20 == 19:
            provider, body = new[-1]
            others = [p for p in PROVIDERS if p != provider]
            new.append((rng.choice(others), {**body, "title": body["title"] + " (2)"}))
            continue
        start = date(2023, 1, 2) + timedelta(days=rng.randrange(3 * 365 - 7))
        regional = n % 25 == 0
        countries = [] if regional else rng.sample(states, rng.choice([1, 1, 1, 2, 3]))
        body = {
            "title": f"Illustrative national workshop {n} on strategic trade controls and "
            "the implementation of resolution 1540 (2004)",
            "description": "Legislative assistance, licensing and enforcement. " * 4,
            "language": rng.choice(["en", "es", "fr"]),
            "activity_type": rng.choice(vocab.ACTIVITY_TYPES),
            "themes": rng.sample(vocab.THEMES, 2),
            "partners": rng.sample(PARTNERS, rng.choice([0, 1, 2])),
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=rng.randrange(5))).isoformat(),
            "countries": countries,
            "regions": [rng.choice(regions)] if regional else [],
            "venue": {"city": "Illustrative City", "country": countries[0]} if countries else None,
        }
        provider = "OAS-CICTE" if n % 8 == 0 else rng.choice(PROVIDERS[1:])
        new.append((provider, body))
    return new


def fill(session: Session, operator: Principal, count: int) -> dict[str, str]:
    """The calendar described above; returns the values of the pages' path parameters."""
    demo.load(session, actor=operator, year=2024)  # the calendar's pages below name 2024
    new = illustrative(count)
    ids = add_activities(session, new, actor=operator)
    session.flush()
    detection.detect_new(session, ids)
    opened = session.exec(
        select(Finding).where(col(Finding.status) == "open").order_by(col(Finding.created_at))
    ).all()
    for n, finding in enumerate(opened[:40]):
        decision = "dismiss" if n % 4 else "coordinate"
        note = "Different audiences: both go ahead." if n % 4 else "The providers will talk."
        findings.decide(session, finding, DecisionIn(decision=decision, note=note), actor=operator)
    rng = random.Random(2004)
    states = sorted(vocab.geography().countries)
    # The first ten ask for what an activity already answers: they are linked to it.
    answered = [(i, body) for i, (_, body) in zip(ids, new, strict=True) if body["countries"]]
    requests = []
    for n in range(40):
        country = answered[n][1]["countries"][0] if n < 10 else rng.choice(states)
        data = RequestCreate.model_validate(
            {
                "country": country,
                "themes": rng.sample(vocab.THEMES, 2),
                "help_sought": rng.choice(vocab.ACTIVITY_TYPES),
                "language": rng.choice(["en", "es", "fr"]),
                "description": f"Illustrative request {n}: help drafting control lists.",
            }
        )
        request = assistance.create(session, data, actor=operator)
        if n < 10:
            assistance.link(session, request, answered[n][0], actor=operator)
        requests.append(request)
    ours = next(i for i, (provider, _) in zip(ids, new, strict=True) if provider == "OAS-CICTE")
    return {"activity_id": str(ours), "request_id": str(requests[0].id), "acronym": "OAS-CICTE"}


def invite(session: Session, email: str, **member: Any) -> str:
    """`email` invited to OAS-CICTE by the operator at the shell: their link's token."""
    organization = organizations.get(session, "OAS-CICTE")
    data = MemberIn.model_validate({"email": email, **member})
    people.invite(session, organization, data, actor=None, base_url="https://testserver")
    mail = session.exec(
        select(OutboxMail)
        .where(col(OutboxMail.to_address) == email)
        .order_by(col(OutboxMail.created_at).desc())
    ).first()
    assert mail is not None
    found = re.search(r"/auth/link/([A-Za-z0-9_-]+)", mail.text_body)
    assert found is not None
    return found.group(1)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


def site_paths(app: Any, values: dict[str, str]) -> list[str]:
    """Every GET route of the site, its parameters filled in, with each of its queries."""
    routes = sorted(
        {
            context.path
            for context in iter_route_contexts(list(app.routes))
            if context.path is not None
            and "GET" in (context.methods or ())
            and not context.path.startswith(NOT_SITE)
        }
    )
    paths = []
    for route in routes:
        path = route
        for name, value in values.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"no value for a parameter of {route}: add one to the values"
        paths += [path + query for query in QUERIES.get(route, [""])]
    return paths


def timed(client: TestClient, path: str, rounds: int) -> tuple[list[float], Any]:
    times, answer = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get(path, follow_redirects=False)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code in (200, 303), (path, answer.status_code, answer.text[:300])
    return times, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pdf-rounds", type=int, default=3)
    args = parser.parse_args()
    for url in databases(os.environ.get("ASSISTCAL_DATABASE_URL"), "pages.db"):
        upgrade(url)
        engine = make_engine(url)
        started = time.perf_counter()
        with open_session(engine, write=True) as session:
            coordinator = organizations.ensure(session, acronym="OAS-CICTE", name="OAS")
            assert coordinator.id is not None
            operator = Principal(uuid.uuid4(), "bench", coordinator.id, "OAS-CICTE", "coordinator")
            values = fill(session, operator, args.activities)
            token = invite(session, "bench@example.org", role="coordinator", manages=True)
            for n in range(12):
                role = "provider" if n % 3 else "coordinator"
                values["token"] = invite(session, f"member{n}@example.org", role=role)
            session.commit()
        filled = time.perf_counter() - started
        settings = Settings(
            database_url=url, webhook_worker=False, key_touch_seconds=0, json_logs=False
        )
        app = create_app(settings)
        with TestClient(app, base_url="https://testserver") as client:
            logging.getLogger("assistcal.access").disabled = True  # a line per request
            link = client.get(f"/auth/link/{token}").text
            signed_in = client.post(
                f"/auth/link/{token}", data={"csrf": csrf_of(link)}, follow_redirects=False
            )
            assert signed_in.status_code == 303, signed_in.text[:300]
            for region in ("419", "029", "002"):
                csrf = csrf_of(client.get("/subscribe").text)
                made = client.post(
                    "/subscribe/feeds",
                    data={"csrf": csrf, "label": f"Feed of {region}", "region": region},
                )
                assert made.status_code == 201, made.text[:300]
            with engine.connect() as conn:
                version = conn.exec_driver_sql(
                    "SELECT sqlite_version()"
                    if engine.dialect.name == "sqlite"
                    else "SHOW server_version"
                ).scalar()
            print(
                f"database: {engine.dialect.name} {version}; 47 + {args.activities} activities "
                f"(filled in {filled:.0f} s); {args.rounds} rounds per page; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
            print(f"{'page':<72} {'median':>8} {'p95':>8} {'max':>8}")
            downloads = []
            for path in site_paths(app, values):
                probe = client.get(path, follow_redirects=False)
                html = probe.headers.get("content-type", "").startswith("text/html")
                if probe.status_code == 200 and not html:
                    downloads.append(path)
                    continue
                times, answer = timed(client, path, args.rounds)
                median, p95 = statistics.median(times), percentile(times, 0.95)
                mark = f"  over {AIM_MS} ms" if median > AIM_MS else ""
                shown = path if answer.status_code == 200 else f"{path} ({answer.status_code})"
                print(f"{shown:<72} {median:>6.1f}ms {p95:>6.1f}ms {max(times):>6.1f}ms{mark}")
            print(f"downloads (the PDFs {args.pdf_rounds} rounds each)")
            print(f"{'download':<72} {'median':>8} {'max':>8}  size")
            for path in downloads:
                rounds = args.pdf_rounds if ".pdf" in path else args.rounds
                times, answer = timed(client, path, rounds)
                size = len(answer.content)
                median = statistics.median(times)
                print(f"{path:<72} {median:>6.0f}ms {max(times):>6.0f}ms  {size // 1024} KiB")
            rows = client.get(f"/calendar.csv?{YEAR_OF_REGION}").text.count("\n") - 1
            print(f"the year of the region (419, 2024): {rows} activities")
        engine.dispose()


if __name__ == "__main__":
    main()
