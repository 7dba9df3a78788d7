"""Single sign-on against a real OpenID Connect provider (oauth2-mock-server, run by node).

The browser's part is played by httpx: it follows the authorization URL to the provider's
/authorize, which redirects straight back to the redirect URI with a code and the state."""

import base64
import hashlib
import socket
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import ValidationError

from app.auth.oidc import Begun, Identity, Provider, SignInRefused
from app.config import Settings
from tests.support.oidc import OidcServer

pytestmark = pytest.mark.anyio

REDIRECT_URI = "https://calendar.example.org/auth/oidc/callback"
CLIENT_ID = "assistcal-test"
CLIENT_SECRET = "s3cret-never-shown"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def provider_for(server: OidcServer, **overrides: Any) -> Provider:
    options = {
        "issuer": server.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "name": "Test ID",
    }
    return Provider(**(options | overrides))


async def authorize(begun: Begun) -> dict[str, str]:
    """The browser at the provider: the query it brings back to the redirect URI."""
    async with httpx.AsyncClient(timeout=10) as browser:
        answer = await browser.get(begun.url)
    assert answer.status_code == 302, answer.text
    back = httpx.URL(answer.headers["location"])
    assert str(back.copy_with(query=None)) == REDIRECT_URI
    return dict(back.params)


async def sign_in(provider: Provider, **finish: str) -> Identity:
    """The whole flow as the caller does it: begin, the browser, the state checked, finish."""
    begun = await provider.begin(REDIRECT_URI)
    params = await authorize(begun)
    assert provider.refusal_from_callback(params) is None
    assert params["state"] == begun.state
    arguments = {"code": params["code"], "code_verifier": begun.code_verifier}
    arguments |= {"nonce": begun.nonce} | finish
    return await provider.finish(redirect_uri=REDIRECT_URI, **arguments)


async def refused(provider: Provider, **finish: str) -> SignInRefused:
    with pytest.raises(SignInRefused) as raised:
        await sign_in(provider, **finish)
    assert CLIENT_SECRET not in str(raised.value)
    assert raised.value.message.startswith("The sign-in with Test ID did not succeed: ")
    return raised.value


async def test_a_sign_in_gives_the_identity_the_provider_vouched_for(oidc: OidcServer) -> None:
    oidc.set_identity("Ana.Lopez@Example.ORG", verified=True, name="Ana López")
    identity = await sign_in(provider_for(oidc))
    assert identity == Identity(
        email="ana.lopez@example.org",
        email_verified=True,
        name="Ana López",
        subject="johndoe",  # the mock server's one subject
        issuer=oidc.issuer,
    )
    oidc.set_identity("ben@example.org", verified=True, name=None)
    assert (await sign_in(provider_for(oidc))).email == "ben@example.org"


async def test_the_authorization_url_asks_for_a_code_with_pkce_s256_and_a_nonce(
    oidc: OidcServer,
) -> None:
    provider = provider_for(oidc)
    first, second = await provider.begin(REDIRECT_URI), await provider.begin(REDIRECT_URI)
    url = httpx.URL(first.url)
    assert str(url.copy_with(query=None)) == oidc.issuer + "/authorize"
    query = dict(url.params)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(first.code_verifier.encode()).digest())
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": first.state,
        "nonce": first.nonce,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    assert CLIENT_SECRET not in first.url
    for secret in ("state", "nonce", "code_verifier"):  # fresh for each sign-in
        assert len(getattr(first, secret)) >= 20
        assert getattr(first, secret) != getattr(second, secret)


@pytest.mark.parametrize(
    ("claim", "verified"),
    [(True, True), ("true", True), (False, False), ("false", False), (None, False), (1, False)],
)
async def test_email_verified_is_true_only_when_the_provider_says_true(
    oidc: OidcServer, claim: object, verified: bool
) -> None:
    oidc.set_identity("ana@example.org", verified=claim, name="Ana")
    identity = await sign_in(provider_for(oidc))
    assert (identity.email, identity.email_verified) == ("ana@example.org", verified)


@pytest.mark.parametrize("email", [None, "", "johndoe", 42])
async def test_a_token_without_an_email_address_is_refused(oidc: OidcServer, email: object) -> None:
    if email is None:
        oidc.set_identity(None, verified=True, name="Ana")
    else:
        oidc.set_next(claims={"email": email, "email_verified": True})
    refusal = await refused(provider_for(oidc))
    assert refusal.reason == "no_email"
    assert "Test ID did not tell this service your e-mail address" in refusal.message


