"""Composing the notices that are due into e-mails: everything waiting for a person when the
first of it is due goes out as one message, in their language, to the members of each
organization concerned who have not turned that kind off, except the person who made the
change.  The mails are written to the outbox (app.mail) in the same transaction that marks
the notices told, so a notice is composed once: a process that dies before the commit leaves
them pending for the next pass, and two processes never compose the same notice (SKIP LOCKED
on PostgreSQL; SQLite's writes are serial).

The content is read when the mail is composed, not when the change was made: a finding that
no longer applies by then is not told, and the activities are shown as they are now."""

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import formataddr
from functools import cache
from typing import Any

import sqlalchemy as sa
from babel.dates import format_interval
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.activities.models import Activity, ActivityCountry
from app.assistance.models import STATUSES, AssistanceRequest
from app.auth.models import Membership, Person
from app.config import Settings
from app.core import i18n
from app.core.timeutil import utcnow
from app.db import outbox
from app.db.engine import open_session
from app.findings.models import Finding
from app.mail import service as mail
from app.mail.models import Notice
from app.mail.notices import TOPIC
from app.notices import choices
from app.notices.models import NoticeChoice
from app.organizations.models import Organization

log = logging.getLogger("assistcal.notices")

SHOWN = 12  # events told in full in one message; the rest are counted, with a link
STATES_SHOWN = 4  # States named for one activity; the rest are counted
# English dates as the UN writes them (12-14 Mar 2027), Spanish as Spain and Latin America do.
DATE_LOCALES = {"en": "en_GB"}


@cache
def _warned_base() -> None:
    log.warning("ASSISTCAL_PUBLIC_URL is not set: links in e-mails point to http://127.0.0.1:8000")


def base_url(settings: Settings) -> str:
    """Where the links of e-mails point: the public address, else this machine's."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    _warned_base()
    return "http://127.0.0.1:8000"


def dates(start: date, end: date, language: str) -> str:
    """An activity's dates in the reader's language: "12-14 Mar 2027" (with an en dash)."""
    locale = DATE_LOCALES.get(language, language)
    if start == end:
        return i18n.day(start, locale)
    return format_interval(start, end, skeleton="yMMMd", locale=locale)


# Reading what the notices are about ------------------------------------------------------


@dataclass
class Shown:
    """An activity as a notice shows it."""

    id: str
    title: str
    provider: str
    provider_name: str
    provider_id: int
    dates: str
    details: str  # provider, dates and time zone, on one line
    states: str  # the first few beneficiary States, and how many more
    url: str
    contact: str | None
    status: str


@dataclass
class Item:
    """One event in a message: what happened, to which activities, with what words."""

    event: str
    kind: str  # the person's choice it falls under: findings, decisions, requests, changes
    topic: str
    subject: str
    activities: list[Shown] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class _Reader:
    """Reads the activities, findings and requests of a pass once, whoever is told of them."""

    def __init__(self, session: Session, base: str) -> None:
        self.session = session
        self.base = base
        self._activities: dict[uuid.UUID, Activity | None] = {}
        self._states: dict[uuid.UUID, list[str]] = {}
        self._organizations: dict[int, Organization | None] = {}

    def activity(self, activity_id: str | uuid.UUID) -> Activity | None:
        key = uuid.UUID(str(activity_id))
        if key not in self._activities:
            self._activities[key] = self.session.get(Activity, key)
            statement = select(ActivityCountry.country).where(ActivityCountry.activity_id == key)
            self._states[key] = sorted(set(self.session.exec(statement)))
        return self._activities[key]

    def organization(self, organization_id: int) -> Organization | None:
        if organization_id not in self._organizations:
            self._organizations[organization_id] = self.session.get(Organization, organization_id)
        return self._organizations[organization_id]

    def shown(self, activity: Activity, language: str) -> Shown:
        provider = self.organization(activity.provider_id)
        names = [i18n.country(code, language) for code in self._states.get(activity.id, [])]
        states = i18n.listed(names[:STATES_SHOWN], language)
        if len(names) > STATES_SHOWN:
            more = len(names) - STATES_SHOWN
            states = i18n.plural(
                "%(states)s and %(n)s more",
                "%(states)s and %(n)s more",
                more,
                language,
                states=states,
            )
        when = dates(activity.start_date, activity.end_date, language)
        acronym, name = (provider.acronym, provider.name) if provider else ("", "")
        zone = f" ({activity.timezone})" if activity.timezone else ""
        return Shown(
            id=str(activity.id),
            title=activity.title,
            provider=acronym,
            provider_name=name,
            provider_id=activity.provider_id,
            dates=when,
            details=f"{acronym} ({name}){i18n.comma(language)}{when}{zone}"
            if name != acronym
            else f"{acronym}{i18n.comma(language)}{when}{zone}",
            states=states,
            url=f"{self.base}/activity/{activity.id}",
            contact=activity.contact_email or (provider.contact_email if provider else None),
            status=activity.status,
        )

    def states(self, activity_id: uuid.UUID) -> list[str]:
        return self._states.get(activity_id, [])


def _where(reader: _Reader, activities: list[Activity], language: str) -> str:
    """The States an event is about, as its subject names them: those the activities share,
    else the first's."""
    sets = [set(reader.states(a.id)) for a in activities]
    shared = sorted(set.intersection(*sets)) if sets else []
    codes = shared or (sorted(sets[0]) if sets else [])
    names = [i18n.country(code, language) for code in codes[:2]]
    if len(codes) > 2:
        names.append(f"+{len(codes) - 2}")
    return i18n.listed(names, language)


