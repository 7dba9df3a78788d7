"""Where a webhook may send: no IPv6 form of an inside address, and a delivery connects to the
very address that was checked (a DNS server that answers differently the second time reaches
nothing), with the Host header, SNI and certificate of the URL's name.

No test here lets a connection leave the machine: `outside` refuses, and records, every
connection to an address other than loopback before a packet is sent."""

import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.core.timeutil import utcnow
from app.main import create_app
from app.webhooks import destination
from app.webhooks.delivery import deliver_due
from app.webhooks.destination import http_client
from tests.conftest import KeyMaker
from tests.helpers import auth
from tests.webhooks.test_webhooks import API, Receiver, post_activity, subscribe

PUBLIC = "93.184.215.14"  # any public address: never connected to (see `outside`)

INSIDE_IN_IPV6 = (
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "http://[64:ff9b:1::a9fe:a9fe]/hook",  # the local-use NAT64 prefix
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://[::ffff:10.0.0.1]/hook",  # IPv4-mapped
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",  # Teredo, client 10.0.0.1
)


@pytest.fixture
def outside(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses something tried to connect to beyond loopback; each attempt fails at
    once (ECONNREFUSED) without leaving the machine."""
    attempts: list[str] = []
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            attempts.append(host)
            raise ConnectionRefusedError(111, "the test lets no connection leave the machine")
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


Resolver = Callable[[str, list[str]], list[str]]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    """dns(name, [answer, answer, ...]): `name` resolves to each answer in turn (the last
    one from then on), as a rebinding DNS server with a zero TTL would answer; every lookup
    of it is kept in the list returned.  Other names resolve as usual."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    asked: dict[str, list[str]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in answers:
            return real(host, port, *args, **kwargs)
        queue = answers[name]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        asked[name].append(address)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]

    def script(name: str, replies: list[str]) -> list[str]:
        answers[name] = list(replies)
        asked[name] = []
        return asked[name]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return script


def attempt_log(client: TestClient, key: str, webhook_id: str) -> list[str | None]:
    log = client.get(f"{API}/webhooks/{webhook_id}/deliveries", headers=auth(key)).json()
    return [attempt["error"] for attempt in log["items"][0]["log"]]


def test_ipv6_forms_of_inside_addresses_are_refused(
    make_key: KeyMaker, settings: Settings, outside: list[str]
) -> None:
    key = make_key("UNLIREC", "provider")
    strict = settings.model_copy(update={"webhook_allow_private": False})
    with TestClient(create_app(strict)) as client:
        for url in INSIDE_IN_IPV6:
            refused = subscribe(client, key, url, "activity.created")
            assert refused.status_code == 422, (url, refused.text)
            [detail] = refused.json()["error"]["details"]
            assert detail["field"] == "url"
            assert "inside a network" in detail["message"] or "NAT64" in detail["message"]
        # A public IPv4 address behind the NAT64 prefix is a public destination.
        public = subscribe(client, key, "http://[64:ff9b::808:808]/hook", "activity.created")
        assert public.status_code == 201, public.text
    assert outside == []  # literal addresses: nothing to resolve, nothing connected to


def test_a_webhook_that_became_an_inside_address_in_ipv6_gets_nothing(
    make_key: KeyMaker, settings: Settings, engine: Engine, outside: list[str]
) -> None:
    """Checked again as each delivery connects: a webhook made while private addresses
    were allowed, here an IPv6 form of an inside address, is not called once they are not."""
    key = make_key("UNLIREC", "provider")
    with TestClient(create_app(settings)) as client:
        made = subscribe(client, key, "http://[64:ff9b::a9fe:a9fe]/hook", "activity.created")
        assert made.status_code == 201
        post_activity(client, key)
    with http_client(timeout=5) as http:
        assert deliver_due(engine, client=http, now=lambda: utcnow() + timedelta(seconds=1)) == 1
    assert outside == []  # not even tried
    with TestClient(create_app(settings)) as client:
        [error] = attempt_log(client, key, made.json()["id"])
    assert str(error).startswith("destination refused")


def test_a_delivery_connects_to_the_address_that_was_checked(
    make_key: KeyMaker,
    settings: Settings,
    engine: Engine,
    receiver: Receiver,
    dns: Resolver,
    outside: list[str],
) -> None:
    """A rebinding DNS server answers a public address, then 127.0.0.1.  The delivery
    resolves once, checks that answer and connects to it: the local receiver, which the
    second answer would reach, receives nothing."""
    key = make_key("UNLIREC", "provider")
    port = receiver.server.server_address[1]
    url = f"http://rebinding.test:{port}/hook"
    with TestClient(create_app(settings)) as client:
        made = subscribe(client, key, url, "activity.created")
        assert made.status_code == 201
        post_activity(client, key)
    lookups = dns("rebinding.test", [PUBLIC, "127.0.0.1"])
    at = utcnow() + timedelta(seconds=1)
    with http_client(timeout=5) as http:
        assert deliver_due(engine, client=http, now=lambda: at) == 1
        assert receiver.received == []
        assert outside == [PUBLIC]  # the connection went to the address checked
        assert deliver_due(engine, client=http, now=lambda: at + timedelta(minutes=1)) == 1
    assert lookups == [PUBLIC, "127.0.0.1"]  # one lookup a delivery
    assert outside == [PUBLIC]  # the second, to 127.0.0.1, was refused before connecting
    assert receiver.received == []
    with TestClient(create_app(settings)) as client:
        errors = attempt_log(client, key, made.json()["id"])
    assert errors[0] == "ConnectError"
    assert str(errors[1]).startswith("destination refused")


class TLSReceiver:
    """An https endpoint on 127.0.0.1 with a certificate for `name`, signed by a test CA;
    it keeps the server name each handshake asked for and the Host header of each request."""

    def __init__(self, ca: trustme.CA, name: str) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(context)

        def remember(_sock: Any, server_name: str | None, _context: Any) -> None:
            receiver.server_names.append(server_name)

        context.sni_callback = remember
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_https_to_the_checked_address_verifies_the_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dns: Resolver, outside: list[str]
) -> None:
    """Connecting to the address checked, not to the name, keeps TLS about the name: the
    handshake asks for it (SNI), the certificate must be for it, and the Host header is the
    URL's.  (Loopback stands in for a public receiver here: it is let through the check.)"""
    checked = destination.refusal
    monkeypatch.setattr(destination, "refusal", lambda ip: None if ip.is_loopback else checked(ip))
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    receiver = TLSReceiver(ca, "hooks.receiver.test")
    try:
        lookups = dns("hooks.receiver.test", ["127.0.0.1"])
        dns("impostor.test", ["127.0.0.1"])
        with http_client(timeout=5) as http:
            answer = http.post(f"https://hooks.receiver.test:{receiver.port}/hook", content=b"{}")
            assert answer.status_code == 204
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                http.post(f"https://impostor.test:{receiver.port}/hook", content=b"{}")
    finally:
        receiver.close()
    assert lookups == ["127.0.0.1"]  # resolved once, by the check
    assert receiver.server_names == ["hooks.receiver.test", "impostor.test"]
    assert receiver.hosts == [f"hooks.receiver.test:{receiver.port}"]
    assert outside == []
