"""Typed errors that carry their HTTP status and a machine code.

    AppError (500, internal_error)
    ├── BadRequest (400, bad_request)
    ├── ValidationFailed (422, validation_error)     details name the fields
    ├── Unauthorized (401, unauthorized)
    ├── Forbidden (403, forbidden)
    ├── NotFound (404, not_found)
    ├── Conflict (409, conflict)
    ├── PreconditionFailed (412, precondition_failed)
    ├── PayloadTooLarge (413, payload_too_large)
    └── Unavailable (503, unavailable)             with a Retry-After

Services raise these; one handler in app.main renders them as
{"error": {"code", "message", "details": [{"field", "message"}]}}.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class AppError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"

    @classmethod
    def on(cls, field: str, message: str) -> "ValidationFailed":
        return cls(f"{field}: {message}", details=[FieldError(field, message)])

    @classmethod
    def of(cls, problems: list[FieldError]) -> "ValidationFailed":
        return cls("; ".join(f"{p.field}: {p.message}" for p in problems), details=problems)


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"


class RequestTimeout(AppError):
    status_code = 408
    code = "request_timeout"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"

    @classmethod
    def on(cls, field: str, message: str) -> "PayloadTooLarge":
        return cls(f"{field}: {message}", details=[FieldError(field, message)])


class Unavailable(AppError):
    status_code = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def reject_nulls(patch: Mapping[str, object], *, nullable: Collection[str]) -> None:
    """A partial update may clear optional fields with null, never required ones."""
    problems = [
        FieldError(name, "may not be null")
        for name, value in patch.items()
        if value is None and name not in nullable
    ]
    if problems:
        raise ValidationFailed.of(problems)


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorBody(BaseModel):
    """How every error is answered."""

    error: ErrorInfo


def _described(description: str) -> dict[str, object]:
    return {"model": ErrorBody, "description": description}


# The errors any API operation may answer with, documented on each (OpenAPI).
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: _described("a body that cannot be parsed, or a header that is not what it should be"),
    401: _described("no API key, or one that is not valid or revoked"),
    403: _described("the key's role or organization may not do this"),
    404: _described("no such resource, or not one this key may see"),
    408: _described(
        "the request body did not arrive in time (see ASSISTCAL_REQUEST_TIMEOUT_SECONDS)"
    ),
    409: _described("in conflict with the stored state (a reference in use, a withdrawn activity)"),
    412: _described("If-Match names a revision that is no longer the current one"),
    413: _described("the body or the upload is over its size limit"),
    422: _described("a field fails validation; `details` names it"),
    429: _described("over the rate limit; Retry-After says when to retry"),
    503: _described("the database is unavailable or busy, or the request ran out of time; retry"),
}
