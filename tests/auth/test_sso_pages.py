"""Single sign-on through the pages, against the real OpenID Connect provider the tests run
(oauth2-mock-server): the sign-on ends in the browser that began it, once, and signs in only
an invited person whose address the provider vouched for."""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from app.config import Settings
from app.main import create_app
from tests.helpers import make_member
from tests.support.oidc import OidcServer

ANA = "ana.perez@oas.org"


@pytest.fixture
def site(settings: Settings, oidc: OidcServer, clean_db: None) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={
            "oidc_issuer": oidc.issuer,
            "oidc_client_id": "assistcal-test",
            "oidc_client_secret": SecretStr("a-secret-for-the-test"),
            "oidc_name": "UN Entra ID",
            "public_url": "https://testserver",
        }
    )
    with TestClient(create_app(configured), base_url="https://testserver") as client:
        yield client


def begin(browser: TestClient) -> str:
    """The browser starts a sign-on and the provider sends it back: the callback's URL."""
    started = browser.get("/auth/oidc/start?next=/calendar", follow_redirects=False)
    assert started.status_code == 303, started.text
    assert "assistcal_sso=" in started.headers["set-cookie"]
    at_provider = httpx.get(started.headers["location"], follow_redirects=False)
    back = at_provider.headers["location"]
    assert back.startswith("https://testserver/auth/oidc/callback?")
    assert parse_qs(urlsplit(back).query)["code"]
    return back.removeprefix("https://testserver")


def test_the_sign_on_ends_in_the_browser_that_began_it_and_once(
    site: TestClient, oidc: OidcServer, engine: Engine
) -> None:
    make_member(engine, "OAS-CICTE", ANA, name="Ana Pérez")
    oidc.set_identity(ANA, verified=True, name="Ana")
    assert 'href="/auth/oidc/start?next=' in site.get("/sign-in").text

    callback = begin(site)
    other = TestClient(site.app, base_url="https://testserver")
    sent_elsewhere = other.get(callback, follow_redirects=False)
    assert sent_elsewhere.status_code == 400  # another browser: no session for it
    assert "assistcal_session" not in sent_elsewhere.headers.get("set-cookie", "")

    callback = begin(site)
    signed = site.get(callback, follow_redirects=False)
    assert (signed.status_code, signed.headers["location"]) == (303, "/calendar")
    assert "Ana Pérez" in site.get("/").text
    replayed = site.get(callback, follow_redirects=False)
    assert replayed.status_code == 400


def test_single_sign_on_signs_in_no_one_uninvited_or_unverified(
    site: TestClient, oidc: OidcServer, engine: Engine
) -> None:
    make_member(engine, "OAS-CICTE", ANA)
    oidc.set_identity(ANA, verified=False)
    refused = site.get(begin(site), follow_redirects=False)
    assert refused.status_code == 403
    assert "did not confirm" in refused.text
    oidc.set_identity("someone@oas.org", verified=True)
    refused = site.get(begin(site), follow_redirects=False)
    assert refused.status_code == 403
    assert "no invitation" in refused.text
    assert "Sign out" not in site.get("/").text
