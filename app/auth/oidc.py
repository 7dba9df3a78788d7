"""Single sign-on through an OpenID Connect provider (Entra ID, Keycloak, Google, Okta).

The authorization code flow with PKCE (S256) and a nonce, done by Authlib: `Provider.begin`
gives the URL to send the browser to, with the state, nonce and code verifier that the caller
keeps on the server until the browser comes back; `Provider.finish` trades the returned code
for tokens and checks the ID token (its signature against the provider's published keys, its
issuer, audience, expiry and nonce), giving the `Identity` it names.  The caller checks the
state itself and decides whom the identity may sign in (`Identity.email_verified` must be
true).  Every failure is one exception, `SignInRefused`, whose message may be shown.

Authlib's own `authorize_redirect`/`authorize_access_token` keep that data in a Starlette
session, which this service does not have; their lower methods are used instead.
"""

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from authlib.integrations.base_client import OAuthError

with warnings.catch_warnings():
    # Authlib 1.9 announces, on import, a move from httpx to httpx2; its httpx client works.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from email_validator import EmailNotValidError, validate_email
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError

from app.config import Settings

# What an exchange with the provider that went wrong raises: the HTTP client's errors (Authlib
# uses httpx2 where it is installed, deprecating httpx), ValueError for an answer not JSON.
UNREACHABLE: tuple[type[Exception], ...]
try:
    import httpx2  # type: ignore[import-not-found]

    UNREACHABLE = (httpx.HTTPError, httpx2.HTTPError, ValueError)
except ImportError:
    UNREACHABLE = (httpx.HTTPError, ValueError)

TIMEOUT_SECONDS = 10.0
SCOPE = "openid email profile"

Reason = Literal[
    "provider_refused",  # the provider sent the browser back with ?error=
    "no_code",  # the browser came back with neither a code nor an error
    "unreachable",  # discovery, keys or token endpoint: no answer, or not one we can read
    "misconfigured",  # the discovery document names another issuer or lacks an endpoint
    "token_refused",  # the token endpoint refused the code (expired, reused, wrong verifier)
    "no_id_token",
    "bad_signature",  # not signed by a key the provider publishes, or not a JWT at all
    "wrong_nonce",
    "wrong_issuer",
    "wrong_audience",
    "expired",
    "invalid_token",  # another claim missing or invalid
    "no_email",
]


# A claim of the ID token that failed its check: the reason, and why in words.
CLAIM_REFUSALS: dict[str, tuple[Reason, str]] = {
    "nonce": ("wrong_nonce", "it did not belong to this browser's sign-in."),
    "iss": ("wrong_issuer", "the identity came from another issuer."),
    "aud": ("wrong_audience", "the identity was meant for another service."),
    "azp": ("wrong_audience", "the identity was meant for another service."),
}


