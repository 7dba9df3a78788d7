"""Small helpers shared by the tests."""

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.tables import metadata


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(client: Any, key: str, **fields: Any) -> dict[str, Any]:
    """POST /activities with activity_body(**fields); the activity, with its `findings`."""
    answer = client.post("/api/v1/activities", json=activity_body(**fields), headers=auth(key))
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return {**body["activity"], "findings": body["findings"]}


def activity_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "National workshop on 1540 implementation",
        "language": "en",
        "activity_type": "workshop",
        "themes": ["national_action_plan"],
        "start_date": "2025-03-10",
        "end_date": "2025-03-12",
        "countries": ["TT"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def unique(prefix: str = "X") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }
