"""A real OpenID Connect provider for tests: oauth2-mock-server run by node (server.mjs).

    server = start_oidc_server(tmp_path)      # skips without node or the package
    server.set_identity("ana@example.org", verified=True, name="Ana")
    ... Provider(issuer=server.issuer, client_id=..., client_secret=..., name=...) ...
    server.stop()

The `oidc_server` fixture of tests/auth/conftest.py does the same for a module.  .ci/run
installs the package in .ci/node (npm install --prefix .ci/node oauth2-mock-server@8) and sets
ASSISTCAL_REQUIRE_OIDC=1, which turns the skip into a failure; ASSISTCAL_OAUTH2_MOCK_SERVER may
name another installed copy.

What the mock server checks and what it does not: its /authorize redirects straight back to
any redirect_uri with a code and the state, no login page; its token endpoint checks PKCE
(a code_verifier against the code_challenge sent to /authorize, S256 or plain) and puts the
nonce it was given in the ID token, but accepts any client id and secret and any code it never
issued (without a code_verifier, PKCE is not checked either); it never checks the nonce, which
is the client's job.
"""

import json
import os
import selectors
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("server.mjs")
REQUIRE_ENV = "ASSISTCAL_REQUIRE_OIDC"
START_SECONDS = 20


def mock_server_module() -> Path | None:
    """Where oauth2-mock-server is: ASSISTCAL_OAUTH2_MOCK_SERVER, or .ci/node."""
    candidates = [
        os.environ.get("ASSISTCAL_OAUTH2_MOCK_SERVER"),
        ROOT / ".ci/node/node_modules/oauth2-mock-server",
    ]
    for candidate in candidates:
        if candidate and Path(candidate, "package.json").exists():
            return Path(candidate)
    return None


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class OidcServer:
    """A running mock provider.  `issuer` is its URL; what the next ID token says is set with
    `set_identity` (or `set_next`), read by the server when it signs the token."""

    issuer: str
    process: subprocess.Popen[bytes]
    identity_file: Path

    def set_next(
        self,
        *,
        claims: dict[str, Any] | None = None,
        remove: list[str] | None = None,
        tamper: bool = False,
        id_token: str | None = None,
    ) -> None:
        """The next ID tokens: `claims` merged in, `remove` taken out, `tamper` altering the
        payload after signing, `id_token` sent instead of the one signed here."""
        identity: dict[str, Any] = {"claims": claims or {}, "remove": remove or []}
        if tamper:
            identity["tamper"] = True
        if id_token is not None:
            identity["id_token"] = id_token
        written = self.identity_file.with_suffix(".tmp")
        written.write_text(json.dumps(identity))
        written.replace(self.identity_file)  # never read half-written

    def set_identity(
        self, email: str | None, verified: object = True, name: str | None = None
    ) -> None:
        """Who signs in next: `email` (None: no email claim), `verified` as the email_verified
        claim's value (None: no such claim), `name` (None: no name claim)."""
        claims: dict[str, Any] = {}
        remove = []
        for claim, value in (("email", email), ("email_verified", verified), ("name", name)):
            if value is None:
                remove.append(claim)
            else:
                claims[claim] = value
        self.set_next(claims=claims, remove=remove)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def start_oidc_server(directory: Path, *, port: int = 0) -> OidcServer:
    """Start the mock provider on 127.0.0.1 (any free port by default) and wait until it
    answers; its identity file and log go in `directory`.  Skips (or fails under
    ASSISTCAL_REQUIRE_OIDC=1) without node or oauth2-mock-server."""
    node = shutil.which("node")
    module = mock_server_module()
    if node is None or module is None:
        _unavailable(
            "needs node and oauth2-mock-server (.ci/run installs them: "
            "npm install --prefix .ci/node oauth2-mock-server@8)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    identity_file = directory / "oidc-identity.json"
    log = directory / "oidc-server.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [node, str(SCRIPT), str(module), str(port), str(identity_file)],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=START_SECONDS)
    line = process.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("http"):
        process.kill()
        process.wait()
        process.stdout.close()
        pytest.fail(f"the OpenID Connect mock server did not start: {log.read_text()[-2000:]}")
    server = OidcServer(issuer=line, process=process, identity_file=identity_file)
    server.set_next()
    return server
