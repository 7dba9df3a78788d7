"""How fast an activity is created with duplicate, overlap and clash detection, as the store grows.

    python benchmarks/detection_speed.py --sizes 10000 100000 1000000
    ASSISTCAL_DATABASE_URL=postgresql://... python benchmarks/detection_speed.py --sizes 100000

Synthetic but realistic data: every State of the world, skewed toward a few busy ones (Zipf),
ten years of activities lasting 1-5 days (a few e-learning courses of weeks, a few regional
activities), titles built from the multilingual vocabulary.  The store is filled in bulk (plain
inserts, not timed), then for each size it measures, through the service's own code path
(activities.create + findings.refresh, one committed transaction each):

- creating one activity with detection: median and 99th percentile over `--probes` creations,
  with the titles' meaning compared by the multilingual model (the stored titles' vectors are
  computed after the fill, not timed; each probe's new title is embedded within its time);
- the rescan rate (findings.rescan over a sample), and the full rescan time it implies;
- beside it, a naive detector that compares the new activity with every stored one in Python.
"""

import argparse
import os
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.activities import service as activities
from app.activities.models import (
    LONG_RUNNING_DAYS,
    Activity,
    ActivityCountry,
    ActivityCreate,
    ActivityRegion,
)
from app.config import Settings
from app.core import matching, titles, vocab
from app.core.principal import Principal
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.findings import candidates, vectors
from app.findings import detection as findings
from app.organizations import service as organizations
from app.warmup import settle
from benchmarks.common import databases, spread

WORDS = {
    "en": [
        "national",
        "workshop",
        "training",
        "export control",
        "border control",
        "customs",
        "legislation",
        "nuclear security",
        "biosafety",
        "outreach",
        "industry",
        "licensing",
        "strategic trade",
        "dual-use goods",
        "reporting",
        "national action plan",
        "seminar",
    ],
    "es": [
        "taller",
        "nacional",
        "capacitación",
        "control de exportaciones",
        "aduanas",
        "legislación",
        "seguridad nuclear",
        "bioseguridad",
        "industria",
        "comercio estratégico",
        "plan de acción nacional",
        "informe nacional",
        "seminario",
    ],
    "fr": [
        "atelier",
        "national",
        "formation",
        "contrôle des exportations",
        "douanes",
        "sécurité nucléaire",
        "biosécurité",
        "industrie",
        "plan d'action national",
    ],
    "pt": [
        "oficina",
        "nacional",
        "treinamento",
        "controle de exportações",
        "alfândega",
        "segurança nuclear",
        "biossegurança",
        "indústria",
        "relatório nacional",
    ],
}
PROVIDERS = [f"PROV{n:02d}" for n in range(60)]
TITLE_POOL = 5_000
WARM_UP = 10


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        geography = vocab.geography()
        self.countries = sorted(c.code for c in geography.countries.values() if c.independent)
        self.rng.shuffle(self.countries)
        self.weights = [1 / (rank + 1) ** 1.1 for rank in range(len(self.countries))]
        self.regions = sorted(r for r, s in geography.region_states.items() if 3 <= len(s) <= 30)
        self.first = date(2020, 1, 1)
        # The stored activities' titles come from a pool (a calendar repeats its titles: the
        # same workshop in many States and years), whose vectors are computed once after the
        # fill; a probe's title is new (numbered from 1000), so each probe embeds its own.
        self.pool = [self.title(number) for number in range(TITLE_POOL)]
        self.fresh = False

    def title(self, number: int) -> tuple[str, str]:
        language = self.rng.choice(["en", "en", "es", "es", "fr", "pt"])
        words = self.rng.sample(WORDS[language], 4)
        return " ".join(words).capitalize() + f" {number}", language

    def record(self) -> dict[str, Any]:
        rng = self.rng
        if self.fresh:
            title, language = self.title(1000 + rng.randrange(1_000_000))
        else:
            title, language = rng.choice(self.pool)
        start = self.first + timedelta(days=rng.randrange(3650))
        long = rng.random() < 0.02
        days = rng.randrange(14, 60) if long else rng.choice([1, 1, 2, 3, 3, 4, 5])
        regional = rng.random() < 0.02
        countries = (
            []
            if regional
            else rng.choices(self.countries, self.weights, k=rng.choice([1, 1, 1, 2]))
        )
        return {
            "provider": rng.choice(PROVIDERS),
            "title": title,
            "language": language,
            "activity_type": rng.choice(vocab.ACTIVITY_TYPES),
            "themes": rng.sample(vocab.THEMES, rng.choice([1, 1, 2, 3])),
            "start_date": start,
            "end_date": start + timedelta(days=days - 1),
            "countries": sorted(set(countries)),
            "regions": [rng.choice(self.regions)] if regional else [],
        }


