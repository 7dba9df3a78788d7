"""Organizations and their API keys, as an admin manages them."""

from fastapi.testclient import TestClient

from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth

API = "/api/v1"


def test_admin_creates_an_organization_and_a_provider_key_that_works(
    client: TestClient, make_key: KeyMaker
) -> None:
    admin = make_key("ASSISTCAL", "admin")
    created = client.post(
        f"{API}/organizations",
        json={
            "acronym": "unlirec",
            "name": "UN Regional Centre for Peace, Disarmament and Development in LAC",
            "kind": "un_entity",
            "aliases": ["UNLIREC", "Centro Regional de las Naciones Unidas"],
            "contact_email": "programme@example.org",
        },
        headers=auth(admin),
    )
    assert created.status_code == 201, created.text
    assert created.json()["acronym"] == "UNLIREC"

    key = client.post(
        f"{API}/organizations/UNLIREC/api-keys",
        json={"role": "provider", "name": "programme team"},
        headers=auth(admin),
    )
    assert key.status_code == 201
    body = key.json()
    assert set(body) == {"id", "key", "prefix", "role", "organization"}
    assert (body["role"], body["organization"]) == ("provider", "UNLIREC")
    assert body["key"].startswith(body["prefix"])

    me = client.get(f"{API}/me", headers=auth(body["key"]))
    assert me.json() == {
        "organization": "UNLIREC",
        "role": "provider",
        "key_prefix": body["prefix"],
        "person": None,  # an organization key is no person's
    }
    submitted = client.post(f"{API}/activities", json=activity_body(), headers=auth(body["key"]))
    assert submitted.json()["activity"]["provider"] == "UNLIREC"

    listed = client.get(f"{API}/organizations/UNLIREC/api-keys", headers=auth(admin)).json()
    assert [k["prefix"] for k in listed["items"]] == [body["prefix"]]
    assert "key" not in listed["items"][0]
    assert listed["items"][0]["last_used_at"] is not None


def test_revoked_key_is_refused_at_once(client: TestClient, make_key: KeyMaker) -> None:
    admin = make_key("ASSISTCAL", "admin")
    make_key("IAEA", "provider")
    key = client.post(
        f"{API}/organizations/IAEA/api-keys", json={"role": "provider"}, headers=auth(admin)
    ).json()
    assert client.get(f"{API}/me", headers=auth(key["key"])).status_code == 200
    revoked = client.delete(f"{API}/api-keys/{key['id']}", headers=auth(admin))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = client.get(f"{API}/me", headers=auth(key["key"]))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    write = client.post(f"{API}/activities", json=activity_body(), headers=auth(key["key"]))
    assert write.status_code == 401
    # revoking again is harmless; an unknown id is a 404
    assert client.delete(f"{API}/api-keys/{key['id']}", headers=auth(admin)).status_code == 200
    missing = "00000000-0000-0000-0000-000000000001"
    assert client.delete(f"{API}/api-keys/{missing}", headers=auth(admin)).status_code == 404


def test_only_admins_manage_organizations_and_keys(client: TestClient, make_key: KeyMaker) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    provider = make_key("IAEA", "provider")
    for key in (coordinator, provider):
        assert (
            client.post(
                f"{API}/organizations", json={"acronym": "NEW", "name": "New"}, headers=auth(key)
            ).status_code
            == 403
        )
        assert (
            client.post(
                f"{API}/organizations/IAEA/api-keys", json={"role": "admin"}, headers=auth(key)
            ).status_code
            == 403
        )
        assert (
            client.patch(
                f"{API}/organizations/IAEA", json={"name": "Renamed"}, headers=auth(key)
            ).status_code
            == 403
        )
    assert (
        client.post(f"{API}/organizations", json={"acronym": "X", "name": "X"}).status_code == 401
    )


def test_organizations_are_listed_to_any_key_and_updated_by_admins(
    client: TestClient, make_key: KeyMaker
) -> None:
    admin = make_key("ASSISTCAL", "admin")
    provider = make_key("IAEA", "provider")
    make_key("WCO", "provider")
    assert client.get(f"{API}/organizations").status_code == 401
    page = client.get(f"{API}/organizations", params={"limit": 2}, headers=auth(provider)).json()
    assert [o["acronym"] for o in page["items"]] == ["ASSISTCAL", "IAEA"]
    rest = client.get(
        f"{API}/organizations", params={"cursor": page["next_cursor"]}, headers=auth(provider)
    ).json()
    assert [o["acronym"] for o in rest["items"]] == ["WCO"]
    assert rest["next_cursor"] is None

    updated = client.patch(
        f"{API}/organizations/wco",
        json={"name": "World Customs Organization", "kind": "international_organization"},
        headers=auth(admin),
    )
    assert updated.status_code == 200
    assert client.get(f"{API}/organizations/WCO", headers=auth(provider)).json()["kind"] == (
        "international_organization"
    )
    assert client.get(f"{API}/organizations/NOPE", headers=auth(provider)).status_code == 404


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert "/api/v1/activities" in spec["paths"]
    theme_enum = spec["components"]["schemas"]["ActivityCreate"]["properties"]["themes"]["items"]
    assert "export_control" in theme_enum["enum"]
