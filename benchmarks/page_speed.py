"""How long each page takes to render with the demo calendar (aim: under 200 ms), and the
calendar's PDF of a year of a region (aim: under 3 s).

    python benchmarks/page_speed.py [--rounds 30] [--pdf-activities 300] [--pdf-rounds 5]
    ASSISTCAL_DATABASE_URL=postgresql://... python benchmarks/page_speed.py

Loads the demo calendar (47 activities, 18 providers, their findings) into a fresh database,
signs in as a coordinator and requests every page `--rounds` times through the whole
application (in process, over its ASGI interface), printing the median, the 95th percentile and
the slowest time of each.  For the PDFs, `--pdf-activities` illustrative activities more are
added in Latin America and the Caribbean in 2024 (one to three States each, long titles, a city,
partners), and each PDF is requested `--pdf-rounds` times.
"""

import argparse
import os
import random
import re
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.activities import service as activities
from app.activities.models import ActivityCreate
from app.auth import service as keys
from app.config import Settings
from app.core import vocab
from app.core.principal import Principal
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.demo import service as demo
from app.main import create_app
from app.organizations import service as organizations
from benchmarks.common import databases, percentile

PAGES = [
    "/",
    "/calendar?start=2024-01&span=quarter",
    "/calendar?start=2024-01&span=quarter&rows=provider",
    "/calendar?start=2024-01&span=quarter&region=029&theme=export_control",
    "/calendar?start=2024-01&span=quarter&view=list",
    "/activity/{activity}",
    "/review",
    "/coverage?region=419&year=2024",
    "/coverage?region=019&year=2024&by=type",
    "/import",
    "/subscribe?region=029",
    "/sign-in",
]
PDFS = [
    "/calendar.pdf?region=419&from=2024-01-01&to=2024-12-31",
    "/calendar.pdf?region=419&theme=export_control&from=2024-01-01&to=2024-12-31",
]


def add_year_of_region(session: Session, actor: Principal, count: int) -> None:
    """`count` illustrative activities in Latin America and the Caribbean in 2024."""
    rng = random.Random(1540)
    states = sorted(vocab.region_states("419"))
    providers = ["OAS-CICTE", "UNLIREC", "UNODA", "OPCW", "IAEA", "BAFA"]
    for acronym in providers:
        organizations.ensure(session, acronym=acronym, name=acronym)
    for n in range(count):
        start = date(2024, 1, 8) + timedelta(days=rng.randrange(350))
        countries = rng.sample(states, rng.choice([1, 1, 1, 2, 3]))
        data = ActivityCreate.model_validate(
            {
                "provider": rng.choice(providers),
                "partners": rng.sample(["UNODC", "EU P2P", "US-STATE", "INTERPOL"], 1),
                "title": f"Illustrative national workshop {n} on strategic trade controls and "
                "the implementation of resolution 1540 (2004)",
                "language": rng.choice(["en", "es"]),
                "activity_type": rng.choice(vocab.ACTIVITY_TYPES),
                "themes": rng.sample(vocab.THEMES, 2),
                "start_date": start.isoformat(),
                "end_date": (start + timedelta(days=rng.randrange(5))).isoformat(),
                "countries": countries,
                "venue": {"city": "Illustrative City", "country": countries[0]},
            }
        )
        activities.create(session, data, actor=actor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pdf-activities", type=int, default=300)
    parser.add_argument("--pdf-rounds", type=int, default=5)
    args = parser.parse_args()
    for url in databases(os.environ.get("ASSISTCAL_DATABASE_URL"), "pages.db"):
        upgrade(url)
        engine = make_engine(url)
        with open_session(engine, write=True) as session:
            coordinator = organizations.ensure(session, acronym="OAS-CICTE", name="OAS")
            assert coordinator.id is not None
            operator = Principal(uuid.uuid4(), "bench", coordinator.id, "OAS-CICTE", "coordinator")
            demo.load(session, actor=operator, year=2024)  # the pages below name 2024
            key = keys.create(session, organization=coordinator, role="coordinator", actor=None).key
            session.commit()
        engine.dispose()
        settings = Settings(
            database_url=url, webhook_worker=False, key_touch_seconds=0, json_logs=False
        )
        with TestClient(create_app(settings), base_url="https://testserver") as client:
            form = client.get("/sign-in").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf is not None
            client.post("/sign-in", data={"key": key, "csrf": csrf.group(1)})
            listed = client.get("/calendar?start=2024-01&span=quarter&view=list").text
            activity = re.search(r'href="/activity/([0-9a-f-]{36})"', listed)
            assert activity is not None
            print(f"database: {make_engine(url).dialect.name}; {args.rounds} rounds per page")
            print(f"{'page':<70} {'median':>8} {'p95':>8} {'max':>8}")
            for path in PAGES:
                path = path.format(activity=activity.group(1))
                times = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                median, p95 = statistics.median(times), percentile(times, 0.95)
                print(f"{path:<70} {median:>6.1f}ms {p95:>6.1f}ms {max(times):>6.1f}ms")
            with open_session(make_engine(url), write=True) as session:
                add_year_of_region(session, operator, args.pdf_activities)
                session.commit()
            time_pdfs(client, args.pdf_activities, args.pdf_rounds)


def time_pdfs(client: TestClient, added: int, rounds: int) -> None:
    print(f"PDFs, {added} illustrative activities added; {rounds} rounds each")
    print(f"{'PDF':<70} {'median':>8} {'max':>8}  size")
    for path in PDFS:
        times, size = [], 0
        for _ in range(rounds):
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            size = len(answer.content)
        median = statistics.median(times)
        print(f"{path:<70} {median:>6.0f}ms {max(times):>6.0f}ms  {size // 1024} KiB")


if __name__ == "__main__":
    main()
