"""How well a provider fits a State's request for assistance: pure scoring, with reasons.

The score (0..1) adds up: the requested themes the provider offers (0.35), the weapon domains
(0.10, when the request names any), the kind of help (0.15), the language (0.10), whether it
works in the State's region (0.10), and its experience: activities with that State on a
requested theme (0.12) and with that State at all (0.08), past or planned.
"""

from dataclasses import dataclass
from functools import cache

from app.core import vocab


@dataclass(frozen=True)
class Need:
    country: str
    themes: frozenset[str]
    domains: frozenset[str]
    help_sought: str
    language: str


@dataclass(frozen=True)
class Offer:
    themes: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    activity_types: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    with_state: int = 0  # activities for the State, past or planned
    with_state_on_theme: int = 0  # of those, the ones on a requested theme


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    contribution: float


def _words(codes: frozenset[str]) -> str:
    return ", ".join(sorted(code.replace("_", " ") for code in codes))


def _activities(count: int) -> str:
    return f"{count} activit{'y' if count == 1 else 'ies'}"


@cache
def language_name(code: str) -> str:
    import pycountry

    found = pycountry.languages.get(alpha_2=code)
    return found.name if found is not None else code


def fit(need: Need, offer: Offer) -> tuple[float, list[Reason]]:
    """The score and the reasons behind it, strongest first."""
    geography = vocab.geography()
    country = (
        geography.countries[need.country].name
        if need.country in geography.countries
        else need.country
    )
    reasons: list[Reason] = []
    shared = need.themes & offer.themes
    if shared:
        reasons.append(
            Reason(
                "themes",
                f"offers {_words(shared)} ({len(shared)} of {len(need.themes)} themes asked)",
                0.35 * len(shared) / len(need.themes),
            )
        )
    domains = need.domains & offer.domains
    if domains:
        reasons.append(
            Reason(
                "domains", f"works on {_words(domains)}", 0.10 * len(domains) / len(need.domains)
            )
        )
    if need.help_sought in offer.activity_types:
        reasons.append(Reason("help", f"delivers {need.help_sought.replace('_', ' ')}", 0.15))
    if need.language in offer.languages:
        reasons.append(Reason("language", f"works in {language_name(need.language)}", 0.10))
    regions = [r for r in sorted(offer.regions) if need.country in vocab.region_states(r)]
    if regions:
        name = geography.region_names.get(regions[0], regions[0])
        reasons.append(Reason("region", f"works in {name}, where {country} is", 0.10))
    if offer.with_state_on_theme:
        reasons.append(
            Reason(
                "experience_theme",
                f"{_activities(offer.with_state_on_theme)} with {country} on a requested theme",
                0.12 * min(1.0, offer.with_state_on_theme / 2),
            )
        )
    if offer.with_state:
        reasons.append(
            Reason(
                "experience_state",
                f"{_activities(offer.with_state)} with {country}",
                0.08 * min(1.0, offer.with_state / 3),
            )
        )
    reasons = [
        Reason(r.code, r.message, round(r.contribution, 3))
        for r in sorted(reasons, key=lambda r: -r.contribution)
    ]
    return round(sum(r.contribution for r in reasons), 3), reasons
