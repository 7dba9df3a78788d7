"""A real `assistcal serve` process (on a fresh SQLite file unless told another database),
for end-to-end tests."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    url: str
    output: list[str]
    env: dict[str, str]
    folder: Path


def start(
    folder: Path,
    *extra: str,
    database_url: str | None = None,
    environment: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], Server]:
    port = free_port()
    env = {
        **os.environ,
        "ASSISTCAL_DATABASE_URL": database_url or f"sqlite:///{folder / 'assistcal.db'}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ASSISTCAL_WEBHOOK_ALLOW_PRIVATE": "true",  # the tests' receivers are on 127.0.0.1
    }
    env.pop("ASSISTCAL_BOOTSTRAP_ADMIN_KEY", None)
    env.update(environment or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), *extra],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: its workers end with it (stop)
    )
    output: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line.rstrip())
        if "listening on" in line:
            break
    # Keep reading what the server prints (a JSON line per request): a full pipe would stop it.
    threading.Thread(target=_drain, args=(process, output), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, Server(url, output, env, folder)
        except httpx.TransportError:
            time.sleep(0.1)
    _kill_group(process)
    raise AssertionError("the service did not become healthy:\n" + "\n".join(output))


def _drain(process: subprocess.Popen[str], output: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line.rstrip())


def stop(process: subprocess.Popen[str]) -> None:
    """Stop the server as a supervisor would (SIGTERM); one that does not stop within 20 s is
    killed with every process it started, so that no worker outlives the test."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        _kill_group(process)
    else:
        _kill_group(process)  # a worker left behind by a server that stopped badly


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)