async def test_another_sign_ins_nonce_is_refused(oidc: OidcServer) -> None:
    oidc.set_identity("ana@example.org")
    provider = provider_for(oidc)
    other = await provider.begin(REDIRECT_URI)
    assert (await refused(provider, nonce=other.nonce)).reason == "wrong_nonce"
    assert (await refused(provider, nonce="")).reason == "wrong_nonce"


async def test_a_wrong_code_verifier_is_refused_by_the_provider(oidc: OidcServer) -> None:
    oidc.set_identity("ana@example.org")
    provider = provider_for(oidc)
    other = await provider.begin(REDIRECT_URI)
    refusal = await refused(provider, code_verifier=other.code_verifier)
    assert refusal.reason == "token_refused"
    assert "code_verifier provided does not match code_challenge" in str(refusal.detail)


async def test_a_token_altered_after_signing_is_refused(oidc: OidcServer) -> None:
    oidc.set_identity("ana@example.org")
    oidc.set_next(claims={"email": "ana@example.org", "email_verified": True}, tamper=True)
    assert (await refused(provider_for(oidc))).reason == "bad_signature"


async def test_a_token_signed_by_another_key_under_the_providers_key_id_is_refused(
    oidc: OidcServer,
) -> None:
    async with httpx.AsyncClient() as client:
        published = (await client.get(oidc.issuer + "/jwks")).json()["keys"]
    provider = provider_for(oidc)
    begun = await provider.begin(REDIRECT_URI)
    params = await authorize(begun)
    now = int(time.time())
    claims = {
        "iss": oidc.issuer,
        "aud": CLIENT_ID,
        "sub": "johndoe",
        "iat": now,
        "exp": now + 300,
        "nonce": begun.nonce,
        "email": "ana@example.org",
        "email_verified": True,
    }
    forger = RSAKey.generate_key(2048, parameters={"kid": published[0]["kid"]})
    oidc.set_next(id_token=jwt.encode({"alg": "RS256", "kid": forger.kid}, claims, forger))
    with pytest.raises(SignInRefused) as raised:
        await provider.finish(
            redirect_uri=REDIRECT_URI,
            code=params["code"],
            code_verifier=begun.code_verifier,
            nonce=begun.nonce,
        )
    assert raised.value.reason == "bad_signature"


async def test_a_genuine_token_of_another_provider_is_refused(
    oidc: OidcServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.support.oidc import start_oidc_server

    other = start_oidc_server(tmp_path_factory.mktemp("other"))
    try:
        other.set_identity("ana@example.org")
        other_provider = provider_for(other)
        begun = await other_provider.begin(REDIRECT_URI)
        params = await authorize(begun)
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                other.issuer + "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": params["code"],
                    "code_verifier": begun.code_verifier,
                    "client_id": CLIENT_ID,
                },
            )
    finally:
        other.stop()
    stolen = answer.json()["id_token"]
    oidc.set_next(id_token=stolen)
    provider = provider_for(oidc)
    # the stolen token carries the other provider's nonce: give it, so only the key can fail
    mine = await provider.begin(REDIRECT_URI)
    mine_params = await authorize(mine)
    with pytest.raises(SignInRefused) as raised:
        await provider.finish(
            redirect_uri=REDIRECT_URI,
            code=mine_params["code"],
            code_verifier=mine.code_verifier,
            nonce=begun.nonce,
        )
    assert raised.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://elsewhere.example.org"}, "wrong_issuer"),
        ({"aud": "another-service"}, "wrong_audience"),
        # Authlib alone would take this one: azp names the client, aud does not
        ({"aud": "another-service", "azp": CLIENT_ID}, "wrong_audience"),
        ({"azp": "another-service"}, "wrong_audience"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200}, "expired"),
    ],
)
async def test_a_token_for_someone_else_or_out_of_date_is_refused(
    oidc: OidcServer, claims: dict[str, Any], reason: str
) -> None:
    oidc.set_next(claims={"email": "ana@example.org", "email_verified": True} | claims)
    assert (await refused(provider_for(oidc))).reason == reason


async def test_a_provider_that_names_another_issuer_is_refused(oidc: OidcServer) -> None:
    """The same server under another name: its discovery document names its own."""
    port = httpx.URL(oidc.issuer).port
    provider = provider_for(oidc, issuer=f"http://localhost:{port}")
    with pytest.raises(SignInRefused) as raised:
        await provider.begin(REDIRECT_URI)
    assert raised.value.reason == "misconfigured"
    assert f"'http://127.0.0.1:{port}'" in str(raised.value.detail)


