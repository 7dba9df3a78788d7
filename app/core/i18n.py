"""The languages of pages and e-mails: English (the messages as written) and Spanish
(locale/es.po, read with Babel), vocabulary labels, State names (the UN's, from
app.core.vocab), region names and dates in the reader's format."""

from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.pofile import read_po

from app.core import vocab

LANGUAGES = ("en", "es")
LOCALE_DIR = Path(__file__).parent / "locale"


@cache
def _catalog(language: str) -> dict[str, str]:
    if language == "en":
        return {}
    with (LOCALE_DIR / f"{language}.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def translator(language: str) -> Callable[[str], str]:
    catalog = _catalog(language)
    return lambda message: catalog.get(message, message)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if it is one of ours, else the first of Accept-Language that is,
    else English."""
    if cookie in LANGUAGES:
        return str(cookie)
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.split("-")[0].lower()))
    for _, _, language in sorted(ranked):
        if language in LANGUAGES:
            return language
    return "en"


def label(code: str, language: str) -> str:
    """A vocabulary code as words: "export_control" -> "Export control" / "Control de
    exportaciones"."""
    english = code.replace("_", " ").capitalize()
    return translator(language)(english)


def country(code: str, language: str) -> str:
    return vocab.country_name(code, language)


def region(code: str, language: str) -> str:
    english = vocab.geography().region_names.get(code, code)
    return translator(language)(english)


def date_locale(accept_language: str | None, language: str) -> str:
    """The reader's own variant of the page's language for dates (en-GB: 1 Jul 2024; en-US:
    Jul 1, 2024; es-MX, es-ES), from Accept-Language; else the language itself."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag.split("_")[0].lower() == language and "_" in tag:
            try:
                return str(Locale.parse(tag))
            except (ValueError, UnknownLocaleError):
                continue
    return language


def day(value: date, locale: str, style: str = "medium") -> str:
    return format_date(value, format=style, locale=locale)


def reason(code: str, message: str, language: str) -> str:
    """A finding's reason: its message, or in Spanish the words for its code."""
    return message if language == "en" else label(code, language)
