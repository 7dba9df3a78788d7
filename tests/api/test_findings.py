"""Findings through the API: raised at submission, reviewed by coordinators."""

import threading
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.audit.models import AuditEntry
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth

API = "/api/v1"

SPANISH = activity_body(
    title="Taller nacional sobre control de exportaciones de bienes de doble uso",
    language="es",
    themes=["export_control"],
    partners=["US-STATE"],
    start_date="2025-04-15",
    end_date="2025-04-17",
    countries=["DO"],
)
ENGLISH = activity_body(
    title="National workshop on dual-use export controls",
    themes=["export_control"],
    start_date="2025-04-16",
    end_date="2025-04-18",
    countries=["DO"],
)


OUTREACH = activity_body(
    title="Chemical industry outreach",
    themes=["outreach"],
    start_date="2025-04-16",
    end_date="2025-04-16",
    countries=["DO"],
)


def post(client: TestClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{API}/activities", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def keys(make_key: KeyMaker) -> dict[str, str]:
    return {
        "unlirec": make_key("UNLIREC", "provider"),
        "state": make_key("US-STATE", "provider"),
        "opcw": make_key("OPCW", "provider"),
        "coordinator": make_key("OAS-CICTE", "coordinator"),
    }


@pytest.fixture
def pair(client: TestClient, keys: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """A Spanish and an English record of one workshop; returns their ids and the finding."""
    first = post(client, keys["unlirec"], SPANISH)
    assert first["findings"] == []
    second = post(client, keys["state"], ENGLISH)
    [finding] = second["findings"]
    return first["activity"]["id"], second["activity"]["id"], finding


def test_bilingual_duplicate_is_reported_to_the_submitter(
    pair: tuple[str, str, dict[str, Any]],
) -> None:
    spanish, english, finding = pair
    assert finding["kind"] == "duplicate"
    assert finding["status"] == "open"
    assert set(finding["activity_ids"]) == {spanish, english}
    codes = {r["code"] for r in finding["reasons"]}
    assert {"title_similar", "dates_close", "same_country", "partner_overlap"} <= codes
    assert finding["score"] == pytest.approx(
        min(1.0, sum(r["contribution"] for r in finding["reasons"])), abs=1e-3
    )
    assert set(finding) >= {
        "id",
        "kind",
        "score",
        "reasons",
        "status",
        "activity_ids",
        "note",
        "decided_by",
        "decided_at",
        "created_at",
    }


def test_a_different_workshop_the_same_week_is_a_clash(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]]
) -> None:
    other = post(
        client,
        keys["opcw"],
        {**OUTREACH, "domains": ["chemical"]},
    )
    assert sorted(f["kind"] for f in other["findings"]) == ["clash", "clash"]


def test_coordinators_review_and_providers_see_their_own(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]]
) -> None:
    _, _, finding = pair
    url = f"{API}/findings/{finding['id']}"
    assert client.get(f"{API}/findings").status_code == 401
    # both providers involved see it; an uninvolved one does not
    for key in (keys["unlirec"], keys["state"], keys["coordinator"]):
        listed = client.get(f"{API}/findings", headers=auth(key)).json()["items"]
        assert [f["id"] for f in listed] == [finding["id"]]
        assert client.get(url, headers=auth(key)).status_code == 200
    assert client.get(f"{API}/findings", headers=auth(keys["opcw"])).json()["items"] == []
    assert client.get(url, headers=auth(keys["opcw"])).status_code == 404
    # providers do not decide
    refused = client.post(
        f"{url}/decision", json={"decision": "dismiss"}, headers=auth(keys["state"])
    )
    assert refused.status_code == 403
    decided = client.post(
        f"{url}/decision",
        json={"decision": "coordinate", "note": "UNLIREC implements, US-STATE funds: one event"},
        headers=auth(keys["coordinator"]),
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["status"], body["note"]) == (
        "coordinated",
        "UNLIREC implements, US-STATE funds: one event",
    )
    assert body["decided_by"].startswith("OAS-CICTE")
    assert body["decided_at"] is not None


