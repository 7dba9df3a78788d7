"""The activities API as providers, coordinators and anonymous readers use it."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.activities.models import IdempotencyRecord
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth, table_counts

API = "/api/v1"


def submit(client: TestClient, key: str, **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{API}/activities", json=activity_body(**overrides), headers=auth(key))
    assert response.status_code == 201, response.text
    activity: dict[str, Any] = response.json()["activity"]
    return activity


def test_created_activity_has_every_field(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    response = client.post(
        f"{API}/activities",
        json=activity_body(
            partners=["US-STATE", "Ministry of Foreign Affairs"],
            external_ref="UNL-2025-07",
            description="Two days on the national action plan.",
            domains=["nuclear", "chemical"],
            audiences=["foreign_affairs", "customs"],
            start_time="09:00",
            end_time="17:00",
            timezone="America/Port_of_Spain",
            regions=["029"],
            venue={"city": "Port of Spain", "country": "TT", "modality": "hybrid"},
            delivery_languages=["en", "es"],
            status="confirmed",
            contact_email="focal.point@example.org",
            url="https://example.org/events/7",
        ),
        headers=auth(key),
    )
    assert response.status_code == 201, response.text
    assert response.json()["findings"] == []
    activity = response.json()["activity"]
    assert response.headers["Location"] == f"{API}/activities/{activity['id']}"
    expected = {
        "provider": "UNLIREC",
        "partners": ["US-STATE", "Ministry of Foreign Affairs"],
        "external_ref": "UNL-2025-07",
        "domains": ["nuclear", "chemical"],
        "countries": ["TT"],
        "regions": ["029"],
        "venue": {"city": "Port of Spain", "country": "TT", "modality": "hybrid"},
        "start_time": "09:00",
        "timezone": "America/Port_of_Spain",
        "status": "confirmed",
        "visibility": "public",
        "revision": 1,
        "duplicate_of": None,
        "withdrawn_at": None,
    }
    assert {k: activity[k] for k in expected} == expected
    assert activity["created_at"].endswith("Z")
    again = client.get(f"{API}/activities/{activity['id']}")
    assert again.json() == activity
    assert again.headers["ETag"] == '"1"'


def test_defaults_are_planned_and_public(client: TestClient, make_key: KeyMaker) -> None:
    activity = submit(client, make_key())
    assert (activity["status"], activity["visibility"]) == ("planned", "public")
    assert activity["venue"] is None
    assert activity["domains"] == activity["audiences"] == activity["partners"] == []


# Who may do what -------------------------------------------------------------------------


def test_provider_cannot_change_another_organizations_activity(
    client: TestClient, make_key: KeyMaker
) -> None:
    owner = make_key("UNLIREC", "provider")
    other = make_key("IAEA", "provider")
    activity = submit(client, owner)
    url = f"{API}/activities/{activity['id']}"
    patched = client.patch(url, json={"title": "Hijacked"}, headers=auth(other))
    assert patched.status_code == 403
    assert patched.json()["error"]["code"] == "forbidden"
    assert client.delete(url, headers=auth(other)).status_code == 403
    unchanged = client.get(url).json()
    assert unchanged["title"] == activity["title"]
    assert unchanged["revision"] == 1
    assert unchanged["withdrawn_at"] is None


def test_provider_cannot_submit_for_another_organization(
    client: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    key = make_key("UNLIREC", "provider")
    make_key("IAEA", "provider")
    before = table_counts(engine)["activity"]
    response = client.post(
        f"{API}/activities", json=activity_body(provider="IAEA"), headers=auth(key)
    )
    assert response.status_code == 403
    assert table_counts(engine)["activity"] == before
    # naming its own organization is fine
    assert submit(client, key, provider="unlirec")["provider"] == "UNLIREC"


def test_coordinator_enters_and_corrects_on_behalf_of_a_provider(
    client: TestClient, make_key: KeyMaker
) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    make_key("IAEA", "provider")
    activity = submit(client, coordinator, provider="IAEA")
    assert activity["provider"] == "IAEA"
    url = f"{API}/activities/{activity['id']}"
    fixed = client.patch(url, json={"title": "Corrected title"}, headers=auth(coordinator))
    assert fixed.status_code == 200
    history = client.get(f"{url}/history", headers=auth(coordinator)).json()["items"]
    assert [(h["action"], h["actor_organization"], h["actor_role"]) for h in history] == [
        ("activity.create", "OAS-CICTE", "coordinator"),
        ("activity.update", "OAS-CICTE", "coordinator"),
    ]


def test_coordinator_naming_an_unknown_provider_gets_422(
    client: TestClient, make_key: KeyMaker
) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    response = client.post(
        f"{API}/activities", json=activity_body(provider="NOPE"), headers=auth(coordinator)
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "provider"


def test_anonymous_callers_see_only_public_activities(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key()
    public = submit(client, key, title="Open seminar")
    restricted = submit(
        client, key, title="Closed-door legislative review", visibility="restricted"
    )
    anonymous = client.get(f"{API}/activities").json()["items"]
    assert [a["id"] for a in anonymous] == [public["id"]]
    assert client.get(f"{API}/activities/{restricted['id']}").status_code == 404
    assert client.get(f"{API}/activities", params={"q": "Closed"}).json()["items"] == []
    # any key, of any organization, reads restricted activities
    reader = make_key("IAEA", "provider")
    seen = client.get(f"{API}/activities", headers=auth(reader)).json()["items"]
    assert {a["id"] for a in seen} == {public["id"], restricted["id"]}
    assert (
        client.get(f"{API}/activities/{restricted['id']}", headers=auth(reader)).status_code == 200
    )


def test_anonymous_callers_cannot_write(client: TestClient, make_key: KeyMaker) -> None:
    activity = submit(client, make_key())
    url = f"{API}/activities/{activity['id']}"
    assert client.post(f"{API}/activities", json=activity_body()).status_code == 401
    assert client.patch(url, json={"title": "x"}).status_code == 401
    assert client.delete(url).status_code == 401
    assert client.get(f"{url}/history").status_code == 401


# Revisions, ETag and If-Match ------------------------------------------------------------


def test_revision_grows_by_one_per_change_and_etag_follows(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key()
    activity = submit(client, key)
    url = f"{API}/activities/{activity['id']}"
    first = client.patch(url, json={"status": "confirmed"}, headers=auth(key))
    assert (first.json()["revision"], first.headers["ETag"]) == (2, '"2"')
    second = client.patch(
        url, json={"end_date": "2025-03-13"}, headers={**auth(key), "If-Match": '"2"'}
    )
    assert (second.json()["revision"], second.headers["ETag"]) == (3, '"3"')
    # a patch that changes nothing is not a new revision
    same = client.patch(url, json={"status": "confirmed"}, headers=auth(key))
    assert same.json()["revision"] == 3
    assert client.get(url, headers={"If-None-Match": '"3"'}).status_code == 304


def test_stale_if_match_gives_412_and_changes_nothing(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key()
    activity = submit(client, key)
    url = f"{API}/activities/{activity['id']}"
    assert (
        client.patch(
            url, json={"title": "Edit A"}, headers={**auth(key), "If-Match": '"1"'}
        ).status_code
        == 200
    )
    stale = client.patch(url, json={"title": "Edit B"}, headers={**auth(key), "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert stale.json()["error"]["details"][0]["field"] == "If-Match"
    withdrawn = client.delete(url, headers={**auth(key), "If-Match": '"1"'})
    assert withdrawn.status_code == 412
    current = client.get(url).json()
    assert (current["title"], current["revision"], current["status"]) == ("Edit A", 2, "planned")
    history = client.get(f"{url}/history", headers=auth(key)).json()["items"]
    assert len(history) == 2


def test_weak_if_match_never_matches(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key()
    activity = submit(client, key)
    url = f"{API}/activities/{activity['id']}"
    weak = client.patch(url, json={"title": "x"}, headers={**auth(key), "If-Match": 'W/"1"'})
    assert weak.status_code == 412
    assert client.get(url).json()["revision"] == 1


def test_patch_updates_links_used_by_country_filters(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key()
    activity = submit(client, key, countries=["TT"])
    url = f"{API}/activities/{activity['id']}"
    client.patch(url, json={"countries": ["JM"], "regions": ["013"]}, headers=auth(key))
    ids = lambda **p: [a["id"] for a in client.get(f"{API}/activities", params=p).json()["items"]]  # noqa: E731
    assert ids(country="TT") == []
    assert ids(country="JM") == [activity["id"]]
    assert ids(country="PA") == [activity["id"]]  # Panama is in Central America (013)
    history = client.get(f"{url}/history", headers=auth(key)).json()["items"]
    assert history[-1]["changes"]["countries"] == [["TT"], ["JM"]]
    assert history[-1]["changes"]["regions"] == [[], ["013"]]


def test_clearing_optional_fields_with_null(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key()
    activity = submit(
        client,
        key,
        start_time="10:00",
        end_time="12:00",
        timezone="America/Lima",
        venue={"city": "Lima", "country": "PE"},
    )
    url = f"{API}/activities/{activity['id']}"
    patched = client.patch(
        url,
        json={"start_time": None, "end_time": None, "timezone": None, "venue": None},
        headers=auth(key),
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["start_time"], body["timezone"], body["venue"]) == (None, None, None)


def test_external_ref_is_unique_per_provider(client: TestClient, make_key: KeyMaker) -> None:
    unlirec = make_key("UNLIREC", "provider")
    iaea = make_key("IAEA", "provider")
    submit(client, unlirec, external_ref="REF-1")
    clash = client.post(
        f"{API}/activities", json=activity_body(external_ref="REF-1"), headers=auth(unlirec)
    )
    assert clash.status_code == 409
    assert clash.json()["error"]["details"][0]["field"] == "external_ref"
    assert submit(client, iaea, external_ref="REF-1")["provider"] == "IAEA"


# Withdrawal and history ------------------------------------------------------------------


def test_withdraw_keeps_the_activity_as_cancelled(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key()
    activity = submit(client, key, status="confirmed")
    url = f"{API}/activities/{activity['id']}"
    withdrawn = client.delete(url, headers=auth(key))
    assert withdrawn.status_code == 200
    body = withdrawn.json()
    assert (body["status"], body["revision"]) == ("cancelled", 2)
    assert body["withdrawn_at"] is not None
    assert client.get(url).json()["status"] == "cancelled"
    assert client.delete(url, headers=auth(key)).json()["revision"] == 2
    refused = client.patch(url, json={"title": "Back again"}, headers=auth(key))
    assert refused.status_code == 409
    actions = [h["action"] for h in client.get(f"{url}/history", headers=auth(key)).json()["items"]]
    assert actions == ["activity.create", "activity.withdraw"]


def test_history_says_who_changed_what(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key()
    activity = submit(client, key)
    url = f"{API}/activities/{activity['id']}"
    client.patch(url, json={"title": "New title", "themes": ["legislation"]}, headers=auth(key))
    items = client.get(f"{url}/history", headers=auth(key)).json()["items"]
    update = items[1]
    assert update["revision"] == 2
    assert update["actor_organization"] == "UNLIREC"
    assert update["actor_key_prefix"] == key[:10]
    assert update["changes"] == {
        "title": [activity["title"], "New title"],
        "themes": [["national_action_plan"], ["legislation"]],
    }
    page = client.get(f"{url}/history", params={"limit": 1}, headers=auth(key)).json()
    assert len(page["items"]) == 1
    rest = client.get(
        f"{url}/history", params={"cursor": page["next_cursor"]}, headers=auth(key)
    ).json()
    assert [h["action"] for h in rest["items"]] == ["activity.update"]
    assert rest["next_cursor"] is None


# Idempotency ------------------------------------------------------------------------------


def test_retried_post_with_same_idempotency_key_returns_the_first_activity(
    client: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    key = make_key()
    headers = {**auth(key), "Idempotency-Key": "retry-1"}
    first = client.post(f"{API}/activities", json=activity_body(), headers=headers)
    second = client.post(f"{API}/activities", json=activity_body(), headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["activity"]["id"] == first.json()["activity"]["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert table_counts(engine)["activity"] == 1
    other_body = client.post(
        f"{API}/activities", json=activity_body(title="Something else"), headers=headers
    )
    assert other_body.status_code == 409
    assert table_counts(engine)["activity"] == 1
    # keys are per organization: another organization may use the same key string
    other_org = make_key("IAEA", "provider")
    third = client.post(
        f"{API}/activities",
        json=activity_body(),
        headers={**auth(other_org), "Idempotency-Key": "retry-1"},
    )
    assert third.status_code == 201
    assert table_counts(engine)["activity"] == 2


def test_twenty_concurrent_retries_create_one_activity(
    live_server: str, make_key: KeyMaker, engine: Engine
) -> None:
    key = make_key()
    headers = {**auth(key), "Idempotency-Key": "burst-20"}
    results: list[httpx.Response] = []
    gate = threading.Barrier(20)

    def post() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            gate.wait()
            results.append(http.post(f"{API}/activities", json=activity_body(), headers=headers))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted({r.status_code for r in results}) == [201], [r.text for r in results]
    assert len({r.json()["activity"]["id"] for r in results}) == 1
    assert table_counts(engine)["activity"] == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 19


def test_concurrent_patches_with_one_if_match_let_exactly_one_win(
    live_server: str, make_key: KeyMaker
) -> None:
    key = make_key()
    with httpx.Client(base_url=live_server, timeout=60) as http:
        created = http.post(f"{API}/activities", json=activity_body(), headers=auth(key)).json()
    url = f"{API}/activities/{created['activity']['id']}"
    statuses: list[int] = []
    gate = threading.Barrier(8)

    def patch(n: int) -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            gate.wait()
            response = http.patch(
                url, json={"title": f"Edit {n}"}, headers={**auth(key), "If-Match": '"1"'}
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [412] * 7
    with httpx.Client(base_url=live_server, timeout=60) as http:
        assert http.get(url).json()["revision"] == 2


# Listing ---------------------------------------------------------------------------------


@pytest.fixture
def calendar(client: TestClient, make_key: KeyMaker) -> dict[str, str]:
    """A small calendar; returns name -> id."""
    unlirec = make_key("UNLIREC", "provider")
    iaea = make_key("IAEA", "provider")
    rows = {
        "tt_nap": (
            unlirec,
            {"countries": ["TT"], "start_date": "2025-02-03", "end_date": "2025-02-04"},
        ),
        "jm_export": (
            unlirec,
            {
                "countries": ["JM"],
                "themes": ["export_control"],
                "activity_type": "training",
                "start_date": "2025-03-10",
                "end_date": "2025-03-14",
                "title": "Strategic trade controls training for customs",
            },
        ),
        "caribbean": (
            iaea,
            {
                "countries": [],
                "regions": ["029"],
                "themes": ["physical_protection"],
                "domains": ["nuclear"],
                "start_date": "2025-04-01",
                "end_date": "2025-04-03",
                "status": "confirmed",
            },
        ),
        "pe_bio": (
            iaea,
            {
                "countries": ["PE"],
                "domains": ["biological"],
                "start_date": "2025-06-01",
                "end_date": "2025-06-01",
                "language": "es",
                "title": "Taller nacional sobre bioseguridad",
            },
        ),
    }
    return {name: submit(client, key, **fields)["id"] for name, (key, fields) in rows.items()}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["tt_nap", "jm_export", "caribbean", "pe_bio"]),
        ({"country": "TT"}, ["tt_nap", "caribbean"]),  # TT is in the Caribbean (029)
        ({"country": ["JM", "PE"]}, ["jm_export", "caribbean", "pe_bio"]),
        ({"region": "029"}, ["tt_nap", "jm_export", "caribbean"]),
        ({"region": "005"}, ["pe_bio"]),
        ({"region": "419"}, ["tt_nap", "jm_export", "caribbean", "pe_bio"]),
        ({"theme": "export_control"}, ["jm_export"]),
        ({"theme": ["export_control", "physical_protection"]}, ["jm_export", "caribbean"]),
        ({"domain": "biological"}, ["pe_bio"]),
        ({"type": "training"}, ["jm_export"]),
        ({"provider": "iaea"}, ["caribbean", "pe_bio"]),
        ({"status": "confirmed"}, ["caribbean"]),
        ({"from": "2025-03-12", "to": "2025-04-01"}, ["jm_export", "caribbean"]),
        ({"from": "2025-04-04"}, ["pe_bio"]),
        ({"to": "2025-02-03"}, ["tt_nap"]),
        ({"q": "bioseguridad"}, ["pe_bio"]),
        ({"q": "CUSTOMS"}, ["jm_export"]),
        ({"q": "100%_"}, []),
        # a State by its name in any of the seven languages, accents optional
        ({"q": "Trinidad y Tobago"}, ["tt_nap", "caribbean"]),
        ({"q": "Trinité-et-Tobago"}, ["tt_nap", "caribbean"]),
        ({"q": "trinite et tobago"}, ["tt_nap", "caribbean"]),
        ({"q": "Тринидад и Тобаго"}, ["tt_nap", "caribbean"]),  # noqa: RUF001
        ({"q": "Perú"}, ["pe_bio"]),
        ({"country": "TT", "theme": "physical_protection"}, ["caribbean"]),
    ],
)
def test_list_filters(
    client: TestClient, calendar: dict[str, str], params: dict[str, Any], expected: list[str]
) -> None:
    response = client.get(f"{API}/activities", params=params)
    assert response.status_code == 200, response.text
    names = {v: k for k, v in calendar.items()}
    assert [names[a["id"]] for a in response.json()["items"]] == expected


def test_updated_since_returns_recent_changes(
    client: TestClient, make_key: KeyMaker, calendar: dict[str, str]
) -> None:
    key = make_key("UNLIREC", "provider")
    mark = client.get(f"{API}/activities/{calendar['pe_bio']}").json()["updated_at"]
    client.patch(
        f"{API}/activities/{calendar['tt_nap']}", json={"status": "confirmed"}, headers=auth(key)
    )
    recent = client.get(f"{API}/activities", params={"updated_since": mark}).json()["items"]
    assert calendar["tt_nap"] in [a["id"] for a in recent]
    assert calendar["jm_export"] not in [a["id"] for a in recent]


def test_pagination_is_stable_and_complete(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key()
    created = [
        submit(client, key, start_date=f"2025-05-{day:02d}", end_date=f"2025-05-{day:02d}")["id"]
        for day in (3, 1, 2, 2, 5, 4, 1)
    ]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"{API}/activities", params=params).json()
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # an activity added before the cursor's position does not shift later pages
        if pages == 1:
            submit(client, key, start_date="2025-04-01", end_date="2025-04-01")
    assert pages == 3
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))
    dates = [client.get(f"{API}/activities/{i}").json()["start_date"] for i in seen]
    assert dates == sorted(dates)


def test_idempotency_keys_are_remembered_for_the_configured_time(
    client: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    key = make_key()
    headers = {**auth(key), "Idempotency-Key": "daily-sync"}
    first = client.post(f"{API}/activities", json=activity_body(), headers=headers).json()

    def age(hours: float) -> None:
        with engine.begin() as conn:
            conn.execute(
                sa.update(IdempotencyRecord).values(
                    created_at=datetime.now(UTC) - timedelta(hours=hours)
                )
            )

    age(47)  # the default keeps keys 48 hours, never under 24
    replay = client.post(f"{API}/activities", json=activity_body(), headers=headers)
    assert replay.json()["activity"]["id"] == first["activity"]["id"]
    age(49)
    fresh = client.post(f"{API}/activities", json=activity_body(title="Next year"), headers=headers)
    assert fresh.status_code == 201
    assert fresh.json()["activity"]["id"] != first["activity"]["id"]
    assert table_counts(engine)["activity"] == 2


def test_concurrent_posts_with_one_external_ref_store_one(
    live_server: str, make_key: KeyMaker, engine: Engine
) -> None:
    key = make_key()
    statuses: list[int] = []
    gate = threading.Barrier(10)

    def post() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            gate.wait()
            response = http.post(
                f"{API}/activities", json=activity_body(external_ref="SAME-REF"), headers=auth(key)
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 9
    assert table_counts(engine)["activity"] == 1


def test_default_page_is_fifty(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key()
    for n in range(51):
        submit(client, key, title=f"Activity {n}")
    page = client.get(f"{API}/activities").json()
    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None
    rest = client.get(f"{API}/activities", params={"cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 1


def test_a_region_without_independent_states_is_accepted(
    client: TestClient, make_key: KeyMaker
) -> None:
    activity = submit(client, make_key(), countries=[], regions=["830"])  # Channel Islands
    assert activity["regions"] == ["830"]
    assert client.get(f"{API}/activities", params={"region": "830"}).json()["items"]
