"""The change stamp moves by itself (app/db/stamp.py): every write to a watched table, by any
code path, moves it when its transaction commits; and every table that a cached answer reads
is watched, so a new write path cannot serve stale answers."""

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from app.activities.models import Activity
from app.audit.models import AuditEntry
from app.auth import service as keys_service
from app.auth.models import ApiKey
from app.config import Settings
from app.core.timeutil import utcnow
from app.db import stamp
from app.db.engine import open_session
from app.http.read_cache import cacheable_prefixes
from app.main import create_app
from app.organizations.models import Organization
from tests.conftest import KeyMaker
from tests.helpers import auth, submit

# Tables that cached answers read without showing a change of their own: the stamp itself,
# and the feeds' kept texts, keyed by the activity's revision and its provider's renames
# (both watched).
DERIVED = {"feed_state", "feed_event", "feed_event_text"}


def test_the_watched_tables_are_declared_beside_their_models() -> None:
    import app.tables  # noqa: F401  (every model)

    assert stamp.watched_tables() == {
        "activity": frozenset(),
        "activity_country": frozenset(),
        "activity_region": frozenset(),
        "organization": frozenset(),
        "api_key": frozenset({"last_used_at"}),
        "feed_token": frozenset(),
        # A removed member's or a demoted person's cached reads end with them.
        "person": frozenset(),
        "membership": frozenset(),
    }


@pytest.fixture
def generation(engine: Engine, clean_db: None) -> Callable[[], int]:
    def read() -> int:
        with open_session(engine, write=False) as session:
            return stamp.current(session).generation

    return read


@pytest.fixture
def organization(engine: Engine, clean_db: None) -> int:
    with open_session(engine, write=True) as session:
        created = Organization(acronym="UNODA", name="Office for Disarmament Affairs")
        holder = Organization(acronym="UNLIREC", name="Regional Centre")  # of an API key
        session.add_all([created, holder])
        session.flush()
        keys_service.create(session, organization=holder, role="provider", actor=None)
        session.commit()
        assert created.id is not None
        return created.id


def _rename_by_orm(session: Session, org: int) -> None:
    found = session.get(Organization, org)
    assert found is not None
    found.name = "United Nations Office for Disarmament Affairs"
    session.add(found)


def _add_by_orm(session: Session, _org: int) -> None:
    session.add(Organization(acronym="OPCW", name="Organisation for the Prohibition"))


def _delete_by_orm(session: Session, org: int) -> None:
    found = session.get(Organization, org)
    session.delete(found)


def _insert_statement(session: Session, _org: int) -> None:
    session.execute(sa.insert(Organization).values(acronym="WCO", name="World Customs"))


def _insert_many(session: Session, _org: int) -> None:
    session.execute(
        sa.insert(Organization),
        [{"acronym": "IAEA", "name": "Agency"}, {"acronym": "EU", "name": "Union"}],
    )


def _update_statement(session: Session, org: int) -> None:
    session.execute(sa.update(Organization).where(Organization.id == org).values(name="X"))


def _update_by_key(session: Session, org: int) -> None:
    session.execute(sa.update(Organization), [{"id": org, "name": "Y"}])


def _delete_statement(session: Session, org: int) -> None:
    session.execute(sa.delete(Organization).where(Organization.id == org))


def _textual_sql(session: Session, org: int) -> None:
    session.execute(sa.text("UPDATE organization SET name = 'Z' WHERE id = :id"), {"id": org})


def _table_not_model(session: Session, org: int) -> None:
    table = SQLModel.metadata.tables["organization"]
    session.execute(table.update().where(table.c.id == org).values(name="T"))


WRITES = [
    _rename_by_orm,
    _add_by_orm,
    _delete_by_orm,
    _insert_statement,
    _insert_many,
    _update_statement,
    _update_by_key,
    _delete_statement,
    _textual_sql,
    _table_not_model,
]


