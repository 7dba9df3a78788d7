"""The README, followed as a new user would: start the service, take the curl tour, load the
demo calendar.  The service runs as a real `assistcal serve` process on a fresh SQLite file."""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.live import Server, start, stop

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the README tour uses curl")


def code_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    process, info = start(tmp_path)
    yield info
    stop(process)


def json_stream(text: str) -> list[dict[str, Any]]:
    """The JSON documents that curl printed one after another."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while (start := text.find("{", at)) != -1:
        document, at = decoder.raw_decode(text, start)
        found.append(document)
    return found


def bash(script: str, server: Server) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_readme_starts_with_the_run_and_test_commands() -> None:
    run, test = code_blocks()[:2]
    assert "pip install ." in run
    assert "assistcal serve" in run
    assert "pip install -e '.[test]'" in test
    assert "pytest" in test


def test_serve_prints_where_it_listens_and_a_key_once(server: Server, tmp_path: Path) -> None:
    assert any(f"listening on {server.url}" in line for line in server.output), server.output
    keys = [line.strip() for line in server.output if line.strip().startswith("ac_")]
    assert len(keys) == 1, server.output
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {keys[0]}"})
    assert me.json()["role"] == "admin"


def test_the_curl_tour_and_the_demo_calendar_work_as_written(server: Server) -> None:
    admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    tour, demo = code_blocks()[2:4]
    tour = tour.replace("http://127.0.0.1:8000", server.url)
    tour = re.sub(r"^ADMIN=.*$", f"ADMIN={admin}", tour, flags=re.M)
    output = bash(tour, server)
    listed = [answer for answer in json_stream(output) if "items" in answer]
    assert len(listed) == 2, output
    titles = [[a["title"] for a in page["items"]] for page in listed]
    assert titles == [["National workshop on a 1540 national action plan"]] * 2

    # The subscribe block, in the same folder (key.json) after the tour.
    subscribe = code_blocks()[4].replace("http://127.0.0.1:8000", server.url)
    preamble = f"API={server.url}/api/v1\n"
    preamble += 'KEY=$(python3 -c \'import json; print(json.load(open("key.json"))["key"])\')\n'
    feeds = bash(preamble + subscribe, server)
    assert "X-WR-CALNAME:Trinidad and Tobago - 1540 assistance activities" in feeds
    assert "SUMMARY:National workshop on a 1540 national action plan" in feeds
    answers = json_stream(feeds[feeds.index("END:VCALENDAR") :])
    assert answers[0]["webcal_url"].startswith("webcal://"), feeds
    assert answers[1]["url"].startswith("https://"), feeds
    assert "/feeds/private/ft_" in answers[1]["url"], feeds

    # The import block, in the same folder, with the tour's provider key; then the demo.
    imports = code_blocks()[5].replace("http://127.0.0.1:8000", server.url)
    imported = bash(preamble + imports, server)
    dry, real = json_stream(imported)[:2]
    assert (dry["dry_run"], dry["created"], dry["errors"]) == (True, 2, []), imported
    assert (real["dry_run"], real["created"]) == (False, 2), imported
    assert real["mapping"]["countries"] == "País beneficiario", imported
    assert "unchanged 2" in imported
    assert (server.folder / "calendar.xlsx").read_bytes()[:2] == b"PK"

    demo_script = f"API={server.url}/api/v1\n" + demo
    demo_output = bash(demo_script, server)
    assert "activities created: 47" in demo_output
    jamaica = json_stream(demo_output)[-1]
    assert jamaica["items"], demo_output
    assert all("JM" in a["countries"] or a["regions"] for a in jamaica["items"]), jamaica


def test_serve_with_two_workers_shares_one_database(tmp_path: Path) -> None:
    process, info = start(tmp_path, "--workers", "2")
    try:
        admin = next(line.strip() for line in info.output if line.strip().startswith("ac_"))
        headers = {"Authorization": f"Bearer {admin}"}
        body = {
            "title": "Regional coordination meeting",
            "language": "en",
            "activity_type": "coordination_meeting",
            "themes": ["coordination"],
            "start_date": "2025-09-01",
            "end_date": "2025-09-02",
            "regions": ["419"],
        }
        with httpx.Client(base_url=info.url, timeout=30) as http:
            created = [
                http.post("/api/v1/activities", json=body, headers=headers) for _ in range(10)
            ]
            assert {r.status_code for r in created} == {201}
            # new connections may land on either worker; every one sees every activity
            for _ in range(10):
                with httpx.Client(base_url=info.url, timeout=30) as fresh:
                    assert len(fresh.get("/api/v1/activities").json()["items"]) == 10
    finally:
        stop(process)
