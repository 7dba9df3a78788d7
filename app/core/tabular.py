"""Reading activities from tables that people keep: which column is which field, and the
values as people write them (English or Spanish headers, country names in either language,
dates as ISO, DD/MM/YYYY or Excel dates).  Pure functions; no database, no web."""

import gettext
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import cache, lru_cache

from app.core import titles, vocab

# Field -> the headers that mean it (compared without case, accents or punctuation).
HEADERS: dict[str, tuple[str, ...]] = {
    "title": ("title", "titulo", "actividad", "activity", "nombre", "name", "evento", "event"),
    "provider": (
        "provider",
        "organizacion",
        "organizador",
        "organization",
        "organisation",
        "proveedor",
        "entidad",
        "org",
    ),
    "partners": ("partners", "socios", "asociados", "copatrocinadores", "partner"),
    "external_ref": (
        "external_ref",
        "ref",
        "reference",
        "referencia",
        "codigo",
        "code",
        "id externo",
    ),
    "description": ("description", "descripcion", "detalles", "details", "resumen", "summary"),
    "language": ("language", "idioma", "lengua"),
    "activity_type": (
        "activity_type",
        "type",
        "tipo",
        "tipo de actividad",
        "modalidad de actividad",
    ),
    "themes": ("themes", "theme", "tema", "temas", "area", "areas", "sector"),
    "domains": ("domains", "domain", "dominio", "dominios", "armas"),
    "audiences": ("audiences", "audience", "publico", "audiencia", "destinatarios"),
    "start_date": (
        "start_date",
        "start",
        "fecha de inicio",
        "inicio",
        "fecha inicio",
        "desde",
        "date",
        "fecha",
        "start date",
        "begin",
    ),
    "end_date": (
        "end_date",
        "end",
        "fecha de fin",
        "fin",
        "fecha fin",
        "hasta",
        "fecha de termino",
        "fecha final",
        "end date",
    ),
    "start_time": ("start_time", "hora de inicio", "hora inicio", "start time"),
    "end_time": ("end_time", "hora de fin", "hora fin", "end time"),
    "timezone": ("timezone", "zona horaria", "time zone", "tz"),
    "countries": (
        "countries",
        "country",
        "paises",
        "pais",
        "pais beneficiario",
        "paises beneficiarios",
        "estado beneficiario",
        "estados beneficiarios",
        "beneficiary",
        "beneficiaries",
        "beneficiary states",
    ),
    "regions": ("regions", "region", "regiones"),
    "venue_city": ("venue_city", "city", "ciudad", "lugar", "sede", "venue"),
    "venue_country": ("venue_country", "pais sede", "venue country"),
    "modality": ("modality", "modalidad", "formato"),
    "delivery_languages": ("delivery_languages", "idiomas", "idiomas de trabajo"),
    "status": ("status", "estado", "estatus", "situacion"),
    "visibility": ("visibility", "visibilidad"),
    "contact_email": (
        "contact_email",
        "email",
        "correo",
        "contacto",
        "correo electronico",
        "e-mail",
    ),
    "url": ("url", "link", "enlace", "sitio web", "web"),
    # The export's own column: the activity a row is (app.imports.identity).
    "id": ("id", "activity id", "activity_id", "id de actividad"),
}
# Export columns that say nothing new on import (names beside codes, bookkeeping).
IGNORED = frozenset(
    {
        "theme_names",
        "country_names",
        "region_names",
        "revision",
        "updated_at",
        "withdrawn_at",
        "duplicate_of",
    }
)
LIST_FIELDS = frozenset(
    {"partners", "themes", "domains", "audiences", "countries", "regions", "delivery_languages"}
)
EXCEL_EPOCH = date(1899, 12, 30)


