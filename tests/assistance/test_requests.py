"""Provider profiles, States' assistance requests moving through their statuses, activities
answering them, and providers ranked for a request."""

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import KeyMaker
from tests.helpers import auth, submit

API = "/api/v1"

REQUEST = {
    "country": "PE",
    "themes": ["export_control", "legislation"],
    "domains": ["chemical"],
    "help_sought": "legislative_assistance",
    "language": "es",
    "description": "Peru asks for help drafting its strategic trade control regulations.",
    "priority": "high",
}


def put_profile(client: TestClient, key: str, acronym: str, **profile: Any) -> Any:
    return client.put(f"{API}/organizations/{acronym}/profile", json=profile, headers=auth(key))


def test_profiles_are_edited_by_admins_and_the_organization_itself(
    client: TestClient, make_key: KeyMaker
) -> None:
    admin = make_key("ASSISTCAL", "admin")
    unlirec = make_key("UNLIREC", "provider")
    opcw = make_key("OPCW", "provider")
    empty = client.get(f"{API}/organizations/UNLIREC/profile", headers=auth(opcw)).json()
    assert (empty["themes"], empty["updated_at"]) == ([], None)
    profile = {
        "themes": ["export_control", "legislation", "export_control"],
        "domains": ["chemical", "nuclear"],
        "activity_types": ["legislative_assistance", "workshop"],
        "languages": ["es", "en"],
        "regions": ["419"],
        "contact_email": "assistance@example.org",
    }
    own = put_profile(client, unlirec, "UNLIREC", **profile)
    assert own.status_code == 200, own.text
    assert own.json()["themes"] == ["export_control", "legislation"]  # repeats dropped
    assert own.json()["updated_at"] is not None
    assert put_profile(client, opcw, "UNLIREC", themes=["reporting"]).status_code == 403
    by_admin = put_profile(client, admin, "UNLIREC", themes=["reporting"])
    assert by_admin.json()["themes"] == ["reporting"]
    assert by_admin.json()["languages"] == []  # PUT replaces the whole profile
    bad = put_profile(client, unlirec, "UNLIREC", themes=["colour"], regions=["999"])
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["error"]["details"]} == {"themes[0]", "regions[0]"}
    assert put_profile(client, unlirec, "NOBODY").status_code == 404


def test_a_request_moves_forward_with_who_and_when(client: TestClient, make_key: KeyMaker) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    provider = make_key("UNLIREC", "provider")
    assert (
        client.post(f"{API}/assistance-requests", json=REQUEST, headers=auth(provider)).status_code
        == 403
    )
    created = client.post(f"{API}/assistance-requests", json=REQUEST, headers=auth(coordinator))
    assert created.status_code == 201, created.text
    request = created.json()
    assert (request["status"], request["recorded_by"], request["answered"]) == (
        "received",
        "OAS-CICTE",
        False,
    )
    assert [h["status"] for h in request["history"]] == ["received"]
    url = f"{API}/assistance-requests/{request['id']}"
    # Providers see a request once it is circulated to them.
    assert client.get(url, headers=auth(provider)).status_code == 404
    assert client.get(f"{API}/assistance-requests", headers=auth(provider)).json()["items"] == []
    for status in ("acknowledged", "circulated"):
        moved = client.patch(
            url, json={"status": status, "note": f"now {status}"}, headers=auth(coordinator)
        )
        assert moved.status_code == 200, moved.text
    history = moved.json()["history"]
    assert [h["status"] for h in history] == ["received", "acknowledged", "circulated"]
    assert history[-1]["by"].startswith("OAS-CICTE (")
    assert history[-1]["note"] == "now circulated"
    assert history[-1]["at"].endswith("Z") or "+00:00" in history[-1]["at"]
    assert moved.json()["revision"] == 3
    assert client.get(url, headers=auth(provider)).status_code == 200
    listed = client.get(
        f"{API}/assistance-requests?country=PE&status=circulated", headers=auth(provider)
    )
    assert [r["id"] for r in listed.json()["items"]] == [request["id"]]
    back = client.patch(url, json={"status": "received"}, headers=auth(coordinator))
    assert back.status_code == 409
    assert client.patch(url, json={"status": "matched"}, headers=auth(provider)).status_code == 403
    bad = client.patch(url, json={"status": "lost"}, headers=auth(coordinator))
    assert (bad.status_code, bad.json()["error"]["details"][0]["field"]) == (422, "status")
    invalid = client.post(
        f"{API}/assistance-requests", json={**REQUEST, "country": "XX"}, headers=auth(coordinator)
    )
    assert (invalid.status_code, invalid.json()["error"]["details"][0]["field"]) == (422, "country")
    history_log = client.get(
        f"{API}/assistance-requests/{request['id']}", headers=auth(coordinator)
    )
    assert history_log.json()["status"] == "circulated"


