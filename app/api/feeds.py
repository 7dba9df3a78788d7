"""Feed routes (`/feeds/...`, no API prefix) and the feed-token API."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.caller import CurrentPrincipal
from app.core import i18n
from app.core.i18n import Language
from app.core.timeutil import as_utc, utcnow
from app.core.types import CountryCode, RegionCode
from app.core.vocab import ActivityType, Domain, Status, Theme
from app.db.session import SessionDep
from app.errors import NotFound, ValidationFailed
from app.feeds import service, spec, tokens
from app.feeds.models import (
    Acronym,
    FeedFilters,
    FeedLinks,
    FeedTokenCreated,
    FeedTokenIn,
    FeedTokenPublic,
)
from app.http.read_cache import cacheable, keep_out
from app.organizations import service as organizations

feeds = APIRouter(tags=["feeds"])
api = APIRouter(tags=["feeds"])

MEDIA_TYPE = "text/calendar; charset=utf-8"


def feed_route(path: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """GET, and HEAD (headers only, kept out of the OpenAPI document)."""

    def register(endpoint: Callable[..., Response]) -> Callable[..., Response]:
        cacheable(endpoint)  # a feed is read from the stamped rows and the request only
        feeds.head(path, response_class=Response, include_in_schema=False)(endpoint)
        return feeds.get(path, response_class=Response)(endpoint)

    return register


FromQuery = Annotated[
    date | None, Query(alias="from", description="ends on or after (default: 3 months ago)")
]
ToQuery = Annotated[
    date | None, Query(alias="to", description="starts on or before (default: in 24 months)")
]
CancelledQuery = Annotated[
    Literal["show", "hide"],
    Query(description="hide: leave out cancelled and withdrawn activities"),
]


@dataclass(frozen=True)
class Window:
    date_from: date | None
    date_to: date | None
    hide_cancelled: bool


async def window(
    date_from: FromQuery = None, date_to: ToQuery = None, cancelled: CancelledQuery = "show"
) -> Window:
    """The dates a feed covers, and whether cancelled activities show."""
    if date_from and date_to and date_to < date_from:
        raise ValidationFailed.on("to", "must not be before from")
    return Window(date_from, date_to, cancelled == "hide")


WindowDep = Annotated[Window, Depends(window)]
LangQuery = Annotated[
    Language | None,
    Query(
        description="the language of the feed's name and of its events' descriptions: "
        f"{', '.join(i18n.LANGUAGES)} (default: English; a private feed, its owner's)"
    ),
]


def _not_modified(request: Request, rendered: service.Rendered) -> bool:
    """If-None-Match decides when sent (RFC 9110); else If-Modified-Since, when it parses."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return rendered.etag in tags or "*" in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = as_utc(parsedate_to_datetime(if_modified_since))
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        # Compared in whole seconds with what was sent (see _shown).
        return rendered.last_modified.replace(microsecond=0) <= since
    return False


def _shown(last_modified: datetime) -> datetime:
    """Last-Modified as sent, in whole seconds.  While the second of the latest change is
    still running, another change may follow within it, and the same date could not tell the
    two apart: such a date is sent as the second before, so that the next If-Modified-Since
    gets a 200 rather than a stale 304."""
    shown = last_modified.replace(microsecond=0)
    this_second = utcnow().replace(microsecond=0)
    return min(shown, this_second - timedelta(seconds=1))


def _respond(request: Request, rendered: service.Rendered, *, private: bool) -> Response:
    shown = _shown(rendered.last_modified)
    if shown < rendered.last_modified.replace(microsecond=0):
        keep_out(request.scope)  # a second later the same feed is sent with its own date
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": format_datetime(shown, usegmt=True),
        "Cache-Control": f"{'private' if private else 'public'}, max-age=300",
    }
    if _not_modified(request, rendered):
        return Response(status_code=304, headers=headers)
    # For HEAD the server sends the headers only (uvicorn drops the body).
    return Response(rendered.body, media_type=MEDIA_TYPE, headers=headers)


def _serve(
    request: Request,
    session: SessionDep,
    filters: FeedFilters,
    when: Window,
    lang: str | None,
    *,
    private_name: str | None = None,
) -> Response:
    """A feed in `lang` (English if None); with `private_name`, a private one (restricted
    activities included)."""
    feed = spec.spec_for(
        filters,
        date_from=when.date_from,
        date_to=when.date_to,
        hide_cancelled=when.hide_cancelled,
        include_restricted=private_name is not None,
        name=private_name,
        language=lang or "en",
    )
    rendered = service.serve(session, feed, request.app.state.feed_cache, request.app.state.engine)
    return _respond(request, rendered, private=private_name is not None)


@feed_route("/feeds/all.ics")
def get_all_activities_feed(
    request: Request,
    session: SessionDep,
    when: WindowDep,
    lang: LangQuery = None,
) -> Response:
    """Every public activity."""
    return _serve(request, session, FeedFilters(), when, lang)


@feed_route("/feeds/countries/{code}.ics")
def get_country_feed(
    code: CountryCode,
    request: Request,
    session: SessionDep,
    when: WindowDep,
    lang: LangQuery = None,
) -> Response:
    """Activities for one beneficiary State, including regional ones that cover it."""
    filters = FeedFilters(country=[code])
    return _serve(request, session, filters, when, lang)