def _item(reader: _Reader, notice: Notice, organization_id: int, language: str) -> Item | None:
    """What one notice says to a member of `organization_id`, or None when there is no longer
    anything to say (a finding that no longer applies, an activity gone)."""
    _ = i18n.translator(language)
    data = notice.data
    if notice.event in ("finding.created", "finding.decided"):
        finding = reader.session.get(Finding, uuid.UUID(data["finding_id"]))
        if finding is None:
            return None
        pair = [reader.activity(finding.first_id), reader.activity(finding.second_id)]
        if None in pair:
            return None
        # The reader's own activity first.
        activities = sorted(
            (a for a in pair if a is not None), key=lambda a: a.provider_id != organization_id
        )
        kind_words = {
            "duplicate": _("Possible duplicate"),
            "overlap": _("Overlap"),
            "clash": _("Clash"),
        }[finding.kind]
        when = dates(activities[0].start_date, activities[0].end_date, language)
        where = i18n.comma(language).join(
            part for part in (_where(reader, activities, language), when) if part
        )
        values: dict[str, Any] = {
            "finding_kind": finding.kind,
            "kind_words": kind_words,
            "reasons": [
                i18n.reason(r.get("code", ""), r.get("message", ""), r.get("params"), language)
                for r in finding.reasons
                if r.get("code") != "not_duplicate" or r.get("params")
            ],
            "review_url": f"{reader.base}/review",
        }
        if notice.event == "finding.created":
            subject = f"{kind_words}{i18n.colon(language, ' ')}{where}"
        else:
            decision = data["decision"]
            decision_words = {
                "dismiss": _("Dismissed"),
                "confirm": _("Confirmed as a duplicate"),
                "coordinate": _("To coordinate"),
                "reopen": _("Reopened"),
            }[decision]
            canonical = reader.activity(data["canonical_id"]) if data.get("canonical_id") else None
            values |= {
                "decision": decision,
                "decision_words": decision_words,
                "note": data.get("note"),
                "by": data.get("by"),
                "stays": canonical.title if canonical else None,
            }
            colon, comma = i18n.colon(language, " "), i18n.comma(language)
            subject = f"{decision_words}{colon}{kind_words.lower()}{comma}{where}"
        return Item(
            notice.event,
            "findings" if notice.event == "finding.created" else "decisions",
            notice.topic,
            subject,
            [reader.shown(a, language) for a in activities],
            values,
        )
    if notice.event in ("activity.updated", "activity.withdrawn"):
        activity = reader.activity(data["activity_id"])
        if activity is None:
            return None
        shown = reader.shown(activity, language)
        verb = _("Withdrawn") if notice.event == "activity.withdrawn" else _("Changed")
        return Item(
            notice.event,
            "changes",
            notice.topic,
            i18n.comma(language).join(
                part
                for part in (
                    f"{verb}{i18n.colon(language, ' ')}{activity.title}",
                    _where(reader, [activity], language),
                    shown.dates,
                )
                if part
            ),
            [shown],
            {
                "by": data.get("by"),
                "fields": [i18n.label(name, language) for name in data.get("fields", [])],
                "reason": data.get("reason"),
            },
        )
    if notice.event in ("request.matched", "request.linked"):
        request = reader.session.get(AssistanceRequest, uuid.UUID(data["request_id"]))
        if request is None or STATUSES.index(request.status) < STATUSES.index("circulated"):
            # Providers see a request once it is circulated to them (as the API shows it).
            return None
        ours = [
            a
            for a in (reader.activity(i) for i in data.get("activity_ids", []))
            if a is not None and a.provider_id == organization_id
        ]
        state = i18n.country(request.country, language)
        if notice.event == "request.matched":
            subject = _("Request matched: %(state)s") % {"state": state}
        else:
            subject = _("Activity linked to a request: %(state)s") % {"state": state}
        return Item(
            notice.event,
            "requests",
            notice.topic,
            subject,
            [reader.shown(a, language) for a in ours],
            {
                "state": state,
                "themes": [i18n.label(t, language) for t in request.themes],
                "help": i18n.label(request.help_sought, language),
                "by": data.get("by"),
                "request_url": f"{reader.base}/requests/{request.id}",
            },
        )
    return None


