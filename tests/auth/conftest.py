from collections.abc import Iterator

import pytest

from app.config import Settings
from tests.support.oidc import OidcServer, start_oidc_server


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The service's address, which links sent by e-mail are made from."""
    return settings.model_copy(update={"public_url": "http://testserver"})


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    """One mock provider for a test module; each test sets who signs in."""
    server = start_oidc_server(tmp_path_factory.mktemp("oidc"))
    yield server
    server.stop()


@pytest.fixture
def oidc(oidc_server: OidcServer) -> Iterator[OidcServer]:
    """The module's provider, its next identity reset after the test."""
    yield oidc_server
    oidc_server.set_next()
