"""What every page shares: its language, its template rendered with the helpers the templates
use, and the redirects between pages."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from app.core import i18n
from app.web import auth
from app.web.auth import PRE_CSRF

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
LANG_COOKIE = "assistcal_lang"


def language(request: Request) -> str:
    """The page's language, chosen once per request."""
    chosen = getattr(request.state, "language", None)
    if chosen is None:
        chosen = i18n.choose(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )
        request.state.language = chosen
    return str(chosen)


def helpers(request: Request, reader: auth.Viewer) -> dict[str, Any]:
    """What every template may use: the reader, and words, names and dates in the page's
    language."""
    lang = language(request)
    dates = i18n.date_locale(request.headers.get("accept-language"), lang)
    return {
        "_": i18n.translator(lang),
        "lang": lang,
        "dir": i18n.direction(lang),
        "page_languages": [(code, i18n.AUTONYMS[code]) for code in i18n.LANGUAGES],
        "viewer": reader.principal,
        "acting": reader.acting,
        "csrf": reader.csrf,
        "label": lambda code: i18n.label(code, lang),
        "country": lambda code: i18n.country(code, lang),
        "region": lambda code: i18n.region(code, lang),
        "day": lambda value, style="medium": i18n.day(value, dates, style),
        "listed": lambda items: i18n.listed(items, lang),
        "sep": i18n.separator(lang),  # between two items of a list
        "comma": i18n.comma(lang),  # between two parts of a sentence
        "colon": lambda space="": i18n.colon(lang, space),  # after a label
        "reason": lambda r: i18n.reason(
            _get(r, "code"), _get(r, "message"), _get(r, "params"), lang
        ),
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }


def render(
    request: Request,
    reader: auth.Viewer,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, template, {**helpers(request, reader), **context}, status_code=status_code
    )
    if reader.fresh_csrf:
        auth.set_cookie(response, PRE_CSRF, reader.csrf, max_age=12 * 3600)
    return response


def render_text(request: Request, reader: auth.Viewer, template: str, **context: Any) -> str:
    """A template as text, with the pages' helpers (a document made from it, such as a PDF)."""
    chosen = templates.get_template(template)
    return chosen.render({"request": request, **helpers(request, reader), **context})


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def safe_next(target: str | None) -> str:
    """Only a path of this site: never an address elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
