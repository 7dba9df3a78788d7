"""The controlled vocabularies of DOMAIN.md.

Fixed vocabularies are Literal types, so the OpenAPI schema lists them and pydantic names the
allowed values in its errors.  Countries and M49 regions come from OCHA's hdx-python-country,
the one offline source with UN M49 membership and the UN's own names in the six UN languages
(pycountry has no M49, and its translations are not the UN's); its table is read once, at the
first question, with use_live=False.  Languages come from pycountry's ISO 639 table, time zones
from the IANA database that zoneinfo sees.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Literal, get_args

Theme = Literal[
    "national_action_plan",
    "reporting",
    "legislation",
    "accounting_security",
    "physical_protection",
    "border_control",
    "export_control",
    "proliferation_financing",
    "outreach",
    "coordination",
]
Domain = Literal["nuclear", "chemical", "biological", "delivery_means"]
ActivityType = Literal[
    "workshop",
    "training",
    "seminar",
    "conference",
    "tabletop_exercise",
    "legislative_assistance",
    "country_visit",
    "peer_review",
    "e_learning",
    "equipment",
    "coordination_meeting",
    "other",
]
Audience = Literal[
    "customs",
    "border_police",
    "law_enforcement",
    "licensing_authority",
    "legislators",
    "foreign_affairs",
    "health_laboratory",
    "nuclear_regulator",
    "financial_intelligence",
    "industry",
    "academia",
    "other",
]
Status = Literal["planned", "confirmed", "postponed", "cancelled", "completed"]
Visibility = Literal["public", "restricted"]
Modality = Literal["in_person", "virtual", "hybrid"]
Role = Literal["admin", "coordinator", "provider"]
OrgKind = Literal[
    "un_entity",
    "international_organization",
    "regional_organization",
    "national_agency",
    "ngo",
    "academia",
    "other",
]

THEMES: tuple[str, ...] = get_args(Theme)
ACTIVITY_TYPES: tuple[str, ...] = get_args(ActivityType)
DOMAINS: tuple[str, ...] = get_args(Domain)
AUDIENCES: tuple[str, ...] = get_args(Audience)
STATUSES: tuple[str, ...] = get_args(Status)
VISIBILITIES: tuple[str, ...] = get_args(Visibility)
MODALITIES: tuple[str, ...] = get_args(Modality)
ROLES: tuple[str, ...] = get_args(Role)
ORG_KINDS: tuple[str, ...] = get_args(OrgKind)


# The UN's other five languages, as hdx-python-country's columns name them.
UN_LANGUAGES: dict[str, str] = {
    "es": "Spanish",
    "fr": "French",
    "ru": "Russian",
    "ar": "Arabic",
    "zh": "Chinese",
}


@dataclass(frozen=True)
class Country:
    code: str
    name: str  # English: hdx's preferred term
    independent: bool
    regions: frozenset[str]
    # language -> the UN's name (UNSD's M49 name, else UNTERM's short name); English is `name`
    names: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The M49 sub-region (Latin America and the Caribbean, Western Asia, ...): one per State,
    # what a summary by region groups by.
    subregion: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Geography:
    countries: dict[str, Country]
    region_names: dict[str, str]
    region_states: dict[str, frozenset[str]]


def _m49(code: object) -> str:
    return f"{int(str(code)):03d}"


_geography: Geography | None = None  # read at the first question, not at import
_geography_lock = threading.Lock()


def geography() -> Geography:
    """The countries and regions, read from hdx-python-country's table once per process."""
    global _geography
    found = _geography
    if found is None:
        with _geography_lock:  # two first requests at once read the table once
            if _geography is None:
                _geography = _read_geography()
            found = _geography
    return found


def _un_names(row: Mapping[str, str | None]) -> dict[str, str]:
    names = {}
    for language, column in UN_LANGUAGES.items():
        name = row.get(f"M49 {column}") or row.get(f"{column} Short")
        if name:
            names[language] = name
    return names