def bulk_fill(url: str, count: int, gen: Generator, provider_ids: dict[str, int]) -> None:
    """Insert `count` activities and their link rows with plain batched inserts."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    activity_table = Activity.__table__  # type: ignore[attr-defined]
    country_table = ActivityCountry.__table__  # type: ignore[attr-defined]
    region_table = ActivityRegion.__table__  # type: ignore[attr-defined]
    done = 0
    while done < count:
        batch = min(20_000, count - done)
        rows, countries, regions = [], [], []
        for _ in range(batch):
            record = gen.record()
            activity_id = uuid.uuid4()
            dates = {"start_date": record["start_date"], "end_date": record["end_date"]}
            span = (record["end_date"] - record["start_date"]).days + 1
            rows.append(
                {
                    "id": activity_id,
                    "provider_id": provider_ids[record["provider"]],
                    "title": record["title"],
                    "language": record["language"],
                    "activity_type": record["activity_type"],
                    "themes": record["themes"],
                    "domains": [],
                    "audiences": [],
                    "partners": [],
                    "delivery_languages": [],
                    "status": "planned",
                    "visibility": "public",
                    "revision": 1,
                    "created_at": now,
                    "updated_at": now,
                    **dates,
                }
            )
            for code, named in vocab.beneficiary_states(
                record["countries"], record["regions"]
            ).items():
                countries.append(
                    {
                        "activity_id": activity_id,
                        "country": code,
                        "named": named,
                        "long_running": span > LONG_RUNNING_DAYS,
                        **dates,
                    }
                )
            regions += [
                {"activity_id": activity_id, "region": r, **dates} for r in record["regions"]
            ]
        with engine.begin() as conn:
            conn.execute(activity_table.insert(), rows)
            conn.execute(country_table.insert(), countries)
            if regions:
                conn.execute(region_table.insert(), regions)
        done += batch
        print(f"  filled {done:,}/{count:,} ({time.perf_counter() - started:.0f} s)", flush=True)
    if engine.dialect.name == "postgresql":
        # What autovacuum does to a live database within minutes of such a load: statistics,
        # and the visibility map that index-only scans need.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def embed_pool(url: str, gen: Generator) -> None:
    """The stored titles' vectors, as the service keeps them (once per text)."""
    if not vectors.available():
        print("  the detection model is not available: titles compared by words only")
        return
    started = time.perf_counter()
    texts = sorted({titles.spelled_out(title) for title, _ in gen.pool})
    engine = make_engine(url)
    for start in range(0, len(texts), 500):
        part = texts[start : start + 500]
        with open_session(engine, write=True) as session:
            done = vectors.stored(session, map(vectors.digest, part))
            missing = [text for text in part if vectors.digest(text) not in done]
            if missing:
                vectors.keep(
                    session,
                    dict(zip(map(vectors.digest, missing), vectors.embed(missing), strict=True)),
                )
            session.commit()
    engine.dispose()
    print(f"  {len(texts):,} stored titles' vectors ready in {time.perf_counter() - started:.0f} s")


def probe(
    url: str, gen: Generator, actor: Principal, probes: int
) -> tuple[list[float], list[float], int]:
    """Create activities one by one through the service; times in ms (all, detection only).
    The first WARM_UP creations fill caches (vocabularies, compiled statements) and are not
    counted.  Each probe's title is new: its vector is computed during the creation."""
    engine = make_engine(url)
    totals, detections, found = [], [], 0
    gen.fresh = True
    for n in range(WARM_UP + probes):
        record = gen.record()
        data = ActivityCreate.model_validate(
            {
                **record,
                "start_date": record["start_date"].isoformat(),
                "end_date": record["end_date"].isoformat(),
            }
        )
        t0 = time.perf_counter()
        vectors.prefetch(data.title)  # as the routes do
        with open_session(engine, write=True) as session:
            activity, _ = activities.create(session, data, actor=actor)
            t1 = time.perf_counter()
            result = findings.refresh(session, activity, created=True)
            detection = (time.perf_counter() - t1) * 1000
            session.commit()
        if n >= WARM_UP:
            found += len(result)
            detections.append(detection)
            totals.append((time.perf_counter() - t0) * 1000)
    engine.dispose()
    gen.fresh = False
    return totals, detections, found