def test_confirming_a_duplicate_marks_the_other_activity(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]], engine: Engine
) -> None:
    spanish, english, finding = pair
    url = f"{API}/findings/{finding['id']}/decision"
    coordinator = auth(keys["coordinator"])
    missing = client.post(url, json={"decision": "confirm"}, headers=coordinator)
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["field"] == "canonical_id"
    stranger = "00000000-0000-0000-0000-000000000001"
    wrong = client.post(
        url, json={"decision": "confirm", "canonical_id": stranger}, headers=coordinator
    )
    assert wrong.status_code == 422
    confirmed = client.post(
        url,
        json={"decision": "confirm", "canonical_id": spanish, "note": "same event"},
        headers=coordinator,
    )
    assert confirmed.json()["status"] == "confirmed"
    duplicate = client.get(f"{API}/activities/{english}").json()
    assert duplicate["duplicate_of"] == spanish
    assert duplicate["revision"] == 2
    assert client.get(f"{API}/activities/{spanish}").json()["duplicate_of"] is None
    # a confirmed duplicate is no longer a candidate for new findings
    third = post(client, keys["opcw"], {**ENGLISH, "title": "Dual-use export control workshop"})
    assert {tuple(sorted(f["activity_ids"])) for f in third["findings"]} == {
        tuple(sorted([spanish, third["activity"]["id"]]))
    }
    # changing one's mind un-marks it
    client.post(url, json={"decision": "dismiss"}, headers=coordinator)
    assert client.get(f"{API}/activities/{english}").json()["duplicate_of"] is None
    with engine.connect() as conn:
        actions = (
            conn.execute(sa.select(AuditEntry.action).where(AuditEntry.entity_id == finding["id"]))
            .scalars()
            .all()
        )
    assert actions == ["finding.confirm", "finding.dismiss"]


def test_only_duplicates_can_be_confirmed(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]]
) -> None:
    clash = post(
        client,
        keys["opcw"],
        OUTREACH,
    )["findings"][0]
    response = client.post(
        f"{API}/findings/{clash['id']}/decision",
        json={"decision": "confirm", "canonical_id": clash["activity_ids"][0]},
        headers=auth(keys["coordinator"]),
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "decision"


def test_a_decision_survives_an_unrelated_edit_but_not_a_material_one(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]]
) -> None:
    _, english, finding = pair
    client.post(
        f"{API}/findings/{finding['id']}/decision",
        json={"decision": "dismiss", "note": "two sessions of one programme"},
        headers=auth(keys["coordinator"]),
    )
    edited = client.patch(
        f"{API}/activities/{english}",
        json={"status": "confirmed", "description": "Agenda attached"},
        headers=auth(keys["state"]),
    )
    assert edited.status_code == 200
    assert [f["status"] for f in edited.json()["findings"]] == ["dismissed"]
    assert (
        client.get(f"{API}/findings/{finding['id']}", headers=auth(keys["state"])).json()["note"]
        == "two sessions of one programme"
    )

    moved = client.patch(
        f"{API}/activities/{english}",
        json={"start_date": "2025-04-17", "end_date": "2025-04-19"},
        headers=auth(keys["state"]),
    )
    [reopened] = moved.json()["findings"]
    assert reopened["id"] == finding["id"]
    assert (reopened["status"], reopened["note"], reopened["decided_at"]) == ("open", None, None)


def test_findings_follow_the_data(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]]
) -> None:
    _, english, _ = pair
    # moved to another country: the open finding goes away
    moved = client.patch(
        f"{API}/activities/{english}", json={"countries": ["HT"]}, headers=auth(keys["state"])
    )
    assert moved.json()["findings"] == []
    back = client.patch(
        f"{API}/activities/{english}", json={"countries": ["DO"]}, headers=auth(keys["state"])
    )
    assert [f["kind"] for f in back.json()["findings"]] == ["duplicate"]
    # withdrawn: no longer a candidate, and its open findings are removed
    client.delete(f"{API}/activities/{english}", headers=auth(keys["state"]))
    listed = client.get(f"{API}/findings", headers=auth(keys["coordinator"])).json()["items"]
    assert listed == []


def test_regional_activity_touches_each_member_state(
    client: TestClient, keys: dict[str, str]
) -> None:
    national = post(
        client,
        keys["unlirec"],
        activity_body(
            countries=["TT"], themes=["reporting"], title="National 1540 reporting workshop"
        ),
    )
    regional = post(
        client,
        keys["opcw"],
        activity_body(
            countries=[],
            regions=["029"],
            themes=["reporting"],
            title="Caribbean regional meeting on 1540 reports",
            activity_type="conference",
        ),
    )
    [finding] = regional["findings"]
    assert finding["kind"] == "overlap"
    assert national["activity"]["id"] in finding["activity_ids"]