def _read_geography() -> Geography:
    from hdx.location.country import Country as HdxCountry

    data = HdxCountry.countriesdata(use_live=False)
    countries: dict[str, Country] = {}
    for row in data["countries"].values():
        code = row.get("ISO 3166-1 Alpha 2-Codes")
        if not code:
            continue
        regions = frozenset(
            _m49(row[column])
            for column in ("Region Code", "Sub-region Code", "Intermediate Region Code")
            if row.get(column)
        )
        countries[code] = Country(
            code=code,
            name=row.get("Preferred Term") or row.get("English Short") or code,
            independent=row.get("Independent") == "Y",
            regions=regions,
            names=_un_names(row),
            subregion=_m49(row["Sub-region Code"]) if row.get("Sub-region Code") else None,
        )
    region_names = {_m49(code): name for code, name in data["regioncodes2names"].items()}
    states: dict[str, set[str]] = {code: set() for code in region_names}
    for country in countries.values():
        if country.independent:
            for region in country.regions:
                states.setdefault(region, set()).add(country.code)
    return Geography(
        countries=countries,
        region_names=region_names,
        region_states={code: frozenset(members) for code, members in states.items()},
    )


def country_name(code: str, language: str = "en") -> str:
    """The UN's name of a country in one of its six languages; English when the UN names it
    in no other (Taiwan), the code when it is not a country."""
    found = geography().countries.get(code)
    if found is None:
        return code
    if language in found.names:
        return found.names[language]
    if language not in UN_LANGUAGES and language != "en":
        # Not one of the UN's languages (Portuguese): the name CLDR gives, through Babel.
        from babel import Locale

        named = Locale.parse(language).territories.get(code)
        if named:
            return str(named)
    return found.name


def is_country(code: str) -> bool:
    return code in geography().countries


def is_region(code: str) -> bool:
    return code in geography().region_names


def subregion(code: str) -> str | None:
    """The M49 sub-region of a country (419 for Trinidad and Tobago), None for a code that
    is not a country or belongs to none."""
    found = geography().countries.get(code)
    return found.subregion if found else None


def region_states(code: str) -> frozenset[str]:
    """The independent States of an M49 region: what a regional activity stands for."""
    return geography().region_states.get(code, frozenset())


def beneficiary_states(countries: list[str], regions: list[str]) -> dict[str, bool]:
    """Every beneficiary country, mapped to True when it was named and False when implied
    by a region."""
    found = dict.fromkeys(countries, True)
    for region in regions:
        for code in region_states(region):
            found.setdefault(code, False)
    return found


@cache
def language_codes() -> frozenset[str]:
    import pycountry

    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


@cache
def time_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def warm() -> None:
    """Load the lazy tables now, so the first request does not pay for them."""
    geography()
    language_codes()
    time_zones()


# The languages the service speaks (app.core.i18n): a search knows States by their names in
# each of them.
LANGUAGES = ("en", "es", "fr", "pt", "ru", "ar", "zh")


@cache
def _searchable_names() -> tuple[tuple[str, str], ...]:
    """(name as titles compare it, code) of every country, by every name it goes by here: the
    UN's in its six languages, and the common names of the service's languages (Babel's CLDR:
    "Trinidad y Tobago" beside the UN's "Trinidad y Tabago", Portuguese's own)."""
    from babel import Locale

    from app.core.titles import normalise

    found: set[tuple[str, str]] = set()
    cldr = [Locale.parse(language).territories for language in LANGUAGES]
    for code, country in geography().countries.items():
        for name in (country.name, *country.names.values(), *(t.get(code, "") for t in cldr)):
            if name:
                found.add((normalise(name), code))
    return tuple(sorted(found))


def countries_named(text: str) -> frozenset[str]:
    """The countries one of whose names contains `text` (three letters or more; any case,
    accents optional): what a search for "Trinidad y Tobago", "trinite-et-tobago" or
    "Тринидад" means."""
    from app.core.titles import normalise  # it reads this module's vocabularies

    wanted = normalise(text)
    if len(wanted) < 3:
        return frozenset()
    return frozenset(code for name, code in _searchable_names() if wanted in name)
