"""How errors are answered: one JSON body for the API (`render`), pages for the pages."""

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.i18n import N_
from app.errors import AppError, FieldError, NotFound, Unavailable, ValidationFailed
from app.http.operations import is_page

log = logging.getLogger("assistcal")

PageError = Callable[[Request, AppError], Response]


def _error_body(code: str, message: str, details: list[FieldError] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": [{"field": d.field, "message": d.message} for d in details or []],
        }
    }


def _field_name(loc: tuple[int | str, ...]) -> str:
    """('body', 'countries', 1) -> 'countries[1]'; ('query', 'country', 0) -> 'country';
    ('header', 'if-match') -> 'If-Match'."""
    if len(loc) >= 2 and loc[0] == "header":
        return "-".join(part.capitalize() for part in str(loc[1]).split("-"))
    if len(loc) >= 2 and loc[0] in ("query", "path", "cookie"):
        return str(loc[1])
    parts = loc[1:] if loc and loc[0] == "body" else loc
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def _validation_details(exc: RequestValidationError) -> list[FieldError]:
    details = []
    for error in exc.errors():
        message = error.get("msg", "invalid value")
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        elif error.get("type") == "json_invalid":
            details.append(FieldError("body", f"the body is not valid JSON ({message})"))
            continue
        details.append(FieldError(_field_name(tuple(error.get("loc", ()))), message))
    return details


def render(exc: AppError) -> JSONResponse:
    """The one JSON rendering of every error the service answers with."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
    return JSONResponse(
        _error_body(exc.code, exc.message, exc.details), exc.status_code, headers=headers
    )


class MethodNotAllowed(AppError):
    status_code = 405
    code = "method_not_allowed"


# What a page address that answers nothing tells a reader (translated on the error page).
PAGE_MISSES: dict[str, AppError] = {
    "missing": NotFound(
        N_("There is no page at this address: the link may be mistyped or out of date.")
    ),
    "a form": MethodNotAllowed(
        N_("This address receives a form; open the page the form is on and send it from there.")
    ),
    "a page": MethodNotAllowed(N_("This address is a page to open, not one to send a form to.")),
}


def install(app: FastAPI, *, page_error: PageError) -> None:
    """Answer every error in JSON, or with `page_error` on the pages (`is_page`)."""

    async def on_app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        if is_page(request.url.path):
            return page_error(request, exc)
        return render(exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = _validation_details(exc)
        message = "; ".join(f"{d.field}: {d.message}" for d in details[:5])
        if is_page(request.url.path):
            return page_error(request, ValidationFailed(message, details=details))
        return JSONResponse(_error_body("validation_error", message, details), 422)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if is_page(request.url.path) and exc.status_code in (404, 405):
            # A mistyped or stale link, or a form's address opened: a page, not JSON.
            headers = dict(getattr(exc, "headers", None) or {})  # a 405's Allow
            allowed = {m.strip() for m in headers.get("Allow", "").split(",")}
            if exc.status_code == 404:
                error = PAGE_MISSES["missing"]
            else:
                error = PAGE_MISSES["a page" if "GET" in allowed else "a form"]
            response = page_error(request, error)
            response.headers.update(headers)
            return response
        return await _on_http_error(request, exc)

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(OperationalError, _on_database_unavailable)
    app.add_exception_handler(PoolTimeout, _on_database_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)


async def _on_database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """A pool that stays exhausted, a lock held too long, a lost connection: the request may
    succeed if retried, so 503 rather than 500."""
    log.warning("database unavailable: %s", exc)
    return render(Unavailable("the database is not answering; retry in a few seconds"))


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    # FastAPI's only 400 of its own: a body it could not parse (too deep, too long a number).
    details = [FieldError("body", str(exc.detail))] if exc.status_code == 400 else []
    return JSONResponse(
        _error_body(code, str(exc.detail), details),
        exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(_error_body("internal_error", "internal error"), 500)
