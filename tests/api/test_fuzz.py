"""The whole API fuzzed from its own OpenAPI document (schemathesis), as an anonymous reader,
a provider, a coordinator and an admin: no 5xx, no response outside its documented schema or
content type, no undocumented status code or header.  ASSISTCAL_FUZZ_EXAMPLES sets the
examples per operation (25 by default); each example is sent as every role.

The app is made when the module loads (schemathesis reads its schema then), on the test
database of ASSISTCAL_TEST_DATABASE_URL (this worker's under pytest-xdist: tests/conftest.py)
or else a SQLite file of its own."""

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.auth import service as keys
from app.config import Settings
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.main import create_app
from app.organizations import service as organizations
from app.tables import metadata
from tests.conftest import given_database_url

pytestmark = pytest.mark.db
EXAMPLES = int(os.environ.get("ASSISTCAL_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
ROLES = ("anonymous", "provider", "coordinator", "admin")
URL = given_database_url() or f"sqlite:///{tempfile.mkdtemp()}/fuzz.db"
APP = create_app(
    Settings(
        database_url=URL,
        webhook_worker=False,
        mail_worker=False,
        public_url="https://calendar.example.org",  # invitations' links are made from it
        key_touch_seconds=0,
        rate_limit_per_key=0,
        rate_limit_per_address=0,
        json_logs=False,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def fuzz_keys() -> Iterator[dict[str, str]]:
    upgrade(URL)
    engine = make_engine(URL)
    made = {}
    with open_session(engine, write=True) as session:
        for role in ROLES[1:]:
            organization = organizations.ensure(session, acronym=f"FUZZ-{role.upper()}", name=role)
            made[role] = keys.create(session, organization=organization, role=role, actor=None).key
        session.commit()
    with TestClient(APP):  # the lifespan: the engine and the gate the routes use
        yield made
    with engine.begin() as conn:  # leave the shared test database empty, as other tests do
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_contract(case: Any, fuzz_keys: dict[str, str]) -> None:
    """Each generated request is sent as each role in turn."""
    for role in ROLES:
        headers = {} if role == "anonymous" else {"Authorization": f"Bearer {fuzz_keys[role]}"}
        case.call_and_validate(headers=headers, checks=CHECKS)