def _touch_a_key(session: Session, _org: int) -> None:
    session.execute(sa.update(ApiKey).values(last_used_at=utcnow()))


def _touch_keys_by_primary_key(session: Session, _org: int) -> None:
    ids = session.execute(sa.select(ApiKey.id)).scalars().all()
    assert ids
    session.execute(sa.update(ApiKey), [{"id": i, "last_used_at": utcnow()} for i in ids])


def _audit_only(session: Session, _org: int) -> None:
    session.add(AuditEntry(action="test", entity_type="test", entity_id="1", changes={}))


def _read_only(session: Session, org: int) -> None:
    session.get(Organization, org)
    session.execute(sa.select(Activity.id)).all()


def _unchanged_object(session: Session, org: int) -> None:
    found = session.get(Organization, org)
    assert found is not None
    found.name = found.name  # marked dirty, nothing changed
    session.add(found)


NOT_SHOWN = [_touch_a_key, _touch_keys_by_primary_key, _audit_only, _read_only, _unchanged_object]


@pytest.mark.parametrize(
    ("write", "moves"),
    [(write, True) for write in WRITES] + [(write, False) for write in NOT_SHOWN],
    ids=[write.__name__.strip("_") for write in WRITES + NOT_SHOWN],
)
def test_every_write_to_a_watched_table_moves_the_stamp_and_nothing_else_does(
    engine: Engine,
    generation: Callable[[], int],
    organization: int,
    write: Callable[[Session, int], None],
    moves: bool,
) -> None:
    before = generation()
    with open_session(engine, write=True) as session:
        write(session, organization)
        session.commit()
    assert generation() == before + moves


def test_a_rolled_back_write_leaves_the_stamp(
    engine: Engine, generation: Callable[[], int], organization: int
) -> None:
    before = generation()
    with open_session(engine, write=True) as session:
        _update_statement(session, organization)
        assert stamp.pending(session)
        session.rollback()
        session.execute(sa.text("SELECT 1"))
        session.commit()
    assert generation() == before


# Every table a cached answer reads is watched ------------------------------------------------


@pytest.fixture
def uncached(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"read_cache_mb": 0}))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(Engine, "before_cursor_execute", record)


_READ = re.compile(r'\b(?:FROM|JOIN)\s+"?(\w+)"?', re.IGNORECASE)


def test_every_table_a_cached_answer_reads_is_watched(
    uncached: TestClient, make_key: KeyMaker, statements: list[str]
) -> None:
    key = make_key("UNLIREC", "provider")
    activity = submit(uncached, key, countries=["JM"])
    token = uncached.post(
        "/api/v1/feed-tokens", json={"label": "JM desk"}, headers=auth(key)
    ).json()["token"]
    visits = [
        "/api/v1/activities",
        f"/api/v1/activities/{activity['id']}",
        f"/api/v1/activities/{uuid.uuid4()}",
        "/feeds/all.ics",
        "/feeds/calendar.ics",
        "/feeds/countries/JM.ics",
        "/feeds/regions/029.ics",
        "/feeds/providers/UNLIREC.ics",
        "/feeds/themes/export_control.ics",
        f"/feeds/private/{token}.ics",
    ]
    routes = cacheable_prefixes(uncached.app.routes)  # type: ignore[attr-defined]
    assert routes
    assert all(any(v.startswith(p) for v in visits) for p in routes), routes
    statements.clear()
    for path in visits:
        for headers in ({}, auth(key)):
            answer = uncached.get(path, headers=headers)
            assert answer.status_code in (200, 404), (path, answer.text)
    tables = set(SQLModel.metadata.tables)
    read = {name.lower() for s in statements for name in _READ.findall(s)} & tables
    assert {"activity", "organization", "api_key", "feed_token"} <= read  # the capture works
    unwatched = read - set(stamp.watched_tables()) - DERIVED
    assert unwatched == set(), (
        f"cached routes read {unwatched}: watch them (app.db.stamp.watch) beside their models"
    )