# Who hears of it -----------------------------------------------------------------------


@dataclass
class _Member:
    person: Person
    organizations: set[int]


def _members(session: Session, organization_ids: Iterable[int]) -> dict[uuid.UUID, _Member]:
    """The people who are active members of these organizations and not removed."""
    statement = (
        select(Person, Membership.organization_id)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .where(
            col(Membership.organization_id).in_(list(organization_ids)),
            Membership.status == "active",
            col(Person.removed_at).is_(None),
        )
    )
    members: dict[uuid.UUID, _Member] = {}
    for person, organization_id in session.exec(statement):
        members.setdefault(person.id, _Member(person, set())).organizations.add(organization_id)
    return members


# Composing ------------------------------------------------------------------------------


def _thread_root(topic: str, person_id: uuid.UUID) -> str:
    """The Message-ID a topic's thread hangs from, for one person: the first message about a
    finding has it, and the later ones (a decision, a reopening) refer to it."""
    return f"<{topic}.{person_id}@{mail.process_domain()}>"


def _compose(
    session: Session,
    person: Person,
    found: NoticeChoice,
    items: list[Item],
    *,
    organizations: list[int],
    reviews: bool,
    base: str,
) -> None:
    """Queue the e-mail telling `person` these items (through `organizations`, theirs)."""
    organization = _organization_of(session, organizations[0]) if organizations else None
    language = person.language if person.language in i18n.LANGUAGES else "en"
    _ = i18n.translator(language)
    kinds = sorted({item.kind for item in items})
    unsubscribe = f"{base}{choices.unsubscribe_path(found, kinds)}"
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    topics = list(dict.fromkeys(item.topic for item in items))
    finding_topics = [t for t in topics if t.startswith("finding.")]
    message_id = None
    if len(topics) == 1 and finding_topics:
        root = _thread_root(topics[0], person.id)
        if all(item.event == "finding.created" for item in items):
            message_id = root  # the first message of the finding's thread
        else:
            headers["In-Reply-To"] = root
    if finding_topics:
        references = " ".join(_thread_root(t, person.id) for t in finding_topics[:10])
        if message_id is None:
            headers["References"] = references
    reply_to = None
    if len(items) == 1 and items[0].event == "finding.created":
        # The other provider's contact: a reply reaches the people to talk to.
        own = organization.id if organization else None
        theirs = [a for a in items[0].activities if a.provider_id != own]
        written = _address(theirs[0].provider_name, theirs[0].contact) if theirs else None
        if written is not None:
            reply_to = (theirs[0].provider_name, theirs[0].contact)
            headers["Reply-To"] = written
    # Findings can come by the thousand (a large file); the rest are few and all told.
    findings = [item for item in items if item.kind == "findings"]
    left_out = findings[SHOWN:]
    shown = [item for item in items if item not in left_out]
    if len(items) == 1:
        subject = items[0].subject
    else:
        subject = i18n.plural(
            "%(first)s, and %(n)s more",
            "%(first)s, and %(n)s more",
            len(items) - 1,
            language,
            first=items[0].subject,
        )
    kind_words = {
        "findings": _("possible duplicates, overlaps and clashes"),
        "decisions": _("coordinators' decisions"),
        "requests": _("requests"),
        "changes": _("changes made by others"),
    }
    mail.queue(
        session,
        to=person.email,
        template="notices",
        language=language,
        headers=headers,
        person_id=person.id,
        message_id=message_id,
        subject_line=subject,
        name=person.name,
        organization=organization.acronym if organization else "",
        items=shown,
        more=len(left_out),
        # the review queue is for coordinators; a provider's warnings are on its own page
        review_url=f"{base}/review" if reviews else f"{base}/our/warnings",
        account_url=f"{base}/account",
        unsubscribe_url=unsubscribe,
        reply_to=reply_to,
        kinds=[kind_words[k] for k in kinds],
        organization_id=organizations[0] if len(organizations) == 1 else None,
    )


