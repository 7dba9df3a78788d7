"""The filter forms of the calendar, subscribe and coverage pages: what they offer, and their
choices checked."""

from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from app.core import i18n, vocab
from app.errors import ValidationFailed
from app.feeds.models import FeedFilters
from app.organizations import service as organizations


def filters(**chosen: str | None) -> FeedFilters:
    """The filter form's choices (one value each, empty for all), checked as the feeds and
    the list API check them; a bad one is a 422 naming it."""
    try:
        return FeedFilters.model_validate({k: [v] for k, v in chosen.items() if v})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed.on(str(first["loc"][0]), first["msg"]) from exc


def choices(session: Session, lang: str) -> dict[str, Any]:
    """What the filter forms offer."""
    return {
        "regions": regions(),
        "countries": sorted(vocab.geography().countries, key=lambda c: i18n.country(c, lang)),
        "providers": [o.acronym for o in organizations.list_page(session, limit=500)[0]],
        "themes": vocab.THEMES,
    }


def regions() -> list[str]:
    """The M49 regions that hold States, by name."""
    names = vocab.geography().region_names
    return sorted((code for code in names if vocab.region_states(code)), key=names.__getitem__)
