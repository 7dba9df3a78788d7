"""Feeds every client reads alike: icalendar, ical (strict), Mozilla's ical.js and libical
must agree with zoneinfo on each timed event's instant, in every kind of feed."""

import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.activities.models import Activity
from app.feeds.lint import problems
from tests.conftest import KeyMaker
from tests.feeds.helpers import PARSERS, Instants
from tests.helpers import activity_body, auth

API = "/api/v1"
WINDOW = {"from": "2027-01-01", "to": "2028-12-31"}

# (zone, start day, start time, end day, end time): ordinary days in 2027 and 2028, the days
# clocks go forward (times just outside the gap) and back (times inside the repeated hour).
TIMED = [
    ("America/Santiago", "2027-04-10", "09:00", "2027-04-10", "17:00"),
    ("America/Santiago", "2028-06-15", "10:00", "2028-06-16", "12:00"),
    ("America/Santiago", "2027-04-03", "23:30", "2027-04-04", "09:00"),  # 23:00-24:00 twice
    ("America/Santiago", "2027-09-04", "22:00", "2027-09-05", "01:00"),  # 00:00-01:00 skipped
    ("Europe/Paris", "2027-10-29", "09:00", "2027-10-29", "17:30"),
    ("Europe/Paris", "2027-10-31", "02:30", "2027-10-31", "04:00"),  # 02:00-03:00 twice
    ("Europe/Paris", "2027-03-28", "01:59", "2027-03-28", "03:00"),  # 02:00-03:00 skipped
    ("Europe/Paris", "2028-03-26", "09:00", "2028-10-29", "02:15"),  # ends in the repeat
    ("America/New_York", "2027-03-14", "03:00", "2027-03-14", "04:00"),
    ("America/New_York", "2027-11-07", "01:30", "2027-11-07", "01:45"),  # both repeated
    ("America/New_York", "2028-11-05", "00:30", "2028-11-05", "03:00"),
    ("Asia/Tokyo", "2027-06-01", "10:00", "2027-06-03", "16:00"),
    ("Asia/Tokyo", "2028-01-01", "00:30", "2028-01-01", "08:00"),
    ("Australia/Sydney", "2027-04-04", "02:30", "2027-04-04", "05:00"),  # 02:00-03:00 twice
    ("Australia/Sydney", "2027-10-03", "03:00", "2027-10-03", "11:00"),  # 02:00-03:00 skipped
    ("Australia/Lord_Howe", "2028-04-02", "01:45", "2028-04-02", "02:30"),  # half an hour
    ("America/Port_of_Spain", "2027-12-31", "20:00", "2028-01-01", "01:00"),
    ("Europe/Dublin", "2027-10-31", "01:30", "2027-10-31", "03:00"),  # negative DST in tzdata
]
ALL_DAY = [("2027-02-01", "2027-02-03"), ("2027-12-30", "2028-01-02"), ("2028-12-01", "2028-12-01")]


def expected(body: dict[str, Any]) -> tuple[int | None, int | None]:
    """zoneinfo's reading: fold 0, the first of a repeated local time."""
    if not body.get("timezone"):
        return None, None
    zone = ZoneInfo(body["timezone"])
    return tuple(  # type: ignore[return-value]
        int(
            datetime.combine(date.fromisoformat(day), datetime.strptime(hhmm, "%H:%M").time())
            .replace(tzinfo=zone)
            .timestamp()
        )
        for day, hhmm in (
            (body["start_date"], body["start_time"]),
            (body["end_date"], body["end_time"]),
        )
    )


@pytest.fixture
def posted(client: TestClient, make_key: KeyMaker) -> dict[str, dict[str, Any]]:
    """The activities, by UID: timed ones in many zones, all-day ones, one restricted."""
    key = make_key("UNLIREC", "provider")
    bodies = [
        activity_body(
            title=f"{zone} {start_day} {start_time}",
            countries=["CL"],
            themes=["export_control"],
            start_date=start_day,
            start_time=start_time,
            end_date=end_day,
            end_time=end_time,
            timezone=zone,
        )
        for zone, start_day, start_time, end_day, end_time in TIMED
    ]
    bodies += [
        activity_body(
            title=f"All day {start}",
            countries=["CL"],
            themes=["export_control"],
            start_date=start,
            end_date=end,
        )
        for start, end in ALL_DAY
    ]
    bodies.append(
        activity_body(
            title="Restricted",
            countries=["CL"],
            themes=["export_control"],
            visibility="restricted",
            start_date="2027-10-31",
            end_date="2027-10-31",
            start_time="02:40",
            end_time="03:10",
            timezone="Europe/Paris",
        )
    )
    found = {}
    for body in bodies:
        response = client.post(f"{API}/activities", json=body, headers=auth(key))
        assert response.status_code == 201, (body, response.text)
        found[f"{response.json()['activity']['id']}@assistcal"] = body
    return found


