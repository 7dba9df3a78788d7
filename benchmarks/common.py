"""What the benchmarks share: a fresh database to fill, and how latencies are summed up."""

import statistics
import tempfile
from collections.abc import Iterator

import sqlalchemy as sa

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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: list[float], digits: int = 1) -> str:
    """Median and 99th percentile of times in milliseconds."""
    median, p99 = statistics.median(values), percentile(values, 0.99)
    return f"median {median:.{digits}f} ms, p99 {p99:.{digits}f} ms"
