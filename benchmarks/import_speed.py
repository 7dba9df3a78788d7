"""How long importing a spreadsheet of activities takes, with duplicate detection.

    python benchmarks/import_speed.py [--rows 10000]
    ASSISTCAL_DATABASE_URL=postgresql://... python benchmarks/import_speed.py

Writes a CSV of `--rows` illustrative activities (Spanish headers, semicolons, day-first
dates, country names; Latin America and the Caribbean over two years, eight providers), then
imports it into a fresh database through the service's own import (as `assistcal import`
does: one transaction, all or nothing), and prints the time, the rate and what was found;
then imports the same file again (everything unchanged), then a copy with the State of one
row in a hundred changed (those updated, the rest unchanged), then a copy of that with the dates
of another row in a hundred moved a week (no reference column: those found by likeness and
updated), then the calendar's own CSV export (every row found by its `id`), then a second file
of as many other activities (each compared with the stored ones near its dates).
"""

import argparse
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.engine import Engine

from app.activities import queries
from app.core import vocab
from app.core.principal import Principal
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.exports import service as exports
from app.imports import readers
from app.imports import service as imports
from app.organizations import service as organizations
from app.warmup import settle
from benchmarks.common import databases

PROVIDERS = ["UNLIREC", "UNODA", "IAEA", "OPCW", "WCO", "EU", "OAS-CICTE", "BAFA"]
WORDS = ["Taller nacional", "Capacitación", "Seminario regional", "Curso", "Conferencia"]
TOPICS = [
    "control de exportaciones",
    "seguridad nuclear",
    "aduanas",
    "legislación",
    "plan de acción nacional",
]
THEMES = [
    "export_control",
    "physical_protection",
    "border_control",
    "legislation",
    "national_action_plan",
]


def write_csv(path: Path, rows: int, *, seed: int = 1540, first: int = 0) -> None:
    rng = random.Random(seed)
    geography = vocab.geography()
    states = sorted(vocab.region_states("419"))
    names = [geography.countries[code].name for code in states]
    lines = ["Título;Organización;Fecha de inicio;Fecha de fin;País beneficiario;Tema;Tipo;Idioma"]
    for n in range(rows):
        start = date(2025, 1, 1) + timedelta(days=rng.randrange(730))
        end = start + timedelta(days=rng.choice([0, 1, 2, 4]))
        topic = rng.randrange(len(TOPICS))
        lines.append(
            ";".join(
                [
                    f"{rng.choice(WORDS)} sobre {TOPICS[topic]} {first + n}",
                    rng.choice(PROVIDERS),
                    start.strftime("%d/%m/%Y"),
                    end.strftime("%d/%m/%Y"),
                    rng.choice(names),
                    THEMES[topic],
                    rng.choice(["taller", "capacitación", "seminario", "conferencia"]),
                    "es",
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def edit(path: Path, edited: Path, *, every: int) -> None:
    """A copy of the file with the beneficiary State of one row in `every` changed (the
    title, provider and dates, which the derived reference hashes, stay)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for n in range(1, len(lines), every):
        cells = lines[n].split(";")
        cells[4] = "Chile" if cells[4] != "Chile" else "Perú"
        lines[n] = ";".join(cells)
    edited.write_text("\n".join(lines) + "\n", encoding="utf-8")


def move_dates(path: Path, moved: Path, *, every: int) -> None:
    """A copy of the file with the dates of one row in `every` (half-way between the rows
    `edit` changes) a week later: a new derived reference, found by likeness."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for n in range(1 + every // 2, len(lines), every):
        cells = lines[n].split(";")
        for column in (2, 3):
            day = date(*reversed([int(part) for part in cells[column].split("/")]))
            cells[column] = (day + timedelta(days=7)).strftime("%d/%m/%Y")
        lines[n] = ";".join(cells)
    moved.write_text("\n".join(lines) + "\n", encoding="utf-8")


def export(engine: Engine, path: Path, actor: Principal) -> None:
    """The calendar's own CSV export, as GET /exports/activities.csv writes it."""
    with open_session(engine, write=False) as session:
        rows = exports.activities(session, queries.Filters(), viewer=actor)
        path.write_bytes(exports.to_csv(rows, hxl=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    settle()
    for url in databases(os.environ.get("ASSISTCAL_DATABASE_URL"), "import.db"):
        upgrade(url)
        engine = make_engine(url)
        with open_session(engine, write=True) as session:
            for acronym in PROVIDERS:
                organizations.ensure(session, acronym=acronym, name=acronym)
            admin = organizations.ensure(session, acronym="BENCH", name="benchmark")
            session.commit()
        assert admin.id is not None
        actor = Principal(uuid.UUID(int=0), "bench", admin.id, "BENCH", "admin")
        folder = Path(tempfile.mkdtemp())
        path = folder / "import.csv"
        write_csv(path, args.rows)
        size = path.stat().st_size / 2**20
        print(f"database: {engine.dialect.name}; {args.rows:,} rows, {size:.1f} MB")
        edited, moved = folder / "edited.csv", folder / "moved.csv"
        edit(path, edited, every=100)
        move_dates(edited, moved, every=100)
        other = folder / "other.csv"
        write_csv(other, args.rows, seed=1541, first=args.rows)
        for attempt, source in (
            ("first import", path),
            ("same file again", path),
            ("edited file (the State of 1 row in 100 changed)", edited),
            ("edited file (the dates of 1 row in 100 moved a week)", moved),
            ("the calendar's CSV export", folder / "export.csv"),
            ("another file of as many new activities", other),
        ):
            if source.name == "export.csv":
                export(engine, source, actor)
            started = time.perf_counter()
            with open_session(engine, write=True) as session:
                table = readers.read(source.name, source.read_bytes())
                report = imports.run(session, table, actor=actor, options=imports.Options())
                session.commit()
            elapsed = time.perf_counter() - started
            print(
                f"{attempt}: {elapsed:.1f} s ({args.rows / elapsed:,.0f} rows/s); created "
                f"{report.created}, updated {report.updated}, unchanged {report.unchanged}, "
                f"errors {len(report.errors)}, duplicates found {len(report.findings)}; "
                f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
