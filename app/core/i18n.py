"""The languages of pages and e-mails: English (the messages as written) and the catalogs of
locale/<language>.po (Babel's; bash .ci/catalogs keeps them up to date), vocabulary labels,
State names (the UN's, from app.core.vocab), region names and dates in the reader's format."""

import hashlib
import importlib.metadata
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, get_args

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from app.core import vocab

LANGUAGES = vocab.LANGUAGES
# The same, as a type for requests' fields and parameters (a 422 names any other).
Language = Literal["en", "es", "fr", "pt", "ru", "ar", "zh"]
assert get_args(Language) == LANGUAGES
# Each language by its own name (the language menu), and those written right to left.
AUTONYMS = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "pt": "Português",
    "ru": "Русский",
    "ar": "العربية",
    "zh": "中文",
}
RIGHT_TO_LEFT = frozenset({"ar"})


def direction(language: str) -> str:
    """The writing direction of a page or e-mail in `language`: "rtl" or "ltr"."""
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


LOCALE_DIR = Path(__file__).parent / "locale"


@cache
def _catalog(language: str) -> dict[str, str]:
    if language == "en":
        return {}
    with (LOCALE_DIR / f"{language}.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


@cache
def _translations(language: str) -> NullTranslations:
    """The catalog as gettext reads it, for messages with plural forms (the catalog's
    Plural-Forms, which Babel takes from the locale)."""
    if language == "en":
        return NullTranslations()
    with (LOCALE_DIR / f"{language}.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


@cache
def texts_version(language: str) -> str:
    """What the words of `language` come from, as a short digest: its catalog, Babel's CLDR
    data (dates, lists, Portuguese State names) and hdx-python-country's State names.  Texts
    kept for later (a feed's events) are made again when it changes."""
    catalog = (LOCALE_DIR / f"{language}.po").read_bytes() if language != "en" else b""
    sources = [
        f"{package} {importlib.metadata.version(package)}"
        for package in ("babel", "hdx-python-country")
    ]
    return hashlib.sha256(catalog + "\n".join(sources).encode()).hexdigest()[:16]


def N_(message: str) -> str:
    """Mark a message where it is written, to be translated where it is shown (a table of
    refusals, an error kept for later): `pybabel extract -k N_` finds it (babel.cfg)."""
    return message


def plural(singular: str, plural: str, n: int, language: str, **values: object) -> str:
    """The form of a message for `n` in `language` ("1 day", "2 days"); `%(n)s` in it is
    `n` written the reader's way, other `%(name)s` the `values`."""
    form = _translations(language).ngettext(singular, plural, n)
    return form % {"n": _decimal(n, language), **values}


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


@cache
def _locale(tag: str) -> Locale:
    """Babel's locale for a tag, parsed once (babel parses a tag string at every call)."""
    return Locale.parse(tag)


# Arabic's own comma: CLDR's standard list joins every item with "و" ("and"), which cannot be
# read when the names hold "and" themselves (ترينيداد وتوباغو, أنتيغوا وبربودا).
_SEPARATORS = {"ar": "\u060c "}
# Between two parts of a sentence ("Port of Spain, 12 Mar 2027"): Chinese's full-width comma.
_COMMAS = {"ar": "\u060c ", "zh": "\uff0c"}


@cache
def separator(language: str) -> str:
    """What stands between two items of a list in `language` (CLDR's list pattern, the
    middle of a standard list): ", " in English, "、" in Chinese; Arabic's comma."""
    if language in _SEPARATORS:
        return _SEPARATORS[language]
    middle = str(_locale(language).list_patterns["standard"]["middle"])
    return middle.replace("{0}", "").replace("{1}", "")


def comma(language: str) -> str:
    """What stands between two parts of a sentence in `language`: ", ", Arabic's comma,
    Chinese's full-width one."""
    return _COMMAS.get(language, ", ")


# The colon after a label, by language: French puts a no-break space before it, Chinese writes
# a full-width one with no space after.
_COLONS = {"fr": "\u00a0:", "zh": "\uff1a"}


def colon(language: str, space: str = "") -> str:
    """The colon after a label in `language` ("Activities: 3", "Activités : 3", Chinese's
    full-width one), and `space` after it where the language puts one."""
    mark = _COLONS.get(language, ":")
    return mark if language == "zh" else mark + space


def listed(items: Iterable[str], language: str) -> str:
    """Names in a list the reader's way: "Haiti, Jamaica"; "هايتي، جامايكا"; "海地、牙买加"."""
    return separator(language).join(items)


@lru_cache(maxsize=4096)
def _decimal(value: float, language: str) -> str:
    """A number in `language` (a page of warnings writes the same few hundred again)."""
    return format_decimal(value, locale=_locale(language))


@lru_cache(maxsize=4096)
def _percent(value: float, language: str) -> str:
    return format_percent(value, locale=_locale(language))


@lru_cache(maxsize=8192)
def day(value: date, locale: str, style: str = "medium") -> str:
    """A date in the reader's locale; kept, since a page of a thousand rows names the same
    few hundred days again and again."""
    return format_date(value, format=style, locale=_locale(locale))


def reason(code: str, message: str, params: Mapping[str, Any] | None, language: str) -> str:
    """A finding's reason (app.core.matching) as a sentence in `language`, written from its
    params; one stored without them: its English message, or the words for its code."""
    p = dict(params or {})
    try:
        said = _reason(code, p, language)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        said = None
    if said is not None:
        return said
    if language == "en":
        return message[:1].upper() + message[1:]
    return label(code, language)


# How each contradiction of app.core.differences reads ("first" / "second": what each
# record says); vocabulary codes among the values are written as words.
_DIFFERENCES = {
    "other_instrument": N_("Not a duplicate: different instruments (%(first)s / %(second)s)"),
    "other_domain": N_("Not a duplicate: different weapons (%(first)s / %(second)s)"),
    "other_audience": N_("Not a duplicate: different audiences (%(first)s / %(second)s)"),
    "other_edition": N_("Not a duplicate: different editions (%(first)s / %(second)s)"),
    "other_city": N_("Not a duplicate: different cities (%(first)s / %(second)s)"),
    "other_part": N_("Not a duplicate: different parts of one event (%(first)s / %(second)s)"),
    "other_name": N_("Not a duplicate: different names (%(first)s / %(second)s)"),
}


def _difference(p: dict[str, Any], language: str) -> str:
    coded = p["difference"] in ("other_domain", "other_audience")  # vocabulary codes

    def said(value: Any) -> str:
        values = value if isinstance(value, list) else [value]
        return listed((label(str(v), language) if coded else str(v) for v in values), language)

    template = translator(language)(_DIFFERENCES[p["difference"]])
    return template % {"first": said(p.get("first", "")), "second": said(p.get("second", ""))}


def _reason(code: str, p: dict[str, Any], language: str) -> str | None:
    _ = translator(language)
    if code == "title_similar":
        percent = {"percent": _percent(p["alike"], language)}
        if p.get("meaning"):
            return _("Titles %(percent)s alike in meaning") % percent
        return _("Titles %(percent)s alike") % percent
    if code == "not_duplicate" and p.get("difference") in _DIFFERENCES:
        return _difference(p, language)
    if code == "dates_close" and "start_apart" in p:
        if p["start_apart"] == 0:
            return _("Same start date")
        return plural(
            "Start dates %(n)s day apart",
            "Start dates %(n)s days apart",
            p["start_apart"],
            language,
        )
    if code == "dates_close" and "gap" in p:
        return plural("%(n)s day apart", "%(n)s days apart", p["gap"], language)
    if code == "dates_overlap" and "days" in p:
        if p["days"] is None:
            return _("Dates overlap")
        return plural(
            "%(n)s day at the same time, on different themes",
            "%(n)s days at the same time, on different themes",
            p["days"],
            language,
        )
    if code == "same_country" and "shared" in p:
        return plural(
            "%(shared)s of %(n)s beneficiary State shared",
            "%(shared)s of %(n)s beneficiary States shared",
            p["of"],
            language,
            shared=_decimal(p["shared"], language),
        )
    if code == "same_country" and "states" in p:
        names = listed((country(c, language) for c in p["states"]), language)
        return _("Both for %(states)s") % {"states": names + ("…" if p.get("more") else "")}
    if code == "same_theme" and "themes" in p:
        if not p["themes"]:
            return _("No shared theme")
        return plural(
            "Theme shared: %(themes)s",
            "Themes shared: %(themes)s",
            len(p["themes"]),
            language,
            themes=listed((label(t, language) for t in p["themes"]), language),
        )
    if code == "same_type" and "types" in p:
        first, second = (label(t, language) for t in p["types"])
        if first == second:
            return _("Both of type %(type)s") % {"type": first}
        return _("Different types: %(first)s and %(second)s") % {"first": first, "second": second}
    if code == "same_venue" and "cities" in p:
        first, second = p["cities"]
        if p.get("same"):
            return _("Both in %(city)s") % {"city": first}
        return _("In %(first)s and in %(second)s") % {"first": first, "second": second}
    if code == "same_external_ref" and "reference" in p:
        return _("Same reference “%(reference)s”") % {"reference": p["reference"]}
    if code == "partner_overlap":
        return _("One provider is named as the other's partner")
    return None