def _organization_of(session: Session, organization_id: int) -> Organization | None:
    return session.get(Organization, organization_id)


def _address(name: str, address: str | None) -> str | None:
    """A Reply-To header for the address, its domain in ASCII (IDNA); None when it cannot be
    written in a header (a local part outside ASCII)."""
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    try:
        local.encode("ascii")
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return formataddr((name, f"{local}@{ascii_domain}"))


def _items_for(
    reader: _Reader,
    notices: list[Notice],
    member: _Member,
    found: NoticeChoice,
    language: str,
    said: dict[tuple[uuid.UUID, int, str], Item | None],
) -> tuple[list[Item], list[int]]:
    """What the member is told of these notices, and through which of their organizations:
    not their own changes, not what they turned off, and a change told to two of their
    organizations once."""
    items: list[Item] = []
    organizations: list[int] = []
    seen: set[tuple[str, str, str, str]] = set()
    for notice in notices:
        if notice.organization_id not in member.organizations:
            continue
        if notice.actor_person_id == member.person.id or not choices.wants(found, notice.kind):
            continue
        # One change recorded for two organizations has one time and the same data.
        key = (
            notice.event,
            notice.topic,
            notice.created_at.isoformat(),
            json.dumps(notice.data, sort_keys=True),
        )
        if key in seen:
            continue
        cached = (notice.id, notice.organization_id, language)
        if cached not in said:
            said[cached] = _item(reader, notice, notice.organization_id, language)
        item = said[cached]
        if item is None:
            continue
        seen.add(key)
        items.append(item)
        if notice.organization_id not in organizations:
            organizations.append(notice.organization_id)
    return items, organizations


def tell_due(engine: Engine, settings: Settings, *, now: Callable[[], datetime] = utcnow) -> int:
    """Compose the notices that are due, with whatever else waits for the same people, into
    one e-mail per person; returns how many e-mails were queued."""
    moment = now()
    due = (
        sa.select(col(Notice.organization_id))
        .where(col(Notice.status) == "pending", col(Notice.due_at) <= moment)
        .distinct()
    )
    with open_session(engine, write=False) as session:
        organization_ids = list(session.execute(due).scalars())
    if not organization_ids:
        return 0  # nothing due: no write transaction (on SQLite, no write lock)
    base = base_url(settings)
    with open_session(engine, write=True) as session:
        statement = (
            select(Notice)
            .where(
                col(Notice.status) == "pending",
                col(Notice.organization_id).in_(organization_ids),
            )
            .order_by(col(Notice.created_at))
        )
        if engine.dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        notices = list(session.exec(statement))
        if not notices:
            return 0
        members = _members(session, {n.organization_id for n in notices})
        reader = _Reader(session, base)
        said: dict[
            tuple[uuid.UUID, int, str], Item | None
        ] = {}  # each notice read once per language
        queued = 0
        for person_id, member in sorted(members.items(), key=lambda m: m[1].person.email):
            language = member.person.language if member.person.language in i18n.LANGUAGES else "en"
            try:
                # One person's e-mail that cannot be made (a contact address that cannot be
                # written in a header, a bug) is logged and skipped, not everyone's.
                with session.begin_nested():
                    found = choices.choice(session, person_id)
                    items, organizations = _items_for(
                        reader, notices, member, found, language, said
                    )
                    if items:
                        _compose(
                            session,
                            member.person,
                            found,
                            items,
                            organizations=organizations,
                            reviews=choices.reviews(session, person_id),
                            base=base,
                        )
                        queued += 1
            except Exception:
                log.exception("notices: the e-mail to %s could not be made", member.person.email)
        for notice in notices:
            session.delete(notice)  # told (or nobody to tell): nothing more to keep
        session.commit()
    if queued:
        log.info("notices: %d e-mails queued", queued)
    return queued


class Worker(outbox.Worker):
    """The thread that composes notices as they fall due (app.db.outbox.Worker): woken by
    each commit that recorded some, and every few seconds for those falling due."""

    topic = TOPIC

    def __init__(self, engine: Engine, settings: Settings, *, poll_seconds: float) -> None:
        super().__init__(poll_seconds=poll_seconds, stop_seconds=10, log=log)
        self.engine = engine
        self.settings = settings

    def send_due(self, opened: Any) -> None:
        tell_due(self.engine, self.settings)
