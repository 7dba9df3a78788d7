"""Load: a realistic mix of requests from many concurrent clients against `assistcal serve
--workers N`, then a check that every acknowledged write is stored exactly once; beside it, the
same clients with the same reads against a bare FastAPI app whose async route answers every
request with a constant JSON (the ceiling of this machine).

    python benchmarks/load.py [--workers 2] [--clients 50] [--seconds 20] [--activities 2000]
    ASSISTCAL_DATABASE_URL=postgresql://... python benchmarks/load.py

The mix, per request: 30 % read one activity, 20 % list query (a country and a quarter), 10 %
feed poll without ETag, 15 % feed poll with its ETag (304 expected), 15 % create (with
detection), 10 % edit one of the client's own activities (If-Match).  Clients are asyncio
tasks on one aiohttp connection each, in this process: on a 2-core machine they share the cores with
the server, so every figure is a floor, the ceiling's too.  The reads-only pass starts with
the read caches of the processes empty (the last write of the mix emptied them): every
activity, list page and feed is read from the database once per process before its answer is
kept.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import vocab
from benchmarks.api_throughput import UNLIMITED, fill, free_port
from benchmarks.common import percentile

MIX = [
    ("read", 30),
    ("list", 20),
    ("feed", 10),
    ("feed etag", 15),
    ("create", 15),
    ("edit", 10),
]


class Answer:
    def __init__(self, status_code: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def connection(base: str) -> aiohttp.ClientSession:
    """One client: one keep-alive connection.  aiohttp rather than httpx: httpx's own work per
    request (about 2 ms of CPU here) made the client, not the server, the limit of the bare
    ceiling."""
    return aiohttp.ClientSession(
        base_url=base,
        connector=aiohttp.TCPConnector(limit=1),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def call(http: aiohttp.ClientSession, method: str, path: str, **options: Any) -> Answer:
    async with http.request(method, path, **options) as response:
        body = await response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, body)


class Tally:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.created: dict[str, str] = {}  # external_ref -> id
        self.edited: dict[str, int] = {}  # id -> revision acknowledged
        self.finished: list[float] = []  # when each request ended (time.monotonic())


READS = ("read", "list", "feed", "feed etag")


async def client(
    n: int,
    base: str,
    key: str,
    ids: list[str],
    stop: float,
    tally: Tally,
    states: list[str],
    reads_only: bool,
) -> None:
    rng = random.Random(n)
    auth = {"Authorization": f"Bearer {key}"}
    mine: list[tuple[str, int]] = []  # (id, revision) of this client's own activities
    etags: dict[str, str] = {}
    names = [name for name, weight in MIX for _ in range(weight) if name in READS or not reads_only]
    async with connection(base) as http:
        while time.monotonic() < stop:
            kind = rng.choice(names)
            if kind == "edit" and not mine:
                kind = "create"
            started = time.perf_counter()
            try:
                if kind == "read":
                    answer = await call(http, "GET", f"/api/v1/activities/{rng.choice(ids)}")
                    ok = answer.status_code == 200
                elif kind == "list":
                    month = rng.randrange(1, 10)
                    params = {
                        "country": rng.choice(states),
                        "from": f"2025-{month:02d}-01",
                        "to": f"2025-{month + 2:02d}-28",
                    }
                    answer = await call(
                        http, "GET", "/api/v1/activities", params=params, headers=auth
                    )
                    ok = answer.status_code == 200
                elif kind.startswith("feed"):
                    path = f"/feeds/countries/{rng.choice(states[:8])}.ics"
                    headers = {}
                    if kind == "feed etag" and path in etags:
                        headers["If-None-Match"] = etags[path]
                    answer = await call(http, "GET", path, headers=headers)
                    ok = answer.status_code in (200, 304)
                    if answer.status_code == 200:
                        etags[path] = answer.headers["etag"]
                elif kind == "create":
                    ref = f"load-{n}-{uuid.uuid4().hex[:10]}"
                    body = {
                        "title": f"Load test seminar {ref}",
                        "language": "en",
                        "activity_type": "seminar",
                        "themes": ["outreach"],
                        "start_date": "2025-06-10",
                        "end_date": "2025-06-11",
                        "countries": [rng.choice(states)],
                        "external_ref": ref,
                    }
                    answer = await call(
                        http,
                        "POST",
                        "/api/v1/activities",
                        json=body,
                        headers={**auth, "Idempotency-Key": ref},
                    )
                    ok = answer.status_code == 201
                    if ok:
                        activity = answer.json()["activity"]
                        tally.created[ref] = activity["id"]
                        mine.append((activity["id"], activity["revision"]))
                else:
                    index = rng.randrange(len(mine))
                    activity_id, revision = mine[index]
                    answer = await call(
                        http,
                        "PATCH",
                        f"/api/v1/activities/{activity_id}",
                        json={"description": f"edited at revision {revision}"},
                        headers={**auth, "If-Match": str(revision)},
                    )
                    ok = answer.status_code == 200
                    if ok:
                        mine[index] = (activity_id, answer.json()["revision"])
                        tally.edited[activity_id] = answer.json()["revision"]
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            tally.times[kind].append((time.perf_counter() - started) * 1000)
            tally.finished.append(time.monotonic())
            if not ok:
                tally.errors[kind] += 1


def per_second(tally: Tally, started: float, seconds: float) -> list[int]:
    """Requests answered in each second of a pass."""
    counts = [0] * max(1, round(seconds))
    for moment in tally.finished:
        counts[min(int(moment - started), len(counts) - 1)] += 1
    return counts


async def drive(
    base: str,
    key: str,
    ids: list[str],
    clients: int,
    seconds: float,
    states: list[str],
    reads_only: bool = False,
) -> tuple[Tally, float, float]:
    tally = Tally()
    started = time.monotonic()
    stop = started + seconds
    await asyncio.gather(
        *(client(n, base, key, ids, stop, tally, states, reads_only) for n in range(clients))
    )
    return tally, started, time.monotonic() - started


def serve(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code in (200, 404):
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--activities", type=int, default=2000)
    args = parser.parse_args()
    states = sorted(vocab.region_states("419"))
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("ASSISTCAL_DATABASE_URL") or f"sqlite:///{folder}/load.db"
        key, ids = fill(url, args.activities)
        port = free_port()
        env = {**os.environ, "ASSISTCAL_DATABASE_URL": url, **UNLIMITED}
        command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
        server = serve([*command, "--workers", str(args.workers)], env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            tally, _, elapsed = asyncio.run(
                drive(base, key, ids, args.clients, args.seconds, states)
            )
            read_tally, read_started, read_elapsed = asyncio.run(
                drive(base, key, ids, args.clients, args.seconds, states, reads_only=True)
            )
        finally:
            stop_server(server)

        engine = sa.create_engine(url)
        with engine.connect() as conn:
            stored: dict[str, list[tuple[str, int]]] = defaultdict(list)
            for ref, activity_id, revision in conn.execute(
                sa.text("SELECT external_ref, id, revision FROM activity WHERE title LIKE 'Load%'")
            ):
                stored[ref].append((str(activity_id).replace("-", ""), revision))
        engine.dispose()
        lost = [r for r in tally.created if len(stored.get(r, [])) != 1]
        revisions = {i: rev for rows in stored.values() for i, rev in rows}
        stale = [i for i, r in tally.edited.items() if revisions.get(i.replace("-", ""), 0) < r]

        total = sum(len(t) for t in tally.times.values())
        print(
            f"database: {url.split(':')[0]}; {args.workers} worker processes, {args.clients} "
            f"clients, {elapsed:.0f} s, {args.activities:,} activities to start with"
        )
        print(
            f"{'operation':<12} {'requests':>9} {'req/s':>7} {'median':>8} {'p99':>8} {'errors':>7}"
        )
        reads = 0
        for name, _ in MIX:
            times = tally.times.get(name, [])
            if not times:
                continue
            if name in ("read", "list", "feed", "feed etag"):
                reads += len(times)
            print(
                f"{name:<12} {len(times):>9} {len(times) / elapsed:>7.0f} "
                f"{statistics.median(times):>6.1f}ms {percentile(times, 0.99):>6.1f}ms "
                f"{tally.errors.get(name, 0):>7}"
            )
        print(f"{'all':<12} {total:>9} {total / elapsed:>7.0f}")
        read_total = sum(len(t) for t in read_tally.times.values())
        read_errors = sum(read_tally.errors.values())
        read_times = [t for times in read_tally.times.values() for t in times]
        print(
            f"reads only, same clients: {read_total / read_elapsed:.0f} req/s, median "
            f"{statistics.median(read_times):.1f} ms, p99 {percentile(read_times, 0.99):.1f} ms, "
            f"errors {read_errors}"
        )
        # The caches start empty (the mix's last write emptied them): the first seconds read
        # every answer from the database once per process.
        seconds = per_second(read_tally, read_started, read_elapsed)
        print(f"reads only, requests answered in each second: {' '.join(map(str, seconds))}")
        settled = seconds[len(seconds) // 2 :]
        settled_rate = sum(settled) / len(settled)
        print(
            f"acknowledged: {len(tally.created)} creates, {len(tally.edited)} activities edited; "
            f"stored exactly once: {len(tally.created) - len(lost)}; lost or doubled: "
            f"{len(lost)}; edits behind what was acknowledged: {len(stale)}"
        )

        bare_port = free_port()
        bare = serve(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.bare_app:app",
                "--port",
                str(bare_port),
                "--workers",
                str(args.workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            bare_port,
        )
        try:
            # The same clients and requests as the reads-only pass: the client's own work per
            # request is the same on both sides of the ratio.
            bare_tally, _, spent = asyncio.run(
                drive(
                    f"http://127.0.0.1:{bare_port}",
                    key,
                    ids,
                    args.clients,
                    args.seconds,
                    states,
                    reads_only=True,
                )
            )
        finally:
            stop_server(bare)
        count = len(bare_tally.finished)
        times = [t for kind in bare_tally.times.values() for t in kind]
        print(
            f"ceiling (bare FastAPI, constant JSON to the same reads, same workers and clients): "
            f"{count / spent:.0f} req/s, median {statistics.median(times):.1f} ms, errors "
            f"{sum(bare_tally.errors.values())}; "
            f"our reads alone: {read_total / read_elapsed / (count / spent):.0%} of it; "
            f"reads in the mix: {reads / elapsed:.0f} req/s"
        )
        print(
            f"reads only, second half of the pass (caches warm): {settled_rate:.0f} req/s, "
            f"{settled_rate / (count / spent):.0%} of the ceiling"
        )
        if lost or stale or read_errors or any(tally.errors.values()):
            raise SystemExit("errors, lost writes or stale edits: see above")


if __name__ == "__main__":
    main()