async def test_an_unreachable_provider_is_refused() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = Provider(
        issuer=f"http://127.0.0.1:{port}", client_id=CLIENT_ID, client_secret="x", name="Test ID"
    )
    with pytest.raises(SignInRefused) as raised:
        await provider.begin(REDIRECT_URI)
    assert raised.value.reason == "unreachable"
    assert raised.value.message == (
        "The sign-in with Test ID did not succeed: the provider could not be reached; "
        "try again later."
    )


async def test_the_discovery_document_is_fetched_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.support.oidc import start_oidc_server

    server = start_oidc_server(tmp_path_factory.mktemp("once"))
    provider = provider_for(server)
    try:
        first = await provider.begin(REDIRECT_URI)
    finally:
        server.stop()
    second = await provider.begin(REDIRECT_URI)  # the server is gone
    assert httpx.URL(second.url).host == httpx.URL(first.url).host


async def test_the_provider_sending_an_error_back_is_a_refusal(oidc: OidcServer) -> None:
    provider = provider_for(oidc)
    begun = await provider.begin(REDIRECT_URI)
    # the mock provider answers an unsupported response_type with ?error= on the redirect
    url = httpx.URL(begun.url).copy_set_param("response_type", "token")
    params = await authorize(Begun(str(url), begun.state, begun.nonce, begun.code_verifier))
    refusal = provider.refusal_from_callback(params)
    assert refusal is not None
    assert (refusal.reason, refusal.message) == (
        "provider_refused",
        "The sign-in with Test ID did not succeed: the provider refused it.",
    )
    assert str(refusal.detail).startswith("unsupported_response_type: ")

    cancelled = provider.refusal_from_callback(
        {"error": "access_denied", "error_description": "Call +1 555 0100 to sign in", "state": "x"}
    )
    assert cancelled is not None
    assert cancelled.reason == "provider_refused"
    assert cancelled.message.endswith("it was cancelled or not allowed there.")
    assert "555" not in cancelled.message  # the provider's words go to the log only
    assert cancelled.detail == "access_denied: Call +1 555 0100 to sign in"

    nothing = provider.refusal_from_callback({"state": "x"})
    assert nothing is not None
    assert nothing.reason == "no_code"


def settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "given",
    [
        {"oidc_issuer": "https://login.example.org/tenant/v2.0"},
        {"oidc_client_id": "assistcal"},
        {"oidc_client_secret": "secret-value-9"},
        {"oidc_issuer": "https://login.example.org", "oidc_client_id": "assistcal"},
        {"oidc_client_id": "assistcal", "oidc_client_secret": "secret-value-9"},
    ],
)
def test_partial_single_sign_on_settings_are_refused(given: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(**given)
    text = str(raised.value)
    assert "single sign-on needs ASSISTCAL_OIDC_ISSUER, ASSISTCAL_OIDC_CLIENT_ID and" in text
    assert "missing: ASSISTCAL_OIDC_" in text
    assert "secret-value-9" not in text


def test_single_sign_on_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not settings().oidc_enabled
    assert Provider.from_settings(settings()) is None
    monkeypatch.setenv("ASSISTCAL_OIDC_ISSUER", "")  # blank, as a compose file leaves it
    monkeypatch.setenv("ASSISTCAL_OIDC_CLIENT_ID", "")
    assert not settings().oidc_enabled
    monkeypatch.setenv("ASSISTCAL_OIDC_ISSUER", "https://login.example.org/tenant/v2.0/")
    monkeypatch.setenv("ASSISTCAL_OIDC_CLIENT_ID", "assistcal")
    monkeypatch.setenv("ASSISTCAL_OIDC_CLIENT_SECRET", "secret-value-9")
    monkeypatch.setenv("ASSISTCAL_OIDC_NAME", "UN Entra ID")
    configured = settings()
    assert configured.oidc_enabled
    provider = Provider.from_settings(configured)
    assert provider is not None
    assert (provider.issuer, provider.client_id, provider.name) == (
        "https://login.example.org/tenant/v2.0",
        "assistcal",
        "UN Entra ID",
    )
    monkeypatch.setenv("ASSISTCAL_OIDC_ISSUER", "login.example.org")
    with pytest.raises(ValidationError, match="oidc_issuer"):
        settings()
