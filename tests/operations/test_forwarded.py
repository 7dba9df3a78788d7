"""X-Forwarded-For and X-Forwarded-Proto are believed only from the proxies the operator names
(ASSISTCAL_FORWARDED_ALLOW_IPS): from any other peer they change nothing, so the per-address
rate limit cannot be dodged with a made-up header."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.http.operations import configure_logging
from app.main import create_app

API = "/api/v1"
ClientAt = Callable[..., TestClient]


@pytest.fixture
def client_at(settings: Settings, clean_db: None) -> Iterator[ClientAt]:
    """client_at(peer, **settings): a client whose requests come from the address `peer`."""
    clients: list[TestClient] = []

    def make(peer: str, **changes: Any) -> TestClient:
        app = create_app(settings.model_copy(update=changes))
        client = TestClient(app, client=(peer, 50123), follow_redirects=False)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def statuses(client: TestClient, forwarded_for: list[str]) -> list[int]:
    return [
        client.get(f"{API}/activities", headers={"X-Forwarded-For": address}).status_code
        for address in forwarded_for
    ]


MADE_UP = [f"198.51.100.{n}" for n in range(1, 6)]


def test_a_made_up_forwarded_for_does_not_dodge_the_address_limit(client_at: ClientAt) -> None:
    for peer, trusted in (
        ("203.0.113.9", ["10.0.0.0/8"]),  # a proxy is named, this peer is not it
        ("127.0.0.1", []),  # none named (the default): not even loopback is believed
    ):
        client = client_at(peer, rate_limit_per_address=3, forwarded_allow_ips=trusted)
        assert statuses(client, MADE_UP) == [200, 200, 200, 429, 429], peer


def test_a_trusted_proxy_names_the_client(client_at: ClientAt) -> None:
    proxy = client_at("10.0.0.5", rate_limit_per_address=3, forwarded_allow_ips=["10.0.0.0/8"])
    assert statuses(proxy, MADE_UP) == [200] * 5  # five clients, one request each
    assert statuses(proxy, ["192.0.2.44"] * 4) == [200, 200, 200, 429]  # one, four times
    # Each proxy appends the address it was called from: the client is the last address
    # that is not a trusted proxy, whatever the client wrote before it.
    chain = ["198.51.100.77, 192.0.2.44, 10.0.0.9", "192.0.2.44"]
    assert statuses(proxy, chain) == [429, 429]


def test_forwarded_proto_from_a_trusted_proxy_only(client_at: ClientAt) -> None:
    """Addresses the service makes from the request (here a redirect) are https behind an
    https proxy, and only there."""
    headers = {"X-Forwarded-Proto": "https"}
    for peer, scheme in (("10.0.0.5", "https"), ("203.0.113.9", "http")):
        client = client_at(peer, forwarded_allow_ips=["10.0.0.0/8"])
        answer = client.get(f"{API}/activities/", headers=headers)
        assert answer.status_code == 307
        assert answer.headers["location"] == f"{scheme}://testserver{API}/activities"


def test_the_log_names_the_client(client_at: ClientAt, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    trusted = ["10.0.0.0/8"]
    for peer in ("10.0.0.5", "203.0.113.9"):
        client = client_at(peer, forwarded_allow_ips=trusted)
        client.get("/healthz", headers={"X-Forwarded-For": "192.0.2.44", "X-Request-ID": peer})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    clients = {line["request_id"]: line["client"] for line in lines if "request_id" in line}
    assert clients["10.0.0.5"] == "192.0.2.44"
    assert clients["203.0.113.9"] == "203.0.113.9"


def test_the_setting_takes_addresses_and_networks() -> None:
    settings = Settings(forwarded_allow_ips=" 10.1.2.3/8, 192.0.2.7 ,2001:db8::/32")
    assert settings.forwarded_allow_ips == ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
    assert Settings(forwarded_allow_ips="").forwarded_allow_ips == []
    with pytest.raises(ValidationError, match=r"'proxy\.internal' is not an IP address"):
        Settings(forwarded_allow_ips="10.0.0.0/8,proxy.internal")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_assistcal_serve_believes_no_proxy_by_default(tmp_path: Path) -> None:
    """Through a real socket from 127.0.0.1, which uvicorn would trust on its own (and which
    its FORWARDED_ALLOW_IPS names here): `assistcal serve` leaves the choice to the app."""
    port = _free_port()
    env = {
        **os.environ,
        "ASSISTCAL_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "ASSISTCAL_RATE_LIMIT_PER_ADDRESS": "3",
        "ASSISTCAL_WEBHOOK_WORKER": "false",
        "ASSISTCAL_FORWARDED_ALLOW_IPS": "",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, timeout=5) as client:
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, "assistcal serve stopped"
                assert time.monotonic() < deadline, "assistcal serve did not start"
                time.sleep(0.1)
            answers = [
                client.get(f"{API}/activities", headers={"X-Forwarded-For": a}).status_code
                for a in MADE_UP
            ]
        assert answers == [200, 200, 200, 429, 429]
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=20)
    assert "FORWARDED_ALLOW_IPS is uvicorn's and is not read" in errors
