"""The OpenAPI description as a client generator reads it: each operation's id is a method
name, each tag says what its operations are for."""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_operation_ids_are_method_names(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) > 40
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    for method, path, operation in operations:
        operation_id = operation["operationId"]
        assert SNAKE_CASE.fullmatch(operation_id), (method, path, operation_id)
        # FastAPI's default appends the path and the method: create_activity_api_v1_..._post
        assert "api_v1" not in operation_id, (method, path, operation_id)
        assert not operation_id.endswith(f"_{method}"), (method, path, operation_id)
    by_route = {(method, path): op["operationId"] for method, path, op in operations}
    assert by_route[("post", "/api/v1/activities")] == "create_activity"
    assert by_route[("get", "/api/v1/activities")] == "list_activities"
    assert by_route[("get", "/api/v1/activities/{activity_id}")] == "get_activity"
    assert by_route[("delete", "/api/v1/activities/{activity_id}")] == "withdraw_activity"
    assert by_route[("post", "/api/v1/findings/{finding_id}/decision")] == "decide_finding"
    assert by_route[("get", "/feeds/countries/{code}.ics")] == "get_country_feed"
    assert by_route[("post", "/api/v1/imports")] == "import_activities"
    assert by_route[("get", "/api/v1/assistance-requests")] == "list_assistance_requests"
    assert by_route[("get", "/api/v1/webhooks/{webhook_id}/deliveries")] == (
        "list_webhook_deliveries"
    )


def test_every_tag_is_described(spec: dict[str, Any]) -> None:
    described = {tag["name"]: tag.get("description", "") for tag in spec["tags"]}
    used = {tag for _, _, operation in _operations(spec) for tag in operation["tags"]}
    assert used == set(described), "a tag used and not described, or described and not used"
    for name, description in described.items():
        assert len(description) > 20, name
    for method, path, operation in _operations(spec):
        assert operation["tags"], (method, path)
