"""The API documentation and the favicon without a browser: /docs names only files the
service serves itself, its one inline script is allowed by its hash, and /favicon.ico is an
icon.  (tests/e2e/test_offline.py opens them in Chromium.)"""

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


@pytest.fixture(scope="module")
def client() -> TestClient:
    # No lifespan: these routes touch no database.
    return TestClient(create_app(Settings(database_url="sqlite://")))


def test_the_api_documentation_names_only_files_the_service_serves(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    named = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert len(named) == 3, named  # Swagger UI's script and style sheet, and the icon
    assert all(url.startswith("/") and not url.startswith("//") for url in named), named
    kinds = {url: client.get(url) for url in named}
    assert {url: answer.status_code for url, answer in kinds.items()} == dict.fromkeys(named, 200)
    script = kinds["/static/docs/swagger-ui-bundle.js"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in script.content
    assert kinds["/static/docs/swagger-ui.css"].headers["content-type"].startswith("text/css")
    assert kinds["/static/favicon.svg"].headers["content-type"] == "image/svg+xml"


def test_the_documentation_allows_its_start_up_script_by_its_hash(client: TestClient) -> None:
    page = client.get("/docs")
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert len(inline) == 1
    assert "SwaggerUIBundle(" in inline[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
    assert policy["default-src"] == "'self'"


def test_the_favicon_is_an_icon_of_the_service(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/vnd.microsoft.icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header: one image
    assert icon.content[22:30] == b"\x89PNG\r\n\x1a\n"


def test_redoc_is_not_served(client: TestClient) -> None:
    """Its bundle always shows an image from its maker's CDN (app/web/docs.py)."""
    assert client.get("/redoc").status_code == 404
