"""Which events a feed shows, and everything they show: read with the feed's filters, its
window, and the stay of cancelled activities."""

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.activities.models import Activity
from app.activities.queries import Filters, conditions
from app.activities.queries import links as links_of
from app.core import i18n, vocab
from app.core.timeutil import as_utc
from app.db.sql import chunks
from app.feeds import render
from app.feeds.models import FeedEvent, FeedEventText
from app.feeds.spec import CANCELLED_STAY, FeedSpec, start_of
from app.organizations.models import Organization


def _filters(spec: FeedSpec) -> Filters:
    f = spec.filters
    date_from, date_to = spec.window
    return Filters(
        countries=[*f.country],
        regions=[*f.region],
        themes=[*f.theme],
        domains=[*f.domain],
        types=[*f.type],
        providers=[*f.provider],
        statuses=[*f.status],
        date_from=date_from,
        date_to=date_to,
        q=f.q,
        updated_since=f.updated_since,
    )


def _cancelled() -> sa.ColumnElement[bool]:
    return sa.or_(col(Activity.withdrawn_at).is_not(None), col(Activity.status) == "cancelled")


def _cancelled_at() -> sa.ColumnElement[Any]:
    return sa.func.coalesce(col(Activity.withdrawn_at), col(Activity.updated_at))


def shown(session: Session, spec: FeedSpec) -> list[sa.ColumnElement[bool]]:
    """The conditions on an activity the feed shows: its filters and window, then no
    confirmed duplicates; cancelled and withdrawn activities for 60 days (or never, with
    hide_cancelled)."""
    where = conditions(session, _filters(spec), public_only=not spec.include_restricted)
    where.append(col(Activity.duplicate_of).is_(None))
    if spec.hide_cancelled:
        where.append(sa.not_(_cancelled()))
    else:
        since = start_of(spec.today) - CANCELLED_STAY
        where.append(sa.or_(sa.not_(_cancelled()), _cancelled_at() >= since))
    return where


def refs(session: Session, spec: FeedSpec) -> list[render.EventRef]:
    """The feed's events by start date, as much of them as tells whether a kept text is
    current: a few plain columns, so that a feed whose events are kept is read quickly."""
    rows = session.execute(
        sa.select(
            col(Activity.id),
            col(Activity.revision),
            col(Activity.withdrawn_at),
            col(Organization.acronym),
            col(Organization.name),
            col(FeedEvent.renamed),
            col(FeedEvent.renamed_at),
            col(FeedEventText.text_key),
            col(Activity.start_date),
            col(Activity.end_date),
            col(Activity.start_time),
            col(Activity.timezone),
        )
        .join(Organization, col(Organization.id) == Activity.provider_id)
        .outerjoin(FeedEvent, col(FeedEvent.activity_id) == Activity.id)
        .outerjoin(
            FeedEventText,
            sa.and_(
                col(FeedEventText.activity_id) == Activity.id,
                col(FeedEventText.language) == spec.language,
            ),
        )
        .where(*shown(session, spec))
        .order_by(col(Activity.start_date), col(Activity.id))
    )
    return [
        render.EventRef(
            id=str(activity_id),
            revision=revision,
            withdrawn=withdrawn_at is not None,
            provider=acronym,
            provider_name=name,
            renamed=renamed or 0,
            renamed_at=as_utc(renamed_at) if renamed_at else None,
            stored=text_key,
            start_date=start_date,
            end_date=end_date,
            zone=zone if start_time else None,
            language=spec.language,
        )
        for (
            activity_id,
            revision,
            withdrawn_at,
            acronym,
            name,
            renamed,
            renamed_at,
            text_key,
            start_date,
            end_date,
            start_time,
            zone,
        ) in rows
    ]


def load(session: Session, spec: FeedSpec, wanted: list[render.EventRef]) -> list[render.EventData]:
    """Everything these events show, in chunks of 5,000.  The feed's conditions and each
    event's revision are checked again: on PostgreSQL each statement sees the latest
    commits, and an activity made restricted since `refs` must not reach a public feed."""
    language = spec.language
    geography = vocab.geography()
    country_names = {code: i18n.country(code, language) for code in geography.countries}
    region_names = {code: i18n.region(code, language) for code in geography.region_names}
    by_id = {uuid.UUID(ref.id): ref for ref in wanted}
    ids = list(by_id)
    loaded: list[render.EventData] = []
    for chunk in chunks(ids, 5_000):
        states, regions = links_of(session, chunk)
        current = select(Activity).where(col(Activity.id).in_(chunk), *shown(session, spec))
        for a in session.exec(current):
            ref = by_id[a.id]
            if a.revision != ref.revision:
                continue  # changed since refs: the next request renders the new revision
            loaded.append(
                render.EventData(
                    id=ref.id,
                    revision=a.revision,
                    created_at=a.created_at,
                    updated_at=a.updated_at,
                    title=a.title,
                    description=a.description,
                    status=a.status,
                    withdrawn=a.withdrawn_at is not None,
                    start_date=a.start_date,
                    end_date=a.end_date,
                    start_time=a.start_time,
                    end_time=a.end_time,
                    timezone=a.timezone,
                    provider=ref.provider,
                    provider_name=ref.provider_name,
                    renamed=ref.renamed,
                    renamed_at=ref.renamed_at,
                    partners=tuple(a.partners),
                    states=render.names(states[a.id], country_names),
                    regions=render.names(regions[a.id], region_names),
                    themes=tuple(a.themes),
                    activity_type=a.activity_type,
                    audiences=tuple(a.audiences),
                    location=_location(a, country_names, language),
                    contact_email=a.contact_email,
                    url=a.url,
                    language=language,
                )
            )
    return loaded


def _location(activity: Activity, country_names: dict[str, str], language: str) -> str | None:
    _ = i18n.translator(language)
    parts = [activity.venue_city, country_names.get(activity.venue_country or "")]
    place = ", ".join(p for p in parts if p)
    if activity.modality == "virtual":
        return _("Online (%(place)s)") % {"place": place} if place else _("Online")
    if activity.modality == "hybrid":
        return _("%(place)s and online") % {"place": place} if place else _("Online")
    return place or None