@lru_cache(maxsize=4096)
def plain(text: str) -> str:
    """Lower case, no accents, single spaces: how headers and names are compared (the same
    few names and codes come back on every row of a file)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9_]+", " ", bare).strip()


@cache
def _header_index() -> dict[str, str]:
    return {plain(header): field for field, headers in HEADERS.items() for header in headers}


def map_headers(
    headers: Sequence[str],
    explicit: Mapping[str, str] | None = None,
    known: Sequence[str | None] | None = None,
) -> tuple[dict[int, str], list[str]]:
    """Which column holds which field: `explicit` (header -> field) first, then what the file
    itself says a column holds (`known`, by position: an HXL hashtag's field, an IATI
    element's), then the known headers.  Returns {column index: field} and the headers left
    unused."""
    index = _header_index()
    chosen = {plain(k): v for k, v in (explicit or {}).items()}
    mapping: dict[int, str] = {}
    unused = []
    for position, header in enumerate(headers):
        key = plain(str(header or ""))
        said = known[position] if known and position < len(known) else None
        if said in IGNORED and key not in chosen:
            continue
        field = chosen.get(key) or (said if said in HEADERS else None) or index.get(key)
        if field and field not in mapping.values():
            mapping[position] = field
        elif key and key not in IGNORED:
            unused.append(str(header))
    return mapping, unused


@cache
def _country_names() -> dict[str, str]:
    """Country names in English and Spanish (and the ISO codes) -> ISO alpha-2: the UN's
    (app.core.vocab), and pycountry's ISO 3166 names and their Spanish translations, which
    people write too ("Trinidad y Tobago" beside the UN's "Trinidad y Tabago")."""
    import pycountry

    spanish: gettext.NullTranslations
    try:
        spanish = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["es"])
    except OSError:  # no translations shipped: English only
        spanish = gettext.NullTranslations()
    names: dict[str, str] = {}
    for entry in pycountry.countries:
        forms = [
            entry.name,
            getattr(entry, "common_name", None),
            getattr(entry, "official_name", None),
        ]
        for name in (str(form) for form in forms if form):
            names[plain(name)] = entry.alpha_2
            names[plain(spanish.gettext(name))] = entry.alpha_2
        names[plain(entry.alpha_3)] = entry.alpha_2
    for code in vocab.geography().countries:
        for language in ("en", "es"):
            names[plain(vocab.country_name(code, language))] = code
    # short forms people write
    for alias, code in {
        "mexico": "MX",
        "bolivia": "BO",
        "venezuela": "VE",
        "estados unidos": "US",
        "reino unido": "GB",
        "republica dominicana": "DO",
        "san cristobal y nieves": "KN",
    }.items():
        names.setdefault(alias, code)
    return names


def country_code(value: str) -> str | None:
    """An ISO alpha-2 code for a code or a country name in English or Spanish."""
    text = value.strip()
    if len(text) == 2 and vocab.is_country(text.upper()):
        return text.upper()
    return _country_names().get(plain(text))


def split_list(value: object) -> list[str]:
    """A cell holding several values: separated by ";", "," or new lines."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    parts = re.split(r"[;\n,]", str(value))
    return [part.strip() for part in parts if part.strip()]


def split_countries(value: object) -> list[str]:
    """Like split_list, but a country name with a comma ("Bolivia, Plurinational State of")
    stays whole when it is a known name."""
    text = "" if value is None else str(value)
    if country_code(text):
        return [text.strip()]
    return (
        [part.strip() for part in re.split(r"[;\n]", text) if part.strip()]
        if ";" in text or "\n" in text
        else split_list(text)
    )


def parse_date(value: object) -> date:
    """ISO (2024-03-15), day first (15/03/2024, 15-03-2024, 15.03.2024), an Excel date or
    serial number."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 <= value < 2_958_466:
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise ValueError(f"{value!r} is not a date")
    text = str(value).strip()
    match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return date(year, month, day)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?", text):
        return date.fromisoformat(text[:10])
    raise ValueError(f"{text!r} is not a date; use 2024-03-15 or 15/03/2024")


def parse_time(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.strftime("%H:%M")
    if hasattr(value, "strftime"):
        return value.strftime("%H:%M")  # a datetime.time from a spreadsheet
    text = str(value).strip()
    match = re.fullmatch(r"(\d{1,2})[:h.](\d{2})(:\d{2})?", text)
    if not match:
        raise ValueError(f"{text!r} is not a time; use HH:MM")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


@cache
def _by_plain(known: tuple[str, ...]) -> dict[str, str]:
    return {plain(code.replace("_", " ")): code for code in known}


def codes(values: Iterable[str], known: tuple[str, ...]) -> list[str]:
    """Vocabulary codes from codes, their readable forms ("export control") or the words
    the detection glossary knows in English, Spanish, French and Portuguese."""
    by_plain = _by_plain(known)
    found = []
    for value in values:
        code = by_plain.get(plain(value.replace("_", " ")))
        if code is None:  # a word of the glossary's four languages: "taller", "capacitación"
            concept = titles.concepts(value)
            code = concept if concept in by_plain.values() else None
        if code is None:
            raise ValueError(f"{value!r} is not one of: {', '.join(sorted(by_plain.values()))}")
        found.append(code)
    return found