def test_list_filters(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]]
) -> None:
    spanish, _, _ = pair
    post(
        client,
        keys["opcw"],
        OUTREACH,
    )
    coordinator = auth(keys["coordinator"])

    def kinds(**params: Any) -> list[str]:
        response = client.get(f"{API}/findings", params=params, headers=coordinator)
        assert response.status_code == 200, response.text
        return sorted(f["kind"] for f in response.json()["items"])

    assert kinds() == ["clash", "clash", "duplicate"]
    assert kinds(kind="duplicate") == ["duplicate"]
    assert kinds(status="open", kind="clash") == ["clash", "clash"]
    assert kinds(country="DO") == ["clash", "clash", "duplicate"]
    assert kinds(country="TT") == []
    assert kinds(provider="US-STATE") == ["clash", "duplicate"]
    assert kinds(activity=spanish) == ["clash", "duplicate"]
    page = client.get(f"{API}/findings", params={"limit": 2}, headers=coordinator).json()
    rest = client.get(
        f"{API}/findings", params={"cursor": page["next_cursor"]}, headers=coordinator
    ).json()
    assert len(page["items"]) + len(rest["items"]) == 3
    assert rest["next_cursor"] is None
    bad = client.get(f"{API}/findings", params={"kind": "nope"}, headers=coordinator)
    assert bad.status_code == 422


def test_two_duplicates_submitted_at_the_same_moment_find_each_other(
    live_server: str, keys: dict[str, str]
) -> None:
    for round_ in range(5):
        bodies = [
            (
                {
                    **SPANISH,
                    "external_ref": f"R{round_}",
                    "start_date": f"2026-0{round_ + 1}-10",
                    "end_date": f"2026-0{round_ + 1}-12",
                },
                keys["unlirec"],
            ),
            (
                {
                    **ENGLISH,
                    "start_date": f"2026-0{round_ + 1}-10",
                    "end_date": f"2026-0{round_ + 1}-12",
                },
                keys["state"],
            ),
        ]
        results: list[dict[str, Any]] = []
        gate = threading.Barrier(2)

        def send(
            body: dict[str, Any],
            key: str,
            gate: threading.Barrier = gate,
            results: list[dict[str, Any]] = results,
        ) -> None:
            with httpx.Client(base_url=live_server, timeout=60) as http:
                gate.wait()
                results.append(http.post(f"{API}/activities", json=body, headers=auth(key)).json())

        threads = [threading.Thread(target=send, args=args) for args in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ids = {r["activity"]["id"] for r in results}
        with httpx.Client(base_url=live_server) as http:
            found = http.get(
                f"{API}/findings", params={"kind": "duplicate"}, headers=auth(keys["coordinator"])
            ).json()["items"]
        assert any(set(f["activity_ids"]) == ids for f in found), (round_, found)


def test_confirming_takes_the_duplicate_out_of_the_queue_and_back(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]]
) -> None:
    spanish, english, finding = pair
    post(client, keys["opcw"], OUTREACH)  # clashes with both records
    coordinator = auth(keys["coordinator"])
    url = f"{API}/findings/{finding['id']}/decision"

    def open_for_english() -> list[str]:
        params = {"activity": english, "status": "open"}
        items = client.get(f"{API}/findings", params=params, headers=coordinator).json()["items"]
        return sorted(f["kind"] for f in items)

    assert open_for_english() == ["clash", "duplicate"]
    client.post(url, json={"decision": "confirm", "canonical_id": spanish}, headers=coordinator)
    assert open_for_english() == []
    client.post(url, json={"decision": "dismiss", "note": "two events"}, headers=coordinator)
    assert open_for_english() == ["clash"]


