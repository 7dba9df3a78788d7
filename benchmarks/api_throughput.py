"""Throughput of the main read and write paths, served by `assistcal serve` on SQLite or
PostgreSQL, measured from a client on the same machine.

    python benchmarks/api_throughput.py [--activities 10000] [--seconds 8] [--clients 8]
    ASSISTCAL_DATABASE_URL=postgresql://... python benchmarks/api_throughput.py

It fills a fresh database with illustrative activities (random Latin American countries,
themes and dates), starts the server in a subprocess with one worker, then for each scenario
runs `--clients` threads with keep-alive connections for `--seconds` and prints requests per
second and latency percentiles.  The client shares the machine's cores with the server, so
the figures are a floor.
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.activities import service as activities
from app.activities.models import ActivityCreate
from app.auth import service as keys_service
from app.core import vocab
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.organizations import service as organizations

PROVIDERS = ["UNLIREC", "UNODA", "IAEA", "OPCW", "WCO", "EU", "OAS-CICTE", "BAFA"]
# A benchmark measures the service, not its rate limits.
UNLIMITED = {"ASSISTCAL_RATE_LIMIT_PER_KEY": "0", "ASSISTCAL_RATE_LIMIT_PER_ADDRESS": "0"}


def fill(url: str, count: int) -> tuple[str, list[str]]:
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(1540)
    states = sorted(vocab.region_states("419"))
    with open_session(engine, write=True) as session:
        admin = organizations.ensure(session, acronym="ADMIN", name="bench")
        key = keys_service.create(session, organization=admin, role="admin", actor=None).key
        principal, _ = keys_service.authenticate(session, key)
        for acronym in PROVIDERS:
            organizations.ensure(session, acronym=acronym, name=acronym)
        ids = []
        started = time.perf_counter()
        for n in range(count):
            start = date(2025, 1, 1) + timedelta(days=rng.randrange(730))
            data = ActivityCreate.model_validate(
                {
                    "provider": rng.choice(PROVIDERS),
                    "title": f"Illustrative workshop {n} on strategic trade controls",
                    "description": "Illustrative benchmark data. " * 8,
                    "language": rng.choice(["en", "es"]),
                    "activity_type": rng.choice(vocab.ACTIVITY_TYPES),
                    "themes": rng.sample(vocab.THEMES, 2),
                    "start_date": start.isoformat(),
                    "end_date": (start + timedelta(days=rng.randrange(5))).isoformat(),
                    "countries": rng.sample(states, rng.choice([1, 1, 1, 2, 3])),
                    "regions": ["029"] if n % 50 == 0 else [],
                }
            )
            activity, _ = activities.create(session, data, actor=principal)
            ids.append(str(activity.id))
            if n % 2000 == 1999:
                session.commit()
                print(f"  filled {n + 1}/{count}", flush=True)
        session.commit()
        print(f"filled {count} activities in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return key, ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(
    only: str,
    base: str,
    name: str,
    request: Callable[[httpx.Client, random.Random], httpx.Response],
    seconds: float,
    clients: int,
) -> None:
    if only not in name:
        return
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        mine: list[float] = []
        bad = 0
        with httpx.Client(base_url=base, timeout=30) as http:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                response = request(http, rng)
                mine.append(time.perf_counter() - t0)
                bad += response.status_code >= 400
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - t0
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<38} {len(latencies) / elapsed:8.0f} req/s   p50 {quantiles[49] * 1000:6.1f} ms"
        f"   p99 {quantiles[98] * 1000:6.1f} ms   errors {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--only", default="", help="run only scenarios whose name has this")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("ASSISTCAL_DATABASE_URL") or f"sqlite:///{folder}/bench.db"
        key, ids = fill(url, args.activities)
        port = free_port()
        env = {**os.environ, "ASSISTCAL_DATABASE_URL": url, **UNLIMITED}
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {key}"}
            states = sorted(vocab.region_states("419"))
            print(f"{args.activities} activities, {args.clients} clients, {args.seconds} s each")
            run(
                args.only,
                base,
                "GET /healthz",
                lambda h, r: h.get("/healthz"),
                args.seconds,
                args.clients,
            )
            run(
                args.only,
                base,
                "GET /activities/{id} (anonymous)",
                lambda h, r: h.get(f"/api/v1/activities/{r.choice(ids)}"),
                args.seconds,
                args.clients,
            )
            run(
                args.only,
                base,
                "GET /activities?limit=50 (anonymous)",
                lambda h, r: h.get("/api/v1/activities", params={"limit": 50}),
                args.seconds,
                args.clients,
            )
            run(
                args.only,
                base,
                "GET /activities?country=X&from&to (key)",
                lambda h, r: h.get(
                    "/api/v1/activities",
                    headers=headers,
                    params={"country": r.choice(states), "from": "2025-06-01", "to": "2025-09-30"},
                ),
                args.seconds,
                args.clients,
            )
            run(
                args.only,
                base,
                "POST /activities (key)",
                lambda h, r: h.post(
                    "/api/v1/activities",
                    headers=headers,
                    json={
                        "provider": "IAEA",
                        "title": "Benchmark submission",
                        "language": "en",
                        "activity_type": "workshop",
                        "themes": ["physical_protection"],
                        "start_date": "2026-05-04",
                        "end_date": "2026-05-06",
                        "countries": [r.choice(states)],
                    },
                ),
                args.seconds,
                args.clients,
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