class SignInRefused(Exception):
    """A single sign-on that did not give an identity.  `message` is for the person (it holds
    no secret and no text from the provider); `detail` is for the log."""

    def __init__(self, reason: Reason, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message
        self.detail = detail

    def __repr__(self) -> str:
        return f"SignInRefused({self.reason!r}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class Begun:
    """Where to send the browser, and what to keep on the server until it comes back."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Whom the provider vouched for.  `email` is lower-cased; accept it only when
    `email_verified` is true."""

    email: str
    email_verified: bool
    name: str | None
    subject: str
    issuer: str


def _is_true(value: object) -> bool:
    """email_verified as providers send it: JSON true, or (some) the string "true"."""
    return value is True or value == "true"


def _without_slash(url: str) -> str:
    return url.rstrip("/")


class Provider:
    """The one OpenID Connect provider of the service.  Its discovery document and keys are
    fetched on first use and kept (the keys again when a token names a key not yet seen)."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        name: str,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.issuer = _without_slash(issuer)
        self.client_id = client_id
        self.name = name
        self._client: StarletteOAuth2App = OAuth().register(
            "oidc",
            server_metadata_url=self.issuer + "/.well-known/openid-configuration",
            client_id=client_id,
            client_secret=client_secret,
            client_kwargs={
                "scope": SCOPE,
                "code_challenge_method": "S256",
                "timeout": timeout,
            },
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "Provider | None":
        """The configured provider, or None when single sign-on is not configured."""
        issuer, client_id = settings.oidc_issuer, settings.oidc_client_id
        secret = settings.oidc_client_secret
        if issuer is None or client_id is None or secret is None:
            return None
        return cls(
            issuer=issuer,
            client_id=client_id,
            client_secret=secret.get_secret_value(),
            name=settings.oidc_name,
        )

    def _refused(self, reason: Reason, why: str, detail: object = None) -> SignInRefused:
        return SignInRefused(
            reason,
            f"The sign-in with {self.name} did not succeed: {why}",
            detail=None if detail is None else str(detail),
        )

    async def _metadata(self) -> Mapping[str, Any]:
        try:
            metadata: Mapping[str, Any] = await self._client.load_server_metadata()
        except UNREACHABLE as error:
            raise self._refused(
                "unreachable", "the provider could not be reached; try again later.", error
            ) from error
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer it was
        # fetched for, or its tokens' issuer would be checked against someone else's.
        found = metadata.get("issuer")
        if not isinstance(found, str) or _without_slash(found) != self.issuer:
            raise self._refused(
                "misconfigured",
                "the provider is not set up as this service expects.",
                f"discovery names issuer {found!r}, configured {self.issuer!r}",
            )
        missing = [
            key
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
            if not metadata.get(key)
        ]
        if missing:
            raise self._refused(
                "misconfigured",
                "the provider is not set up as this service expects.",
                f"discovery lacks {', '.join(missing)}",
            )
        return metadata

    async def begin(self, redirect_uri: str) -> Begun:
        """Start a sign-in: the provider's URL to redirect the browser to, with a fresh state,
        nonce and PKCE code verifier (S256) to keep until the callback."""
        await self._metadata()
        started = await self._client.create_authorization_url(redirect_uri)
        return Begun(
            url=started["url"],
            state=started["state"],
            nonce=started["nonce"],
            code_verifier=started["code_verifier"],
        )

    def refusal_from_callback(self, params: Mapping[str, str]) -> SignInRefused | None:
        """What the browser brought back to the redirect URI, read before anything else:
        a refusal when the provider sent an error (the person cancelled, or is not allowed)
        or no code; None when there is a code to `finish` with (the caller checks the state)."""
        error = params.get("error")
        if error:
            description = params.get("error_description")
            why = (
                "it was cancelled or not allowed there."
                if error in ("access_denied", "consent_required", "interaction_required")
                else "the provider refused it."
            )
            return self._refused(
                "provider_refused", why, error + (f": {description}" if description else "")
            )
        if not params.get("code"):
            return self._refused("no_code", "the provider sent no answer to sign in with.")
        return None

    async def finish(
        self, *, redirect_uri: str, code: str, code_verifier: str, nonce: str
    ) -> Identity:
        """Trade the callback's code for tokens and check the ID token: signed by one of the
        provider's published keys, issued by the configured issuer for this client, not
        expired, and carrying `nonce`.  Refuses a token without an e-mail address."""
        if not nonce:  # Authlib checks the nonce only when one is given
            raise self._refused("wrong_nonce", "the sign-in had expired; start again.")
        await self._metadata()
        try:
            token = await self._client.fetch_access_token(
                redirect_uri=redirect_uri, code=code, code_verifier=code_verifier
            )
        except OAuthError as error:
            raise self._refused(
                "token_refused", "the provider did not accept it; start again.", error
            ) from error
        except UNREACHABLE as error:
            raise self._refused(
                "unreachable", "the provider could not be reached; try again later.", error
            ) from error
        if "id_token" not in token:
            raise self._refused("no_id_token", "the provider sent no identity.")
        claims = await self._id_token_claims(token, nonce)
        return self._identity(claims)

    async def _id_token_claims(self, token: Mapping[str, Any], nonce: str) -> Mapping[str, Any]:
        metadata = await self._metadata()
        options = {
            "iss": {"essential": True, "values": [metadata["issuer"]]},
            # Authlib by itself accepts any audience when azp names this client.
            "aud": {"essential": True, "values": [self.client_id]},
        }
        try:
            claims: Mapping[str, Any] = await self._client.parse_id_token(
                token, nonce=nonce, claims_options=options, leeway=60
            )
        except ExpiredTokenError as error:
            raise self._refused("expired", "the identity it sent had expired.", error) from error
        except ClaimError as error:
            reason, why = CLAIM_REFUSALS.get(
                error.claim, ("invalid_token", "the identity it sent was not valid.")
            )
            raise self._refused(reason, why, error) from error
        except JoseError as error:
            raise self._refused(
                "bad_signature", "the identity it sent was not signed by it.", error
            ) from error
        except UNREACHABLE as error:  # the keys could not be fetched
            raise self._refused(
                "unreachable", "the provider could not be reached; try again later.", error
            ) from error
        return claims

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        email = claims.get("email")
        try:
            if not isinstance(email, str):
                raise EmailNotValidError("no email claim")
            email = email.strip().lower()
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as error:
            raise self._refused(
                "no_email",
                f"{self.name} did not tell this service your e-mail address.",
                error,
            ) from error
        name = claims.get("name")
        return Identity(
            email=email,
            email_verified=_is_true(claims.get("email_verified")),
            name=(name.strip() or None) if isinstance(name, str) else None,
            subject=str(claims["sub"]),
            issuer=str(claims["iss"]),
        )
