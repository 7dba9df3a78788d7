"""Database set-up: the SQLite defaults the issue asks for, and URL handling."""

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db.engine import make_engine, normalise_url


def test_default_database_is_sqlite_in_the_working_folder() -> None:
    assert Settings.model_fields["database_url"].default == "sqlite:///./assistcal.db"


def test_postgresql_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://u:p@db/x") == "postgresql+psycopg://u:p@db/x"
    assert normalise_url("postgresql+psycopg2://u@db/x") == "postgresql+psycopg://u@db/x"
    assert normalise_url("sqlite:///./a.db") == "sqlite:///./a.db"


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 30000
    finally:
        engine.dispose()


def test_the_test_database_enforces_foreign_keys(engine: Engine, clean_db: None) -> None:
    from app.activities.models import ActivityCountry

    statement = sa.insert(ActivityCountry.__table__).values(  # type: ignore[attr-defined]
        activity_id=uuid.UUID(int=170),
        country="TT",
        named=True,
        start_date=sa.func.current_date(),
        end_date=sa.func.current_date(),
    )
    with engine.connect() as conn:
        try:
            conn.execute(statement)
            conn.commit()
            raised = False
        except sa.exc.IntegrityError:
            conn.rollback()
            raised = True
    assert raised, "an activity_country row without its activity was accepted"


def test_idempotency_keys_are_kept_at_least_a_day() -> None:
    import pytest
    from pydantic import ValidationError

    assert Settings().idempotency_ttl_hours >= 24
    with pytest.raises(ValidationError):
        Settings(idempotency_ttl_hours=23)
