"""The controlled vocabularies of DOMAIN.md.

Fixed vocabularies are Literal types, so the OpenAPI schema lists them and pydantic names the
allowed values in its errors.  Countries and M49 regions come from OCHA's hdx-python-country,
the one offline source with UN M49 membership and the UN's own names (pycountry has no M49);
it is read once, lazily, with use_live=False.  Languages come from pycountry's ISO 639 table,
time zones from the IANA database that zoneinfo sees.
"""

from dataclasses import dataclass
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
ROLES: tuple[str, ...] = get_args(Role)
ORG_KINDS: tuple[str, ...] = get_args(OrgKind)


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    independent: bool
    regions: frozenset[str]


@dataclass(frozen=True)
class Geography:
    countries: dict[str, Country]
    region_names: dict[str, str]
    region_states: dict[str, frozenset[str]]


def _m49(code: object) -> str:
    return f"{int(str(code)):03d}"


@cache
def geography() -> Geography:
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


def is_country(code: str) -> bool:
    return code in geography().countries


def is_region(code: str) -> bool:
    return code in geography().region_names


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
