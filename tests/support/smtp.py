"""A real SMTP server for the tests (aiosmtpd), on a free loopback port: plain, STARTTLS with
a login, or SMTPS, with certificates of a CA made for the test (trustme)."""

import socket
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import quote

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "calendar@example.org", "p:w/@ 1540"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    """What the server was sent, and the answers it gives to RCPT in turn (then 250)."""

    url: str = ""
    refusals: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # user, password, TLS

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.logins.append((login, password, tls))
        return AuthResult(success=(login, password) == (USER, PASSWORD))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(mode: str, ca: trustme.CA) -> tuple[SmtpServer, Controller]:
    """mode: "smtp" (no encryption, no login), "smtp+starttls" (STARTTLS required, a login
    offered) or "smtps" (TLS from the start, a login offered); `logins` says which were made
    and whether over TLS."""
    server = SmtpServer()
    port = free_port()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
    options: dict[str, Any] = {}
    if mode == "smtp+starttls":
        options = {"tls_context": tls, "require_starttls": True}
    if mode == "smtps":  # aiosmtpd offers AUTH over TLS it did not start itself only so
        options = {"ssl_context": tls, "auth_require_tls": False}
    if mode != "smtp":
        options["authenticator"] = server.authenticate
    controller = Controller(server, hostname="127.0.0.1", port=port, **options)
    controller.start()
    login = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@" if mode != "smtp" else ""
    server.url = f"{mode}://{login}127.0.0.1:{port}"
    return server, controller