def check(text: bytes, wanted: dict[str, tuple[int | None, int | None]]) -> None:
    assert problems(text) == []
    for name, parse in PARSERS.items():
        read: Instants = parse(text)
        assert set(read) == set(wanted), name
        wrong = {uid: (wanted[uid], read[uid]) for uid in wanted if tuple(read[uid]) != wanted[uid]}
        assert wrong == {}, name


def test_every_parser_reads_every_kind_of_feed_alike(
    client: TestClient, make_key: KeyMaker, posted: dict[str, dict[str, Any]]
) -> None:
    public = {uid: expected(body) for uid, body in posted.items() if "visibility" not in body}
    everything = {uid: expected(body) for uid, body in posted.items()}
    assert sum(1 for start, _ in public.values() if start is not None) == len(TIMED)
    token = client.post(
        f"{API}/feed-tokens",
        json={"label": "Chile desk", "filters": {"country": "CL"}},
        headers=auth(make_key("OPCW", "provider")),
    ).json()["token"]
    paths = {
        "/feeds/all.ics": public,
        "/feeds/countries/CL.ics": public,
        "/feeds/regions/005.ics": public,
        "/feeds/providers/UNLIREC.ics": public,
        "/feeds/themes/export_control.ics": public,
        "/feeds/calendar.ics?theme=export_control&country=CL&provider=UNLIREC": public,
        f"/feeds/private/{token}.ics": everything,
    }
    for path, wanted in paths.items():
        response = client.get(path, params=WINDOW)
        assert response.status_code == 200, (path, response.text)
        check(response.content, wanted)


def test_repeated_local_times_are_their_first_occurrence_written_in_utc(
    client: TestClient, posted: dict[str, dict[str, Any]]
) -> None:
    text = client.get("/feeds/all.ics", params=WINDOW).content
    unfolded = text.replace(b"\r\n ", b"")
    # New York, 7 November 2027, 01:30 and 01:45 happen twice: the first is daylight time
    assert b"DTSTART:20271107T053000Z" in unfolded
    assert b"DTEND:20271107T054500Z" in unfolded
    assert b"DTSTART:20271031T003000Z" in unfolded  # Paris, 02:30 CEST
    # times that occur once keep their zone, on the same days too
    assert b"DTEND;TZID=Europe/Paris:20271031T040000" in unfolded
    assert b"DTSTART;TZID=Europe/Paris:20270328T015900" in unfolded
    assert b"DTEND;TZID=Europe/Paris:20270328T030000" in unfolded
    events = unfolded[unfolded.index(b"BEGIN:VEVENT") :]
    for line in events.split(b"\r\n"):
        if line.startswith((b"DTSTART", b"DTEND")) and b"VALUE=DATE" not in line:
            assert b";TZID=" in line or line.endswith(b"Z"), line  # never floating


def test_a_stored_time_in_a_gap_takes_the_offset_before_it(
    client: TestClient, posted: dict[str, dict[str, Any]], engine: Engine
) -> None:
    """The API refuses a local time that does not exist; one stored before that rule (or
    written by hand) is read as RFC 5545 says, the offset before the gap, by every parser."""
    [(uid, _body)] = [
        (uid, body) for uid, body in posted.items() if body["start_date"] == "2027-03-14"
    ]
    from app.db.engine import open_session

    # 02:30 does not exist in New York on 14 March 2027.  (A write through a session moves
    # the change stamp, so the feed is made again.)
    with open_session(engine, write=True) as session:
        session.execute(
            sa.update(Activity)
            .where(Activity.id == uuid.UUID(uid.split("@")[0]))
            .values(start_time="02:30", revision=Activity.revision + 1)
        )
        session.commit()
    text = client.get("/feeds/providers/UNLIREC.ics", params=WINDOW).content
    assert b"DTSTART:20270314T073000Z" in text.replace(b"\r\n ", b"")  # 02:30 EST
    wanted = {u: expected(b) for u, b in posted.items() if "visibility" not in b}
    wanted[uid] = (int(datetime(2027, 3, 14, 7, 30, tzinfo=UTC).timestamp()), wanted[uid][1])
    check(text, wanted)


