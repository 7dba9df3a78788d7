from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller

from tests.support.smtp import SmtpServer, start


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def smtp_server(ca: trustme.CA) -> Iterator[Callable[[str], SmtpServer]]:
    """smtp_server("smtp" | "smtp+starttls" | "smtps") -> a running server, stopped after."""
    controllers: list[Controller] = []

    def make(mode: str) -> SmtpServer:
        server, controller = start(mode, ca)
        controllers.append(controller)
        return server

    yield make
    for controller in controllers:
        controller.stop()