def rescan_rate(url: str, sample: int) -> float:
    """Activities rescanned per second, over a random sample of the store (bulk-filled, so
    without findings yet: each finding is written, as after an import)."""
    engine = make_engine(url)
    with open_session(engine, write=True) as session:
        statement = sa.select(Activity.id).order_by(sa.func.random()).limit(sample)
        ids = list(session.execute(statement).scalars())
        t0 = time.perf_counter()
        findings.rescan(session, ids)
        session.commit()
        elapsed = time.perf_counter() - t0
    engine.dispose()
    return len(ids) / elapsed


def naive(url: str, gen: Generator, probes: int) -> list[float]:
    """Compare new activities with every stored one in Python (facts loaded beforehand)."""
    engine = make_engine(url)
    with open_session(engine, write=False) as session:
        ids = list(session.execute(sa.select(Activity.id)).scalars())
        stored = []
        for start in range(0, len(ids), 20_000):
            stored += candidates.facts(session, ids[start : start + 20_000])
    engine.dispose()
    times = []
    for n in range(probes):
        record = gen.record()
        new = matching.Facts(
            id=f"new{n}",
            provider=record["provider"],
            title=record["title"],
            activity_type=record["activity_type"],
            themes=frozenset(record["themes"]),
            states=frozenset(vocab.beneficiary_states(record["countries"], record["regions"])),
            start=record["start_date"],
            end=record["end_date"],
        )
        t0 = time.perf_counter()
        matching.detect(new, stored)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--rescan-sample", type=int, default=2_000)
    parser.add_argument("--naive-probes", type=int, default=20)
    parser.add_argument("--naive-max", type=int, default=100_000, help="skip naive above this size")
    args = parser.parse_args()
    settle()  # as the service does at start-up
    vectors.configure(enabled=Settings().detection_model)  # ASSISTCAL_DETECTION_MODEL
    print(f"detection model: {'in use' if vectors.available() else 'not available'}")

    for url in databases(os.environ.get("ASSISTCAL_DATABASE_URL"), "speed.db"):
        upgrade(url)
        engine = make_engine(url)
        with open_session(engine, write=True) as session:
            admin = organizations.ensure(session, acronym="BENCH", name="benchmark")
            assert admin.id is not None
            provider_ids = {}
            for acronym in PROVIDERS:
                org = organizations.ensure(session, acronym=acronym, name=acronym)
                assert org.id is not None
                provider_ids[acronym] = org.id
            session.commit()
        print(f"database: {engine.dialect.name}")
        engine.dispose()
        actor = Principal(uuid.UUID(int=0), "bench", admin.id, "BENCH", "admin")
        gen = Generator(1540)
        stored = 0
        for size in sorted(args.sizes):
            bulk_fill(url, size - stored, gen, provider_ids)
            embed_pool(url, gen)
            stored = size
            totals, detections, found = probe(url, gen, actor, args.probes)
            stored += args.probes + WARM_UP
            print(
                f"{size:>9,} stored: create+detect {spread(totals)}; detection alone "
                f"{spread(detections)}; {found / args.probes:.1f} findings per new activity"
            )
            rate = rescan_rate(url, args.rescan_sample)
            minutes = stored / rate / 60
            print(f"{'':>9}  rescan: {rate:,.0f} activities/s, full rescan about {minutes:.1f} min")
            if size <= args.naive_max:
                times = naive(url, gen, args.naive_probes)
                print(f"{'':>9}  naive all-pairs in Python: {spread(times)} per new activity")
            else:
                print(f"{'':>9}  naive all-pairs: skipped above --naive-max")


if __name__ == "__main__":
    main()
