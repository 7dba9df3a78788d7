"""Server-rendered pages for coordinators and staff, on top of the same services as the API:
home, sign-in, calendar (timeline and list), activity detail, review queue, coverage map,
import and subscribe.  English or Spanish; no JavaScript needed.

`router` holds every page (app.main includes it): the home, language and sign-in pages here,
the others in a module per area."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.auth import people as auth_people
from app.core import i18n
from app.db.engine import open_session
from app.db.session import SessionDep
from app.errors import AppError
from app.web import assistance, auth, calendar, coverage, editing, importing, ours, people, review
from app.web.auth import COOKIE, PRE_CSRF, ViewerDep
from app.web.render import LANG_COOKIE, render, safe_next, see_other

router = APIRouter(include_in_schema=False)


def page_error(request: Request, exc: AppError) -> Response:
    """An error on a page: the sign-in page for a 401, else a page saying what went wrong
    (rendered without the database: the request's session is gone)."""
    if exc.status_code == 401:
        return see_other("/sign-in?" + urlencode({"next": request.url.path}))
    # The reader as the page's dependency found them (kept on the request), so that a
    # signed-in person is not offered to sign in; else an anonymous reader.
    reader = getattr(request.state, "viewer", None) or auth.Viewer(
        None, request.cookies.get(PRE_CSRF) or "", fresh_csrf=False
    )
    return render(request, reader, "error.html", status_code=exc.status_code, error=exc)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, reader: ViewerDep) -> HTMLResponse:
    return render(request, reader, "home.html")


@router.get("/language", response_class=HTMLResponse)
def switch_language(
    request: Request,
    reader: ViewerDep,
    to: Annotated[str, Query(max_length=5)],
    next: Annotated[str | None, Query()] = None,
) -> RedirectResponse:
    """The language menu: a cookie for this browser, and for a person signed in, their
    account's language too (their e-mails, and the pages wherever they sign in next)."""
    response = see_other(safe_next(next))
    if to in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, to, max_age=365 * 86400, samesite="lax", path="/")
        person_id = reader.principal.person_id if reader.principal else None
        if person_id is not None:
            with open_session(request.app.state.engine, write=True) as session:
                auth_people.set_language(session, person_id, to)
                session.commit()
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request, reader: ViewerDep, next: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    return render(
        request, reader, "sign_in.html", next=safe_next(next), failed=False,
        **people.sign_in_options(request),
    )  # fmt: skip


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    key: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    auth.check_csrf(reader, csrf)
    try:
        token, _principal = auth.sign_in(session, key)
    except AppError:
        return render(
            request, reader, "sign_in.html", status_code=401, next=safe_next(next), failed=True,
            **people.sign_in_options(request),
        )  # fmt: skip
    response = see_other(safe_next(next))
    auth.set_cookie(response, COOKIE, token, max_age=int(auth.LIFETIME.total_seconds()))
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> RedirectResponse:
    auth.check_csrf(reader, csrf)
    auth.sign_out(session, request.cookies.get(COOKIE))
    response = see_other("/")
    response.delete_cookie(COOKIE, path="/")
    return response


for area in (calendar, editing, review, coverage, importing, people, ours, assistance):
    router.include_router(area.router)
