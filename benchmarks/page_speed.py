"""How long each page takes to render with the demo calendar (aim: under 200 ms).

    python benchmarks/page_speed.py [--rounds 30]
    ASSISTCAL_DATABASE_URL=postgresql://... python benchmarks/page_speed.py

Loads the demo calendar (47 activities, 18 providers, their findings) into a fresh database,
signs in as a coordinator and requests every page `--rounds` times through the whole
application (in process, over its ASGI interface), printing the median, the 95th percentile and
the slowest time of each.
"""

import argparse
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient

from app.auth import service as keys
from app.config import Settings
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
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


if __name__ == "__main__":
    main()
