"""iCal feeds: contents, time zones, cancellations, HTTP caching, private feeds."""

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.activities.models import Activity
from app.config import Settings
from app.feeds.lint import problems
from app.main import create_app
from tests.conftest import KeyMaker
from tests.feeds.helpers import parse_with_icaljs
from tests.helpers import activity_body, auth

API = "/api/v1"
# Fixed windows keep these tests independent of today's date.
WINDOW = {"from": "2027-01-01", "to": "2027-12-31"}


def post(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    body = activity_body(start_date="2027-03-01", end_date="2027-03-03", **fields)
    response = client.post(f"{API}/activities", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    activity: dict[str, Any] = response.json()["activity"]
    return activity


def feed(client: TestClient, path: str, **params: Any) -> tuple[Any, icalendar.Calendar]:
    response = client.get(path, params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert problems(response.content) == []
    return response, icalendar.Calendar.from_ical(response.content)


@pytest.fixture
def provider(make_key: KeyMaker) -> str:
    return make_key("UNLIREC", "provider")


def test_a_country_feed_names_itself_and_describes_each_event(
    client: TestClient, provider: str
) -> None:
    activity = post(
        client,
        provider,
        title="Workshop on export controls",
        description="Two days on licensing.",
        themes=["export_control", "outreach"],
        partners=["OAS"],
        audiences=["customs"],
        contact_email="desk@unlirec.org",
        url="https://unlirec.org/w1",
        venue={"city": "Port of Spain", "country": "TT", "modality": "in_person"},
    )
    response, calendar = feed(client, "/feeds/countries/TT.ics")
    text = response.content
    head = text[: text.index(b"BEGIN:VEVENT")]
    for expected in (
        b"PRODID:-//assistcal//",
        b"NAME:Trinidad and Tobago - 1540 assistance activities",
        b"X-WR-CALNAME:Trinidad and Tobago - 1540 assistance activities",
        b"DESCRIPTION:",
        b"REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        b"X-PUBLISHED-TTL:PT1H",
    ):
        assert expected in head
    [event] = calendar.events
    assert str(event["uid"]) == f"{activity['id']}@assistcal"
    assert event["sequence"] == 1
    assert str(event["summary"]) == "Workshop on export controls"
    assert str(event["status"]) == "TENTATIVE"
    assert str(event["location"]) == "Port of Spain, Trinidad and Tobago"
    assert str(event["url"]) == "https://unlirec.org/w1"
    description = str(event["description"])
    for part in ("Two days on licensing.", "UNLIREC", "Partners: OAS", "Trinidad and Tobago"):
        assert part in description
    for part in ("Themes: Export control, Outreach", "Audiences: Customs", "Type: Workshop"):
        assert part in description
    assert "Contact: desk@unlirec.org" in description
    assert set(event.categories) >= {"Export control", "Outreach", "UNLIREC"}
    updated = datetime.fromisoformat(activity["updated_at"].replace("Z", "+00:00"))
    assert updated.replace(microsecond=0) == event.DTSTAMP
    assert updated.replace(microsecond=0) == event.LAST_MODIFIED
    # all day, 1-3 March: DTEND is exclusive
    assert b"DTSTART;VALUE=DATE:20270301" in text
    assert b"DTEND;VALUE=DATE:20270304" in text


def test_timed_activities_keep_their_wall_clock_time_across_dst(
    client: TestClient, provider: str
) -> None:
    post(
        client,
        provider,
        title="Port of Spain briefing",
        start_time="09:30",
        end_time="12:00",
        timezone="America/Port_of_Spain",
    )
    # Chile leaves summer time in the night of 3 to 4 April 2027.
    body = activity_body(
        title="Santiago course",
        countries=["CL"],
        start_date="2027-04-02",
        end_date="2027-04-05",
        start_time="09:00",
        end_time="17:00",
        timezone="America/Santiago",
    )
    assert client.post(f"{API}/activities", json=body, headers=auth(provider)).status_code == 201
    response, calendar = feed(client, "/feeds/all.ics")
    text = response.content
    assert b"DTSTART;TZID=America/Port_of_Spain:20270301T093000" in text
    assert b"DTEND;TZID=America/Port_of_Spain:20270303T120000" in text
    assert b"DTSTART;TZID=America/Santiago:20270402T090000" in text
    assert b"DTEND;TZID=America/Santiago:20270405T170000" in text
    events = text[text.index(b"BEGIN:VEVENT") :].split(b"\r\n")
    for line in events:
        if line.startswith((b"DTSTART", b"DTEND")):  # never a fixed offset, never floating
            assert b";TZID=America/" in line or b";VALUE=DATE:" in line, line
    zones = {str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")}
    assert zones == {"America/Port_of_Spain", "America/Santiago"}
    santiago = next(e for e in calendar.events if str(e["summary"]) == "Santiago course")
    assert santiago.start.utcoffset() == timedelta(hours=-3)
    assert santiago.end.utcoffset() == timedelta(hours=-4)
    assert (santiago.start.hour, santiago.end.hour) == (9, 17)
    parsed = parse_with_icaljs(text)
    by_summary = {e["summary"]: e for e in parsed["events"]}
    assert by_summary["Santiago course"]["zone"] == "America/Santiago"
    assert by_summary["Santiago course"]["start"] == "2027-04-02T09:00:00"
    assert by_summary["Santiago course"]["end"] == "2027-04-05T17:00:00"
    utc_start = datetime(2027, 4, 2, 12, 0, tzinfo=UTC).timestamp()
    assert utc_start in parsed["zoned"]


AWKWARD = (
    "Taller: control, exportación; comercio\\estratégico\n"
    "Segunda línea 🚀 — "
    + "Capacitação em segurança nuclear para autoridades aduaneiras e de fronteira "
    * 6
)


def test_text_survives_a_round_trip(client: TestClient, provider: str) -> None:
    post(client, provider, title="Taller; control, de \\ exportaciones 🚀", description=AWKWARD)
    response, calendar = feed(client, "/feeds/all.ics")
    [event] = calendar.events
    assert str(event["summary"]) == "Taller; control, de \\ exportaciones 🚀"
    assert str(event["description"]).startswith(AWKWARD)
    [parsed] = parse_with_icaljs(response.content)["events"]
    assert parsed["summary"] == "Taller; control, de \\ exportaciones 🚀"
    assert parsed["description"].startswith(AWKWARD)


def test_an_empty_feed_is_a_valid_calendar(client: TestClient) -> None:
    response, calendar = feed(client, "/feeds/themes/reporting.ics")
    assert calendar.events == []
    assert b"NAME:Reporting - 1540 assistance activities" in response.content
    assert parse_with_icaljs(response.content)["events"] == []


def test_every_kind_of_feed(client: TestClient, make_key: KeyMaker, provider: str) -> None:
    """All feed paths parse with icalendar and ical.js and hold the expected events."""
    post(client, provider, countries=["TT"], themes=["export_control"])
    post(client, provider, countries=["JM"], themes=["outreach"])
    post(client, provider, countries=[], regions=["029"], themes=["reporting"])  # Caribbean
    opcw = make_key("OPCW", "provider")
    post(client, opcw, countries=["MX"], themes=["outreach"])
    post(client, opcw, countries=["MX"], visibility="restricted")
    token = client.post(
        f"{API}/feed-tokens",
        json={"label": "Mexico desk", "filters": {"country": "MX"}},
        headers=auth(opcw),
    ).json()["token"]
    expected = {
        "/feeds/all.ics": 4,
        "/feeds/countries/TT.ics": 2,  # its own and the Caribbean one
        "/feeds/regions/029.ics": 3,  # Caribbean: TT, JM and the regional one
        "/feeds/providers/OPCW.ics": 1,
        "/feeds/themes/outreach.ics": 2,
        "/feeds/calendar.ics?theme=outreach&country=MX": 1,
        f"/feeds/private/{token}.ics": 2,  # the restricted one too
    }
    window = "from={from}&to={to}".format(**WINDOW)
    bodies = {}
    for path, count in expected.items():
        response = client.get(path + ("&" if "?" in path else "?") + window)
        assert response.status_code == 200, (path, response.text)
        assert problems(response.content) == [], path
        assert len(icalendar.Calendar.from_ical(response.content).events) == count, path
        bodies[path] = response.content
    for path, count in expected.items():  # last: without node and ical.js this skips
        assert len(parse_with_icaljs(bodies[path])["events"]) == count, path


def test_edits_raise_sequence_and_change_the_etag(client: TestClient, provider: str) -> None:
    activity = post(client, provider)
    first = client.get("/feeds/all.ics", params=WINDOW)
    again = client.get("/feeds/all.ics", params=WINDOW)
    assert again.content == first.content  # unchanged data, identical bytes
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")
    assert (
        client.get("/feeds/all.ics", params=WINDOW, headers={"If-None-Match": etag}).status_code
        == 304
    )
    patched = client.patch(
        f"{API}/activities/{activity['id']}", json={"title": "Moved"}, headers=auth(provider)
    )
    assert patched.status_code == 200
    after = client.get("/feeds/all.ics", params=WINDOW, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    [event] = icalendar.Calendar.from_ical(after.content).events
    assert (event["sequence"], str(event["summary"])) == (2, "Moved")


def _next_second() -> None:
    """HTTP dates count whole seconds: wait for the next one."""
    time.sleep(1.05 - datetime.now(UTC).microsecond / 1e6)


def test_if_modified_since(client: TestClient, provider: str) -> None:
    post(client, provider)
    _next_second()
    first = client.get("/feeds/all.ics", params=WINDOW)
    stamp = first.headers["last-modified"]
    unchanged = client.get("/feeds/all.ics", params=WINDOW, headers={"If-Modified-Since": stamp})
    assert unchanged.status_code == 304
    for malformed in ("yesterday", "Thu, 99 Foo 2026 25:61:00 GMT", ""):
        response = client.get(
            "/feeds/all.ics", params=WINDOW, headers={"If-Modified-Since": malformed}
        )
        assert response.status_code == 200
    post(client, provider, title="A new one")
    changed = client.get("/feeds/all.ics", params=WINDOW, headers={"If-Modified-Since": stamp})
    assert changed.status_code == 200
    _next_second()
    later = client.get("/feeds/all.ics", params=WINDOW).headers["last-modified"]
    assert parsedate_to_datetime(later) > parsedate_to_datetime(stamp)


def test_if_modified_since_never_misses_a_change_in_the_same_second(
    client: TestClient, provider: str
) -> None:
    """A fetch right after a change, then another change within that second: the date sent
    must not let the second change pass as unmodified."""
    for attempt in range(3):
        post(client, provider, title=f"First {attempt}")
        fetched = client.get("/feeds/all.ics", params=WINDOW)
        post(client, provider, title=f"Second {attempt}")
        again = client.get(
            "/feeds/all.ics",
            params=WINDOW,
            headers={"If-Modified-Since": fetched.headers["last-modified"]},
        )
        assert again.status_code == 200


def test_if_modified_since_after_an_activity_leaves_the_feed(
    client: TestClient, provider: str
) -> None:
    """Moved to another country, the activity leaves the TT feed: not a 304."""
    activity = post(client, provider)
    _next_second()
    first = client.get("/feeds/countries/TT.ics", params=WINDOW)
    _next_second()
    moved = client.patch(
        f"{API}/activities/{activity['id']}", json={"countries": ["MX"]}, headers=auth(provider)
    )
    assert moved.status_code == 200
    after = client.get(
        "/feeds/countries/TT.ics",
        params=WINDOW,
        headers={"If-Modified-Since": first.headers["last-modified"]},
    )
    assert after.status_code == 200
    assert b"BEGIN:VEVENT" not in after.content


def test_head_answers_the_headers_only(
    client: TestClient, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(client, provider)
    # Both requests after the change's second: within it the date sent is the second before
    # (app.api.feeds._shown), and GET and HEAD could fall on either side of its end.
    later = datetime.now(UTC) + timedelta(seconds=2)
    monkeypatch.setattr("app.api.feeds.utcnow", lambda: later)
    get = client.get("/feeds/all.ics", params=WINDOW)
    head = client.head("/feeds/all.ics", params=WINDOW)
    assert head.status_code == 200
    for name in ("etag", "last-modified", "content-type", "content-length"):
        assert head.headers[name] == get.headers[name]


def test_withdrawn_and_cancelled_show_as_cancelled_for_60_days(
    client: TestClient, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    withdrawn = post(client, provider, title="Withdrawn one")
    cancelled = post(client, provider, title="Cancelled one")
    post(client, provider, title="Still on")
    before = client.get("/feeds/all.ics", params=WINDOW).headers["etag"]
    assert client.delete(
        f"{API}/activities/{withdrawn['id']}", headers=auth(provider)
    ).status_code in (200, 204)
    assert (
        client.patch(
            f"{API}/activities/{cancelled['id']}",
            json={"status": "cancelled"},
            headers=auth(provider),
        ).status_code
        == 200
    )
    response, calendar = feed(client, "/feeds/all.ics")
    assert response.headers["etag"] != before
    status = {str(e["summary"]): (str(e["status"]), e["sequence"]) for e in calendar.events}
    assert status == {
        "Withdrawn one": ("CANCELLED", 2),
        "Cancelled one": ("CANCELLED", 2),
        "Still on": ("TENTATIVE", 1),
    }
    _, hidden = feed(client, "/feeds/all.ics", cancelled="hide")
    assert [str(e["summary"]) for e in hidden.events] == ["Still on"]
    # 61 days later they have left the feed by themselves: no write in between
    in_61_days = date.today() + timedelta(days=61)
    monkeypatch.setattr("app.core.timeutil.today", lambda: in_61_days)
    _, later = feed(client, "/feeds/all.ics")
    assert [str(e["summary"]) for e in later.events] == ["Still on"]


def test_confirmed_duplicates_leave_the_feed(
    client: TestClient, make_key: KeyMaker, provider: str
) -> None:
    first = post(client, provider, title="Taller nacional sobre control de exportaciones")
    other = make_key("US-STATE", "provider")
    second = client.post(
        f"{API}/activities",
        json=activity_body(
            title="National workshop on export controls",
            partners=["UNLIREC"],
            start_date="2027-03-01",
            end_date="2027-03-03",
        ),
        headers=auth(other),
    ).json()
    [finding] = [f for f in second["findings"] if f["kind"] == "duplicate"]
    coordinator = make_key("OAS-CICTE", "coordinator")
    decided = client.post(
        f"{API}/findings/{finding['id']}/decision",
        json={"decision": "confirm", "canonical_id": first["id"]},
        headers=auth(coordinator),
    )
    assert decided.status_code == 200, decided.text
    _, calendar = feed(client, "/feeds/all.ics")
    assert [str(e["uid"]) for e in calendar.events] == [f"{first['id']}@assistcal"]


def test_feeds_in_another_process_see_the_change(
    client: TestClient, provider: str, settings: Any
) -> None:
    """Two app processes on one database: each one's cache follows the other's writes."""
    from app.main import create_app

    post(client, provider, title="One")
    with TestClient(create_app(settings)) as other:
        before = other.get("/feeds/all.ics", params=WINDOW)
        assert before.content.count(b"BEGIN:VEVENT") == 1
        post(client, provider, title="Two")  # written through the first process
        after = other.get(
            "/feeds/all.ics", params=WINDOW, headers={"If-None-Match": before.headers["etag"]}
        )
        assert after.status_code == 200
        assert after.content.count(b"BEGIN:VEVENT") == 2


def test_public_feeds_never_show_restricted_activities(client: TestClient, provider: str) -> None:
    post(client, provider, title="Open")
    post(client, provider, title="Closed", visibility="restricted")
    for path in ("/feeds/all.ics", "/feeds/countries/TT.ics", "/feeds/providers/UNLIREC.ics"):
        _, calendar = feed(client, path)
        assert [str(e["summary"]) for e in calendar.events] == ["Open"], path


def test_private_feed_tokens(client: TestClient, make_key: KeyMaker, provider: str) -> None:
    post(client, provider, title="Closed", visibility="restricted")
    created = client.post(
        f"{API}/feed-tokens",
        json={"label": "TT desk", "filters": {"country": ["TT"], "theme": "national_action_plan"}},
        headers=auth(provider),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert body["url"] == f"http://testserver/feeds/private/{token}.ics"
    assert body["webcal_url"] == "webcal://" + body["url"][len("http://") :]
    assert body["google_url"].startswith("https://calendar.google.com/calendar/")
    private = client.get(body["url"], params=WINDOW)
    assert private.status_code == 200
    assert b"X-WR-CALNAME:TT desk - 1540 assistance activities" in private.content
    assert b"SUMMARY:Closed" in private.content
    assert private.headers["cache-control"].startswith("private")
    listed = client.get(f"{API}/feed-tokens", headers=auth(provider)).json()
    assert [t["label"] for t in listed] == ["TT desk"]
    assert "token" not in listed[0]
    # another organization can neither see nor revoke it
    stranger = make_key("OPCW", "provider")
    assert client.get(f"{API}/feed-tokens", headers=auth(stranger)).json() == []
    assert (
        client.delete(f"{API}/feed-tokens/{body['id']}", headers=auth(stranger)).status_code == 404
    )
    revoked = client.delete(f"{API}/feed-tokens/{body['id']}", headers=auth(provider))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    gone = client.get(f"/feeds/private/{token}.ics", params=WINDOW)
    assert gone.status_code == 404
    assert b"Closed" not in gone.content
    for unknown in ("ft_nothing", "x" * 200, token[:-2] + "zz"):
        assert client.get(f"/feeds/private/{unknown}.ics").status_code == 404


def test_feed_tokens_need_a_key_and_valid_filters(client: TestClient, provider: str) -> None:
    body = {"label": "x", "filters": {"country": "TT"}}
    assert client.post(f"{API}/feed-tokens", json=body).status_code == 401
    bad = client.post(
        f"{API}/feed-tokens",
        json={"label": "x", "filters": {"country": "XX"}},
        headers=auth(provider),
    )
    assert bad.status_code == 422
    assert "filters.country" in bad.text
    unknown_field = client.post(
        f"{API}/feed-tokens",
        json={"label": "x", "filters": {"colour": "red"}},
        headers=auth(provider),
    )
    assert unknown_field.status_code == 422


def test_subscribe_links(client: TestClient, provider: str) -> None:
    """On a plain-http server (the TestClient's http://testserver) the links are http, so one
    pasted into a calendar application or a browser reaches the feed."""
    post(client, provider, title="Outreach seminar", themes=["outreach"])
    links = client.get(f"{API}/feeds/links", params={"country": "TT", "theme": "outreach"})
    assert links.status_code == 200
    body = links.json()
    assert body["url"].startswith("http://testserver/feeds/calendar.ics?")
    assert "country=TT" in body["url"]
    assert "theme=outreach" in body["url"]
    assert body["webcal_url"] == "webcal://" + body["url"][len("http://") :]
    google = urlsplit(body["google_url"])
    assert (google.scheme, google.netloc) == ("https", "calendar.google.com")
    assert parse_qs(google.query)["cid"] == [body["url"]]
    pasted = client.get(body["url"], params=WINDOW)
    assert pasted.status_code == 200
    assert b"SUMMARY:Outreach seminar" in pasted.content
    assert client.get(f"{API}/feeds/links").json()["url"] == "http://testserver/feeds/all.ics"
    assert client.get(f"{API}/feeds/links", params={"country": "XX"}).status_code == 422


def test_links_follow_https_and_the_public_url(settings: Settings, clean_db: None) -> None:
    with TestClient(create_app(settings), base_url="https://testserver") as secure:
        body = secure.get(f"{API}/feeds/links", params={"country": "TT"}).json()
    assert body["url"] == "https://testserver/feeds/calendar.ics?country=TT"
    assert body["webcal_url"] == "webcal://testserver/feeds/calendar.ics?country=TT"
    assert parse_qs(urlsplit(body["google_url"]).query)["cid"] == [body["url"]]
    public = settings.model_copy(update={"public_url": "https://calendar.example.org/1540"})
    with TestClient(create_app(public)) as behind_a_proxy:  # the request itself is http
        body = behind_a_proxy.get(f"{API}/feeds/links").json()
        page = behind_a_proxy.get("/subscribe").text
    assert body["url"] == "https://calendar.example.org/1540/feeds/all.ics"
    assert body["webcal_url"] == "webcal://calendar.example.org/1540/feeds/all.ics"
    assert 'href="https://calendar.example.org/1540/feeds/all.ics"' in page


def test_bad_feed_requests_are_4xx(client: TestClient) -> None:
    assert client.get("/feeds/countries/XX.ics").status_code == 422
    assert client.get("/feeds/regions/999.ics").status_code == 422
    assert client.get("/feeds/themes/cooking.ics").status_code == 422
    assert client.get("/feeds/providers/NOBODY.ics").status_code == 404
    assert client.get("/feeds/all.ics", params={"from": "2027-13-01"}).status_code == 422
    reversed_window = client.get(
        "/feeds/all.ics", params={"from": "2027-02-01", "to": "2027-01-01"}
    )
    assert reversed_window.status_code == 422
    assert client.get("/feeds/all.ics", params={"cancelled": "maybe"}).status_code == 422


def test_the_default_window_is_3_months_back_to_24_ahead(client: TestClient, provider: str) -> None:
    today = date.today()
    for days, title in ((-120, "Too old"), (-60, "Recent"), (700, "Planned"), (760, "Too far")):
        start = (today + timedelta(days=days)).isoformat()
        body = activity_body(title=title, start_date=start, end_date=start)
        assert (
            client.post(f"{API}/activities", json=body, headers=auth(provider)).status_code == 201
        )
    response = client.get("/feeds/all.ics")
    calendar = icalendar.Calendar.from_ical(response.content)
    assert sorted(str(e["summary"]) for e in calendar.events) == ["Planned", "Recent"]


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ("planned", "TENTATIVE"),
        ("postponed", "TENTATIVE"),
        ("confirmed", "CONFIRMED"),
        ("completed", "CONFIRMED"),
        ("cancelled", "CANCELLED"),
    ],
)
def test_status_mapping(client: TestClient, provider: str, status: str, shown: str) -> None:
    post(client, provider, status=status)
    _, calendar = feed(client, "/feeds/all.ics")
    [event] = calendar.events
    assert str(event["status"]) == shown


def test_head_through_a_real_server(live_server: str, make_key: KeyMaker) -> None:
    """uvicorn sends HEAD's headers without the body."""
    import httpx

    key = make_key("UNLIREC", "provider")
    body = activity_body(start_date="2027-03-01", end_date="2027-03-03")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        assert http.post(f"{API}/activities", json=body, headers=auth(key)).status_code == 201
        get = http.get("/feeds/calendar.ics", params={**WINDOW, "provider": "unlirec"})
        head = http.head("/feeds/calendar.ics", params={**WINDOW, "provider": "unlirec"})
    assert get.content.count(b"BEGIN:VEVENT") == 1
    assert head.status_code == 200
    assert head.content == b""
    # The length of the body GET sent, in the coding both accepted (httpx asks for gzip).
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers.get("content-encoding") == get.headers.get("content-encoding")
    assert head.headers["etag"] == get.headers["etag"]


def test_a_private_feed_ends_with_the_key_that_made_it(
    client: TestClient, make_key: KeyMaker, provider: str
) -> None:
    post(client, provider, visibility="restricted")
    token = client.post(
        f"{API}/feed-tokens", json={"label": "desk"}, headers=auth(provider)
    ).json()["token"]
    assert client.get(f"/feeds/private/{token}.ics").status_code == 200
    admin = make_key("ASSISTCAL", "admin")
    prefix = client.get(f"{API}/me", headers=auth(provider)).json()["key_prefix"]
    [key] = [
        k
        for k in client.get(f"{API}/organizations/UNLIREC/api-keys", headers=auth(admin)).json()[
            "items"
        ]
        if k["prefix"] == prefix
    ]
    assert client.delete(f"{API}/api-keys/{key['id']}", headers=auth(admin)).status_code == 200
    assert client.get(f"/feeds/private/{token}.ics").status_code == 404


def test_odd_input_is_a_4xx_naming_the_field(client: TestClient, provider: str) -> None:
    for label in ("two\nlines", "carriage\rreturn", "tab\there", ""):
        answer = client.post(f"{API}/feed-tokens", json={"label": label}, headers=auth(provider))
        assert answer.status_code == 422, label
        assert "label" in answer.text
    many = "&".join(["country=MX"] * 51)
    for path in (f"/feeds/calendar.ics?{many}", f"{API}/feeds/links?{many}"):
        answer = client.get(path)
        assert answer.status_code == 422, path
        assert "country" in answer.text
    long_provider = client.get("/feeds/calendar.ics", params={"provider": "X" * 41})
    assert long_provider.status_code == 422
    # a time that does not exist: clocks go from 02:00 to 03:00 in New York that night
    gap = activity_body(
        start_date="2027-03-14",
        end_date="2027-03-14",
        start_time="02:30",
        end_time="03:15",
        timezone="America/New_York",
    )
    answer = client.post(f"{API}/activities", json=gap, headers=auth(provider))
    assert answer.status_code == 422
    assert "start_time" in answer.text


def test_the_filtered_feed_takes_every_list_filter(client: TestClient, provider: str) -> None:
    post(client, provider, title="Export control seminar")
    post(client, provider, title="Customs training")
    _, calendar = feed(client, "/feeds/calendar.ics", q="export")
    assert [str(e["summary"]) for e in calendar.events] == ["Export control seminar"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    _, none = feed(client, "/feeds/calendar.ics", updated_since=future)
    assert none.events == []
    links = client.get(
        f"{API}/feeds/links",
        params={"country": "TT", "q": "export", "from": "2027-01-01", "cancelled": "hide"},
    ).json()
    for part in ("country=TT", "q=export", "from=2027-01-01", "cancelled=hide"):
        assert part in links["url"]


def test_an_activity_made_restricted_between_two_reads_stays_out(
    client: TestClient, provider: str, engine: Engine
) -> None:
    """PostgreSQL shows each statement the latest commits: the events' contents are read
    after their list, and must be checked again."""
    from app.db.engine import open_session
    from app.feeds import events, spec
    from app.feeds.models import FeedFilters

    activity = post(client, provider, title="Open for now")
    with open_session(engine, write=False) as session:
        wanted = spec.spec_for(
            FeedFilters(), date_from=date(2027, 1, 1), date_to=None, hide_cancelled=False
        )
        listed = events.refs(session, wanted)
        assert [ref.id for ref in listed] == [activity["id"]]
        with engine.begin() as other:  # another request commits in between
            other.execute(
                sa.update(Activity)
                .where(Activity.id == uuid.UUID(activity["id"]))
                .values(visibility="restricted", title="CONFIDENTIAL", revision=2)
            )
        loaded = events.load(session, wanted, listed)
    assert all(event.title != "CONFIDENTIAL" for event in loaded)