def test_the_best_provider_is_ranked_first_with_its_reasons(
    client: TestClient, make_key: KeyMaker
) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    unlirec = make_key("UNLIREC", "provider")
    opcw = make_key("OPCW", "provider")
    bafa = make_key("BAFA", "provider")
    assert (
        put_profile(
            client,
            unlirec,
            "UNLIREC",
            themes=["export_control", "legislation"],
            domains=["chemical", "nuclear"],
            activity_types=["legislative_assistance"],
            languages=["es", "en"],
            regions=["419"],
            contact_email="unlirec@example.org",
        ).status_code
        == 200
    )
    assert (
        put_profile(
            client,
            opcw,
            "OPCW",
            themes=["legislation"],
            domains=["chemical"],
            activity_types=["training"],
            languages=["en", "fr", "es"],
            regions=["002", "009", "019", "142", "150"],
        ).status_code
        == 200
    )
    assert (
        put_profile(
            client,
            bafa,
            "BAFA",
            themes=["export_control"],
            activity_types=["workshop"],
            languages=["de", "en"],
            regions=["150"],
        ).status_code
        == 200
    )
    submit(
        client,
        unlirec,
        title="Taller de control de exportaciones",
        countries=["PE"],
        themes=["export_control"],
        start_date="2023-05-01",
        end_date="2023-05-02",
    )
    planned = submit(
        client,
        opcw,
        title="Chemical legislation course",
        countries=["PE"],
        themes=["legislation"],
        start_date="2099-03-01",
        end_date="2099-03-03",
    )
    other_state = submit(
        client,
        bafa,
        title="Export control seminar",
        countries=["CL"],
        themes=["export_control"],
        start_date="2099-03-01",
        end_date="2099-03-01",
    )
    request = client.post(
        f"{API}/assistance-requests", json=REQUEST, headers=auth(coordinator)
    ).json()
    url = f"{API}/assistance-requests/{request['id']}"

    matches = client.get(f"{url}/matches", headers=auth(coordinator)).json()
    ranked = [p["provider"] for p in matches["providers"]]
    assert ranked[:3] == ["UNLIREC", "OPCW", "BAFA"], matches["providers"]
    best = matches["providers"][0]
    codes = {r["code"] for r in best["reasons"]}
    assert codes == {
        "themes",
        "domains",
        "help",
        "language",
        "region",
        "experience_theme",
        "experience_state",
    }
    assert best["contact_email"] == "unlirec@example.org"
    assert any("Peru" in r["message"] for r in best["reasons"])
    assert best["score"] == round(sum(r["contribution"] for r in best["reasons"]), 3)
    assert [r["contribution"] for r in best["reasons"]] == sorted(
        (r["contribution"] for r in best["reasons"]), reverse=True
    )
    assert 0 < matches["providers"][-1]["score"] < best["score"] <= 1
    assert [a["id"] for a in matches["activities"]] == [planned["id"]]  # planned, for Peru
    assert matches["answered"] is False

    # Circulated to providers: OPCW says its course answers the request; BAFA's seminar is
    # not for Peru.
    client.patch(url, json={"status": "circulated"}, headers=auth(coordinator))
    not_for_peru = client.post(
        f"{url}/activities", json={"activity_id": other_state["id"]}, headers=auth(bafa)
    )
    assert (not_for_peru.status_code, not_for_peru.json()["error"]["details"][0]["field"]) == (
        422,
        "activity_id",
    )
    foreign = client.post(
        f"{url}/activities", json={"activity_id": planned["id"]}, headers=auth(unlirec)
    )
    assert foreign.status_code == 403
    linked = client.post(
        f"{url}/activities", json={"activity_id": planned["id"]}, headers=auth(opcw)
    )
    assert linked.status_code == 200, linked.text
    assert (linked.json()["answered"], linked.json()["activity_ids"]) == (True, [planned["id"]])
    again = client.get(f"{url}/matches", headers=auth(opcw)).json()
    assert again["answered"] is True
    assert again["activities"][0] == {
        **again["activities"][0],
        "id": planned["id"],
        "answers": True,
    }
    gone = client.delete(f"{url}/activities/{planned['id']}", headers=auth(opcw))
    assert gone.status_code == 204
    assert client.get(url, headers=auth(opcw)).json()["answered"] is False


def test_requests_are_listed_newest_first_page_by_page(
    client: TestClient, make_key: KeyMaker
) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    made = [
        client.post(
            f"{API}/assistance-requests",
            json={**REQUEST, "country": country},
            headers=auth(coordinator),
        ).json()["id"]
        for country in ("PE", "TT", "MX")
    ]
    first = client.get(f"{API}/assistance-requests?limit=2", headers=auth(coordinator)).json()
    rest = client.get(
        f"{API}/assistance-requests",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=auth(coordinator),
    ).json()
    assert rest["next_cursor"] is None
    seen = [r["id"] for r in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(made)
    assert len(set(seen)) == 3
    bad = client.get(f"{API}/assistance-requests?cursor=nonsense", headers=auth(coordinator))
    assert (bad.status_code, bad.json()["error"]["details"][0]["field"]) == (422, "cursor")


def test_the_list_filters_by_theme(client: TestClient, make_key: KeyMaker) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    ids = {
        themes[0]: client.post(
            f"{API}/assistance-requests",
            json={**REQUEST, "themes": themes},
            headers=auth(coordinator),
        ).json()["id"]
        for themes in (["reporting"], ["legislation", "outreach"], ["border_control"])
    }

    def listed(**params: Any) -> set[str]:
        answer = client.get(f"{API}/assistance-requests", params=params, headers=auth(coordinator))
        assert answer.status_code == 200, answer.text
        return {r["id"] for r in answer.json()["items"]}

    assert listed(theme="outreach") == {ids["legislation"]}
    assert listed(theme=["reporting", "border_control"]) == {
        ids["reporting"],
        ids["border_control"],
    }
    assert listed(theme="outreach", country="TT") == set()
    bad = client.get(f"{API}/assistance-requests?theme=colour", headers=auth(coordinator))
    assert bad.status_code == 422