def test_time_zone_changes_are_at_the_local_time_before_them(
    client: TestClient, posted: dict[str, dict[str, Any]]
) -> None:
    """Each STANDARD or DAYLIGHT onset, read in its TZOFFSETFROM, is the instant zoneinfo
    changes the offset to its TZOFFSETTO; one component per change (no RDATE lists)."""
    text = client.get("/feeds/all.ics", params=WINDOW).content
    calendar = icalendar.Calendar.from_ical(text)
    onsets = {}
    for vtimezone in calendar.walk("VTIMEZONE"):
        zone = ZoneInfo(str(vtimezone["tzid"]))
        parts = vtimezone.walk("STANDARD") + vtimezone.walk("DAYLIGHT")
        assert parts
        for part in parts:
            assert "RDATE" not in part
            assert "RRULE" not in part
            local = part.decoded("dtstart")
            before = part.decoded("tzoffsetfrom")
            after = part.decoded("tzoffsetto")
            instant = (local - before).replace(tzinfo=UTC)
            assert instant.astimezone(zone).utcoffset() == after, (zone, local)
            if before != after:
                earlier = (instant - timedelta(seconds=1)).astimezone(zone)
                assert earlier.utcoffset() == before, (zone, local)
            onsets[(zone.key, local)] = (before, after)
        changes = [t for t in parts if t.decoded("tzoffsetfrom") != t.decoded("tzoffsetto")]
        first = datetime(2027, 1, 1, tzinfo=UTC)
        hourly = [first + timedelta(hours=h) for h in range(2 * 366 * 24 + 24)]
        offsets = {moment.astimezone(zone).utcoffset() for moment in hourly}
        assert bool(changes) == (len(offsets) > 1), zone
    hour = timedelta(hours=1)
    # Paris: clocks go forward at 02:00 CET, back at 03:00 CEST
    assert onsets[("Europe/Paris", datetime(2027, 3, 28, 2))] == (hour, 2 * hour)
    assert onsets[("Europe/Paris", datetime(2027, 10, 31, 3))] == (2 * hour, hour)
    # Santiago: forward at 24:00 -04 on 4 September 2027, back at 24:00 -03 on 3 April
    assert onsets[("America/Santiago", datetime(2027, 9, 5, 0))] == (-4 * hour, -3 * hour)
    assert onsets[("America/Santiago", datetime(2027, 4, 4, 0))] == (-3 * hour, -4 * hour)
    assert not re.search(rb"RDATE[^\r]*,", text)


def test_renaming_a_provider_moves_sequence_and_last_modified(
    client: TestClient, make_key: KeyMaker
) -> None:
    provider = make_key("UNLIREC", "provider")
    admin = make_key("ASSISTCAL", "admin")
    body = activity_body(start_date="2027-03-01", end_date="2027-03-01")
    created = client.post(f"{API}/activities", json=body, headers=auth(provider))
    activity = created.json()["activity"]
    window = {"from": "2027-01-01", "to": "2027-12-31"}

    def event() -> Any:
        response = client.get("/feeds/all.ics", params=window)
        [found] = icalendar.Calendar.from_ical(response.content).events
        return found

    before = event()
    assert before["sequence"] == 1
    time.sleep(1.05 - datetime.now(UTC).microsecond / 1e6)  # iCalendar counts whole seconds
    renamed = client.patch(
        f"{API}/organizations/UNLIREC",
        json={"name": "UN Regional Centre, renamed"},
        headers=auth(admin),
    )
    assert renamed.status_code == 200, renamed.text
    after = event()
    assert "UN Regional Centre, renamed (UNLIREC)" in str(after["description"])
    assert after["sequence"] == 2
    assert after.LAST_MODIFIED > before.LAST_MODIFIED
    assert after.DTSTAMP == after.LAST_MODIFIED
    # its own revision did not move: the activity did not change
    read = client.get(f"{API}/activities/{activity['id']}", headers=auth(provider))
    assert read.json()["revision"] == 1
    # a PATCH that leaves the name alone changes nothing in the feed
    same = client.patch(
        f"{API}/organizations/UNLIREC",
        json={"name": "UN Regional Centre, renamed"},
        headers=auth(admin),
    )
    assert same.status_code == 200
    assert event()["sequence"] == 2
    # the next edit of the activity goes on from there, and so does a move to a provider
    # never renamed: SEQUENCE only grows
    edited = client.patch(
        f"{API}/activities/{activity['id']}", json={"title": "Moved"}, headers=auth(provider)
    )
    assert edited.status_code == 200
    assert event()["sequence"] == 3
    make_key("OPCW", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    moved = client.patch(
        f"{API}/activities/{activity['id']}", json={"provider": "OPCW"}, headers=auth(coordinator)
    )
    assert moved.status_code == 200, moved.text
    assert event()["sequence"] == 4
