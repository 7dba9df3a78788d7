"""What the benchmarks share: a fresh database to fill, illustrative activities written to it
in bulk, and how latencies are summed up."""

import statistics
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.activities import bulk, records
from app.activities.models import ActivityCreate
from app.core.principal import Principal
from app.organizations import service as organizations
from app.tables import metadata


def databases(base_url: str | None, name: str) -> Iterator[str]:
    """`base_url` emptied of the service's tables, or else a new SQLite file `name`."""
    if base_url:
        engine = sa.create_engine(base_url)
        with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
        yield base_url
    else:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/{name}"


def add_activities(
    session: Session, new: Sequence[tuple[str, dict[str, Any]]], *, actor: Principal
) -> list[uuid.UUID]:
    """Many activities at once, as an import writes them (`app.activities.bulk`: multi-row
    inserts of the activities, their States' and regions' rows and audit entries, checked
    like any other): `new` holds (provider's acronym, the body an API client would send)
    pairs; providers are made if new.  No detection: the caller runs it if it wants
    findings.  Returns the new ids in order."""
    providers = {
        acronym: organizations.ensure(session, acronym=acronym, name=acronym)
        for acronym in sorted({acronym for acronym, _ in new})
    }
    ids: list[uuid.UUID] = []
    for start in range(0, len(new), 1000):
        batch = [
            (providers[acronym], records.prepared(ActivityCreate.model_validate(body)))
            for acronym, body in new[start : start + 1000]
        ]
        ids += bulk.create_many(session, batch, actor=actor)
    return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: list[float], digits: int = 1) -> str:
    """Median and 99th percentile of times in milliseconds."""
    median, p99 = statistics.median(values), percentile(values, 0.99)
    return f"median {median:.{digits}f} ms, p99 {p99:.{digits}f} ms"