@feed_route("/feeds/regions/{m49}.ics")
def get_region_feed(
    m49: RegionCode,
    request: Request,
    session: SessionDep,
    when: WindowDep,
    lang: LangQuery = None,
) -> Response:
    """Activities for a UN M49 region: for the region itself or any of its member States."""
    filters = FeedFilters(region=[m49])
    return _serve(request, session, filters, when, lang)


@feed_route("/feeds/providers/{acronym}.ics")
def get_provider_feed(
    acronym: str,
    request: Request,
    session: SessionDep,
    when: WindowDep,
    lang: LangQuery = None,
) -> Response:
    """One provider's activities."""
    if organizations.find(session, acronym) is None:
        raise NotFound(f"no organization with acronym {acronym!r}")
    filters = FeedFilters(provider=[acronym.strip().upper()])
    return _serve(request, session, filters, when, lang)


@feed_route("/feeds/themes/{theme}.ics")
def get_theme_feed(
    theme: Theme,
    request: Request,
    session: SessionDep,
    when: WindowDep,
    lang: LangQuery = None,
) -> Response:
    """Activities on one theme."""
    filters = FeedFilters(theme=[theme])
    return _serve(request, session, filters, when, lang)


def query_filters(
    session: SessionDep,
    country: Annotated[list[CountryCode], Query(max_length=50)] = [],  # noqa: B006
    region: Annotated[list[RegionCode], Query(max_length=50)] = [],  # noqa: B006
    theme: Annotated[list[Theme], Query(max_length=50)] = [],  # noqa: B006
    domain: Annotated[list[Domain], Query(max_length=50)] = [],  # noqa: B006
    type: Annotated[list[ActivityType], Query(max_length=50)] = [],  # noqa: B006
    provider: Annotated[list[Acronym], Query(max_length=50)] = [],  # noqa: B006
    status: Annotated[list[Status], Query(max_length=50)] = [],  # noqa: B006
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    updated_since: Annotated[datetime | None, Query()] = None,
) -> FeedFilters:
    """The list API's filters, from the query string; an unknown provider is a 422."""
    organizations.ids_of(session, provider, field="provider")
    return FeedFilters(
        country=country,
        region=region,
        theme=theme,
        domain=domain,
        type=type,
        provider=[p.strip().upper() for p in provider],
        status=status,
        q=q,
        updated_since=updated_since,
    )


QueryFilters = Annotated[FeedFilters, Depends(query_filters)]


@feed_route("/feeds/calendar.ics")
def get_filtered_feed(
    request: Request,
    session: SessionDep,
    filters: QueryFilters,
    when: WindowDep,
    lang: LangQuery = None,
) -> Response:
    """The list API's filters as a feed."""
    return _serve(request, session, filters, when, lang)


@feed_route("/feeds/private/{token}.ics")
def get_private_feed(
    token: str,
    request: Request,
    session: SessionDep,
    when: WindowDep,
    lang: LangQuery = None,
) -> Response:
    """A private feed: its token's filters, restricted activities included."""
    row = tokens.by_token(session, token)
    filters = FeedFilters.model_validate(row.filters)
    language = lang or tokens.language_of(session, row)
    return _serve(request, session, filters, when, language, private_name=row.label)


# API ------------------------------------------------------------------------------------------


def base_url(request: Request) -> str:
    """ASSISTCAL_PUBLIC_URL, else the address and scheme the request came to."""
    configured = request.app.state.settings.public_url
    return configured or str(request.base_url)


@api.post("/feed-tokens", status_code=201, response_model=FeedTokenCreated)
def create_feed_token(
    data: FeedTokenIn, request: Request, session: SessionDep, actor: CurrentPrincipal
) -> FeedTokenCreated:
    """A private feed with these filters; it includes the restricted activities any key may
    read.  The token is shown once."""
    organizations.ids_of(session, data.filters.provider, field="filters.provider")
    return tokens.create_token(session, data, actor=actor, base_url=base_url(request))


@api.get("/feed-tokens", response_model=list[FeedTokenPublic])
def list_feed_tokens(session: SessionDep, viewer: CurrentPrincipal) -> list[FeedTokenPublic]:
    """Your organization's private feeds (an admin sees all)."""
    return tokens.list_tokens(session, viewer)


@api.delete("/feed-tokens/{token_id}", response_model=FeedTokenPublic)
def revoke_feed_token(
    token_id: uuid.UUID, session: SessionDep, actor: CurrentPrincipal
) -> FeedTokenPublic:
    """Revoke a private feed: its address answers 404 from now on."""
    return tokens.revoke_token(session, token_id, actor=actor)


@api.get("/feeds/links", response_model=FeedLinks)
def get_feed_links(
    request: Request, filters: QueryFilters, when: WindowDep, lang: LangQuery = None
) -> FeedLinks:
    """The http(s)://, webcal:// and Google Calendar addresses of the feed for these filters,
    window and language."""
    query = spec.feed_query(filters, lang)
    if when.date_from:
        query["from"] = [when.date_from.isoformat()]
    if when.date_to:
        query["to"] = [when.date_to.isoformat()]
    if when.hide_cancelled:
        query["cancelled"] = ["hide"]
    return spec.links(base_url(request), spec.public_path(query), query)
