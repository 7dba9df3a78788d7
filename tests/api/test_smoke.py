from fastapi.testclient import TestClient

from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth


def test_provider_submits_and_anyone_lists(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    created = client.post("/api/v1/activities", json=activity_body(), headers=auth(key))
    assert created.status_code == 201, created.text
    activity = created.json()["activity"]
    assert activity["provider"] == "UNLIREC"
    assert activity["revision"] == 1
    assert created.headers["ETag"] == '"1"'
    listed = client.get("/api/v1/activities", params={"country": "TT"})
    assert [a["id"] for a in listed.json()["items"]] == [activity["id"]]
