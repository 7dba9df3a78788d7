"""PDF documents made from the pages' templates by WeasyPrint.

Rendering fetches nothing from the network: the only URLs it may read are the service's own
static files (`/static/...`, read from the package); anything else an HTML document names is
refused and left out.  Fonts come from the system (fontconfig).  Making a PDF is CPU-bound
and holds the GIL most of the time, so it runs in a worker thread, at most `AT_ONCE` per
process: more would only slow each other and the pages down."""

import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import weasyprint
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC = (Path(__file__).parent / "static").resolve()
BASE_URL = "https://assistcal.invalid/"  # what relative addresses in a document resolve against
AT_ONCE = 2
_turns = anyio.CapacityLimiter(AT_ONCE)

T = TypeVar("T")


class StaticFilesOnly(URLFetcher):
    """Serves `/static/<file>` from the package; refuses every other URL."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("https",), allow_redirects=False)

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}/" == BASE_URL and parts.path.startswith("/static/"):
            path = (STATIC / parts.path.removeprefix("/static/")).resolve()
            if path.parent == STATIC and path.is_file():
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": kind})
        raise ValueError(f"not fetched while making a PDF: {url}")


def pdf(html: str) -> bytes:
    """The PDF of an HTML document (its `@page` rules set the paper, margins and page
    numbers)."""
    document = weasyprint.HTML(string=html, base_url=BASE_URL, url_fetcher=StaticFilesOnly())
    return bytes(document.write_pdf())


async def in_turn(make: Callable[[], T]) -> T:
    """`make()` in a worker thread, once a turn is free."""
    return await anyio.to_thread.run_sync(make, limiter=_turns)