def test_the_cap_never_deletes_a_finding_another_activity_raised(
    client: TestClient, keys: dict[str, str]
) -> None:
    """Each of 26 neighbours raises its overlap with the busy activity; an unrelated edit of
    the busy one keeps them all (the cap of 25 limits only what it raises itself), and keeps
    the clash that a later activity raised."""
    busy = post(
        client,
        keys["unlirec"],
        activity_body(title="Reporting clinic", countries=["TT", "JM"], themes=["reporting"]),
    )["activity"]["id"]
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike"
    words = words.split()
    for n in range(26):
        post(
            client,
            keys["opcw"],
            activity_body(
                title=f"Project {words[n % 13]} {words[(n * 5) % 13]} {n}",
                countries=["TT"],
                themes=["reporting"],
                activity_type="seminar",
            ),
        )
    late = post(
        client,
        keys["state"],
        activity_body(
            title="Border police course",
            countries=["JM"],
            themes=["border_control"],
            activity_type="training",
            start_date="2025-03-12",
            end_date="2025-03-12",
        ),
    )
    [clash] = late["findings"]
    assert busy in clash["activity_ids"]
    edited = client.patch(
        f"{API}/activities/{busy}", json={"description": "Agenda"}, headers=auth(keys["unlirec"])
    )
    kinds = [f["kind"] for f in edited.json()["findings"]]
    assert kinds.count("overlap") == 26
    assert clash["id"] in [f["id"] for f in edited.json()["findings"]]
    coordinator = auth(keys["coordinator"])
    assert client.get(f"{API}/findings/{clash['id']}", headers=coordinator).status_code == 200


def test_a_change_made_while_cancelled_reopens_the_decision_later(
    client: TestClient, keys: dict[str, str], pair: tuple[str, str, dict[str, Any]]
) -> None:
    _, english, finding = pair
    coordinator = auth(keys["coordinator"])
    client.post(
        f"{API}/findings/{finding['id']}/decision",
        json={"decision": "dismiss", "note": "different audiences"},
        headers=coordinator,
    )
    state = auth(keys["state"])
    url = f"{API}/activities/{english}"
    client.patch(url, json={"status": "cancelled"}, headers=state)
    client.patch(
        url, json={"title": "Workshop on dual-use export controls and brokering"}, headers=state
    )
    back = client.patch(url, json={"status": "planned"}, headers=state).json()
    # the title changed since the decision: the pair is raised again, open
    [again] = [
        f for f in back["findings"] if set(f["activity_ids"]) == set(finding["activity_ids"])
    ]
    assert (again["kind"], again["status"], again["note"]) == ("duplicate", "open", None)


def test_a_confirmed_duplicate_reopens_when_the_one_that_stays_changes(
    client: TestClient,
    keys: dict[str, str],
    pair: tuple[str, str, dict[str, Any]],
    engine: Engine,
) -> None:
    spanish, english, finding = pair
    coordinator = auth(keys["coordinator"])
    client.post(
        f"{API}/findings/{finding['id']}/decision",
        json={"decision": "confirm", "canonical_id": spanish},
        headers=coordinator,
    )
    assert client.get(f"{API}/activities/{english}").json()["duplicate_of"] == spanish
    client.patch(
        f"{API}/activities/{spanish}",
        json={"start_date": "2025-04-20", "end_date": "2025-04-21"},
        headers=auth(keys["unlirec"]),
    )
    reopened = client.get(f"{API}/findings/{finding['id']}", headers=coordinator).json()
    assert reopened["status"] == "open"
    assert client.get(f"{API}/activities/{english}").json()["duplicate_of"] is None
    with engine.connect() as conn:
        actions = conn.execute(
            sa.select(AuditEntry.action, AuditEntry.actor_organization).where(
                AuditEntry.entity_id == finding["id"]
            )
        ).all()
    assert [tuple(a) for a in actions] == [
        ("finding.confirm", "OAS-CICTE"),
        ("finding.reopen", "UNLIREC"),
    ]


def test_findings_returned_at_submission_are_those_stored(
    client: TestClient, keys: dict[str, str]
) -> None:
    """A new activity's findings are built from the rows just written, not read back; they
    must be exactly what GET /findings then shows, in the same order (strongest first)."""
    post(client, keys["unlirec"], SPANISH)
    post(client, keys["opcw"], OUTREACH)
    post(client, keys["unlirec"], {**OUTREACH, "title": "Industry outreach on chemicals"})
    submitted = post(client, keys["state"], ENGLISH)
    assert [f["kind"] for f in submitted["findings"]] == ["duplicate", "clash", "clash"]
    response = client.get(
        f"{API}/findings",
        params={"activity": submitted["activity"]["id"]},
        headers=auth(keys["coordinator"]),
    )
    stored = {f["id"]: f for f in response.json()["items"]}
    assert [stored[f["id"]] for f in submitted["findings"]] == submitted["findings"]
    assert len(stored) == 3


def test_openapi_types_the_findings_of_submissions(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("ActivitySubmitted", "ActivityWithFindings"):
        findings = schemas[model]["properties"]["findings"]
        assert findings["items"] == {"$ref": "#/components/schemas/FindingPublic"}
