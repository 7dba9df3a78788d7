"""Test fixtures: one database per run, built by the real migrations, emptied after each test.

SQLite by default (a file in a temporary folder).  Set ASSISTCAL_TEST_DATABASE_URL to a
PostgreSQL URL to run the same tests there; .ci/run does so with a fresh database.

Under pytest-xdist (`pytest -n 2`, as .ci/run and the README run them) every worker process
has a database of its own: a SQLite file in the worker's own temporary folder, or on
PostgreSQL `<name>_gw0`, `<name>_gw1`, ... made empty next to the database of the URL (see
`given_database_url`; .ci/run drops them with it).
"""

import functools
import os
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

# Titles are compared by words except in the tests of meaning (the `meaning` fixture, and
# tests/core/test_labelled_pairs.py): the model costs 10-30 ms a new title and the suite
# creates thousands of activities, many with random titles.  Every Settings() of the tests,
# and every `assistcal` they start, reads this.
os.environ.setdefault("ASSISTCAL_DETECTION_MODEL", "false")
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app.auth import service as keys_service
from app.config import Settings
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.main import create_app
from app.organizations import service as organizations
from app.tables import metadata
from tests.support.smtp import SmtpServer, start

TEST_URL_ENV = "ASSISTCAL_TEST_DATABASE_URL"


def _tagged(value: Any) -> Any:
    """`value` with its type, and so the items of a list (a list default: `[]`)."""
    if isinstance(value, list):
        return (list, tuple(_tagged(item) for item in value))
    return (type(value), value)


def _field_key(field: Any) -> Hashable | None:
    """What a FastAPI field's pydantic TypeAdapter is made from (see ModelField.__post_init__:
    the annotation, its metadata, the other attributes of its FieldInfo, the config), as a key
    that only equal inputs share: the annotation by equality and by repr (`int | str` equals
    `str | int`, and they are different adapters), every other value with its type (`1`
    equals `True`).  None when a part cannot be a key (a dict of examples)."""
    from fastapi._compat import v2

    parts = v2.asdict(field.field_info)
    annotation = parts["annotation"]
    key = (
        annotation,
        repr(annotation),
        tuple((type(item), item) for item in parts["metadata"]),
        tuple(sorted((name, _tagged(value)) for name, value in parts["attributes"].items())),
        None if field.config is None else tuple(sorted(field.config.items())),
    )
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _share_type_adapters() -> None:
    """The tests make an app per test (the `app` and `client` fixtures), and FastAPI builds
    every app's routes anew: a pydantic TypeAdapter for each parameter, body and response of
    each route, about 1,000 an app and most of the half second create_app takes.  The adapters
    of equal fields are equal, and FastAPI only reads them (validation, serialization, the
    OpenAPI schema): in the tests, one process makes each once and every app shares it."""
    from fastapi._compat import v2

    build = v2.ModelField.__post_init__
    made: dict[Hashable, Any] = {}

    def post_init(field: Any) -> None:
        key = _field_key(field)
        adapter = None if key is None else made.get(key)
        if adapter is not None:
            field._type_adapter = adapter
            return
        build(field)
        if key is not None:
            made[key] = field._type_adapter

    v2.ModelField.__post_init__ = post_init  # type: ignore[method-assign]


_share_type_adapters()


@functools.cache
def given_database_url() -> str | None:
    """The database given in ASSISTCAL_TEST_DATABASE_URL, if any, for this process.

    In a pytest-xdist worker (PYTEST_XDIST_WORKER is gw0, gw1, ...) the given database is not
    shared: tests empty the tables after themselves, which would pull rows from under another
    worker's test.  Each worker takes `<name>_<worker>` instead, made empty on first use (a
    PostgreSQL database on the same server, or a SQLite file beside the given one)."""
    url = os.environ.get(TEST_URL_ENV)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    given = make_url(url)
    if given.get_backend_name() == "sqlite":
        if not given.database or given.database == ":memory:":
            return url
        path = Path(given.database)
        mine = path.with_name(f"{path.stem}_{worker}{path.suffix}")
        for leftover in (mine, *(Path(f"{mine}{end}") for end in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
        return given.set(database=str(mine)).render_as_string(hide_password=False)
    name = f"{given.database}_{worker}"
    # Connected to the given database only to make this worker's.
    server = given.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return given.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = given_database_url()
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[None]:
    yield
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def session(engine: Engine, clean_db: None) -> Iterator[Session]:
    with open_session(engine, write=True) as session:
        yield session
        session.rollback()


@pytest.fixture
def settings(db_url: str) -> Settings:
    # Webhook tests receive on 127.0.0.1, an address a production webhook may not call.
    # The outbox workers are started by the tests that send (tests/webhooks, tests/mail).
    return Settings(
        database_url=db_url,
        key_touch_seconds=0,
        webhook_worker=False,
        mail_worker=False,
        detection_model=False,
        webhook_allow_private=True,
    )


@pytest.fixture
def meaning(settings: Settings) -> Iterator[Settings]:
    """Detection with the multilingual model, as the service runs by default."""
    from app.findings import vectors

    settings.detection_model = True
    vectors.configure(enabled=True)
    yield settings
    vectors.configure(enabled=False)


@pytest.fixture
def app(settings: Settings, clean_db: None) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def seconds_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seconds of the test's writes are over when feeds are read: a feed dated in its
    running second is not kept by the read cache (tests/operations/test_read_cache.py)."""
    from app.core.timeutil import utcnow

    monkeypatch.setattr("app.api.feeds.utcnow", lambda: utcnow() + timedelta(seconds=5))


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp_server(ca: trustme.CA) -> Iterator[Callable[[str], SmtpServer]]:
    """smtp_server("smtp" | "smtp+starttls" | "smtps") -> a running server, stopped after."""
    controllers: list[Controller] = []

    def make(mode: str) -> SmtpServer:
        server, controller = start(mode, ca)
        controllers.append(controller)
        return server

    yield make
    for controller in controllers:
        controller.stop()


KeyMaker = Callable[..., str]


@pytest.fixture
def make_key(engine: Engine, clean_db: None) -> KeyMaker:
    """make_key("UNLIREC", "provider") -> a working API key (the organization is created)."""

    def make(acronym: str = "UNLIREC", role: str = "provider") -> str:
        with open_session(engine, write=True) as session:
            organization = organizations.ensure(session, acronym=acronym, name=f"{acronym} (test)")
            created = keys_service.create(session, organization=organization, role=role, actor=None)
            session.commit()
            return created.key

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that touches the database is marked `db`, so .ci/run can run exactly those
    again on PostgreSQL."""
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port, in a thread: its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(settings: Settings, clean_db: None) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, for tests of real concurrency."""
    with serving(create_app(settings)) as base:
        yield base
