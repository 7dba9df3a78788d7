"""The API documentation page, /docs (Swagger UI), and the favicon, served by the service
itself: nothing is fetched from another host, so they work on a closed network.

Swagger UI's files come from the fastapi-offline package (a pinned dependency that ships
swagger-ui-dist), mounted at /static/docs.  The page is FastAPI's own, with the pages'
Content-Security-Policy; its inline start-up script is allowed by its hash, not by
'unsafe-inline'.

There is no /redoc: ReDoc's bundle always shows its maker's logo, an image from their CDN, so
it cannot work on a closed network without an error.  /docs and /openapi.json say the same."""

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.http.operations import csp

ASSETS = "/static/docs"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
FAVICON = Path(__file__).parent / "static" / "favicon.ico"
# FastAPI's page has one kind of inline script: a bare <script> element.
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


def with_policy(page: HTMLResponse) -> HTMLResponse:
    """The pages' CSP on `page`, allowing exactly the inline scripts it holds."""
    body = bytes(page.body).decode()
    hashes = [
        base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        for script in _INLINE_SCRIPT.findall(body)
    ]
    page.headers["Content-Security-Policy"] = csp(*hashes)
    page.headers["X-Frame-Options"] = "DENY"
    return page


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    app: FastAPI = request.app
    page = get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} · API documentation",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon.svg",
        # The API's keys are bearer tokens: no OAuth2 flow, so no redirect page.
        oauth2_redirect_url=None,
    )
    # The documentation is in English: screen readers read it so (FastAPI's page says not).
    body = bytes(page.body).decode().replace("<html>", '<html lang="en">', 1)
    return with_policy(HTMLResponse(body))


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """For browsers that ask without reading the page's <link rel=icon> (and for JSON)."""
    return FileResponse(FAVICON, media_type="image/vnd.microsoft.icon")


def install(app: FastAPI) -> None:
    """The documentation page and its files.  The app must be made with docs_url=None and
    redoc_url=None (FastAPI's own pages load their files from a CDN), and this mount must come
    before the one at /static."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
