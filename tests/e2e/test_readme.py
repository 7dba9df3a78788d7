"""The README, followed as a new user would: start the service, take the curl tour, load the
demo calendar.  The service runs as a real `assistcal serve` process on a fresh SQLite file."""

import html
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.live import Server, start, stop

README = Path(__file__).resolve().parents[2] / "README.md"
DEMO = Path(__file__).resolve().parents[2] / "app" / "demo" / "lac_2024.json"
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the README tour uses curl")


def code_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    process, info = start(tmp_path)
    yield info
    stop(process)


def dataset_text() -> str:
    return DEMO.read_text("utf-8")


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
    # The tests get a virtualenv of their own: installing them in the served one would replace
    # the package under a running `assistcal serve`.
    served = re.search(r"python3 -m venv (\S+) && \. \1/bin/activate", run)
    tested = re.search(r"python3 -m venv (\S+) && \. \1/bin/activate", test)
    assert served is not None, run
    assert tested is not None, test
    assert served.group(1) != tested.group(1)
    assert test.index("activate") < test.index("pip install -e")
    ignored = (README.parent / ".gitignore").read_text().split()
    assert {served.group(1) + "/", tested.group(1) + "/"} <= set(ignored)


def test_the_tour_says_where_to_open_the_second_terminal() -> None:
    text = " ".join(README.read_text().split())
    tour = " ".join(code_blocks()[2].split())
    intro = text[: text.index(tour[:40])]
    said = intro[intro.rindex("## A five-minute tour") :]
    assert "second terminal in the checkout folder" in said, said
    assert "`. .venv/bin/activate`" in said, said


def test_serve_prints_where_it_listens_and_a_key_once(server: Server, tmp_path: Path) -> None:
    assert any(f"listening on {server.url}" in line for line in server.output), server.output
    keys = [line.strip() for line in server.output if line.strip().startswith("ac_")]
    assert len(keys) == 1, server.output
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {keys[0]}"})
    assert me.json()["role"] == "admin"


def test_the_curl_tour_and_the_demo_calendar_work_as_written(server: Server) -> None:
    """The tour's blocks in the order the README gives them, in one shell (its variables carry
    from one block to the next, as in the reader's second terminal)."""
    admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    blocks = code_blocks()[2:6]
    script = "\n".join(f"printf '\\n@@@ block {n}\\n'\n{block}" for n, block in enumerate(blocks))
    script = script.replace("http://127.0.0.1:8000", server.url)
    script = re.sub(r"^ADMIN=.*$", f"ADMIN={admin}", script, flags=re.M)
    script += "\nprintf '\\n@@@ provider key\\n%s\\n' \"$KEY\"\n"
    output = bash(script, server)
    tour, demo, subscribe, imports, key = re.split(r"\n@@@ .*\n", output)[1:]

    listed = [answer for answer in json_stream(tour) if "items" in answer]
    assert len(listed) == 2, tour
    titles = [[a["title"] for a in page["items"]] for page in listed]
    assert titles == [["National workshop on a 1540 national action plan"]] * 2

    # The demo, dated around today: the default calendar page and the feed show it at once.
    assert "activities created: 47" in demo
    assert "around today" in demo
    jamaica = json_stream(demo)[-1]
    assert jamaica["items"], demo
    assert all("JM" in a["countries"] or a["regions"] for a in jamaica["items"]), jamaica
    titles = {a["title"] for a in json.loads(dataset_text())["activities"]}
    calendar = httpx.get(f"{server.url}/calendar").text
    assert any(html.escape(title) in calendar for title in titles), calendar
    feed = httpx.get(f"{server.url}/feeds/all.ics").text
    shown = {line.removeprefix("SUMMARY:") for line in feed.replace("\r\n ", "").splitlines()}
    assert len(shown & titles) >= 20, feed

    # Subscribing: every link printed for this plain-http server works when pasted.
    assert "X-WR-CALNAME:Trinidad and Tobago - 1540 assistance activities" in subscribe
    assert "SUMMARY:National workshop on a 1540 national action plan" in subscribe
    links, private = json_stream(subscribe[subscribe.index("END:VCALENDAR") :])[:2]
    assert links["url"].startswith(f"{server.url}/feeds/calendar.ics?"), links
    assert "/feeds/private/ft_" in private["url"], private
    for found in (links, private):
        assert found["webcal_url"] == "webcal://" + found["url"].removeprefix("http://")
        assert quote(found["url"], safe="") in found["google_url"]
        answer = httpx.get(found["url"])
        assert answer.status_code == 200, found
        assert answer.text.startswith("BEGIN:VCALENDAR"), found

    dry, real = json_stream(imports)[:2]
    assert (dry["dry_run"], dry["created"], dry["errors"]) == (True, 2, []), imports
    assert (real["dry_run"], real["created"]) == (False, 2), imports
    assert real["mapping"]["countries"] == "País beneficiario", imports
    assert "unchanged 2" in imports
    assert (server.folder / "calendar.xlsx").read_bytes()[:2] == b"PK"

    # No live key was written to a file in the folder the tour ran in.
    keys = {admin, key.strip()}
    assert all(k.startswith("ac_") for k in keys), key
    for path in server.folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(k.encode() in content for k in keys), path


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
