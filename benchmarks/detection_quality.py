"""How well duplicate detection does on real data nobody on this project wrote.

    python benchmarks/detection_quality.py ../shared/external/conference-data [--years 2024 2025]

The conference-data repository (the data behind confs.tech) lists tech conferences in one file
per topic and year, kept by many contributors; the same conference often appears in several
topic files, sometimes with another name.  Each topic file of a year is treated as a provider
and each conference with a country as an activity (beneficiary State its country, type
`conference`, one shared theme, venue its city).  The conference's URL is withheld from the
detector and used only as the truth: two listings in different files are the same conference
when their normalised URLs match, or their name, start date and city do.

The activities are loaded through the service's own code path (activities.create, then
findings.refresh, on a fresh SQLite database), and the cross-provider `duplicate` findings are
compared with the truth: precision, recall and F1.  Then the 39 pairs of
`history-duplicates.json` (real near-duplicates the list's maintainers removed by hand) are
loaded on their own, and the script prints how many of those with a country are linked.

A plain fuzzy rule (same country, start within 15 days, rapidfuzz token-sort ratio >= 90) is
printed beside it as the baseline.
"""

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from itertools import combinations
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.activities import service as activities
from app.activities.models import ActivityCreate
from app.core.principal import Principal
from app.core.titles import normalise
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.findings import detection as findings
from app.findings.models import Finding
from app.organizations import service as organizations


@dataclass(frozen=True)
class Listing:
    key: str
    provider: str
    name: str
    url: str
    start: date
    end: date
    city: str
    country: str

    @property
    def year(self) -> str:
        return self.provider.rsplit("-", 1)[-1]


@lru_cache(maxsize=1)
def translated_country_names() -> dict[str, str]:
    """Country names in a few European languages (pycountry's translations) -> ISO alpha-2."""
    import gettext

    import pycountry

    names: dict[str, str] = {}
    for language in ("de", "es", "fr", "pt", "it", "nl"):
        translation = gettext.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
        )
        for country in pycountry.countries:
            names[normalise(translation.gettext(country.name))] = country.alpha_2
    return names


@cache
def iso2(country_name: str) -> str | None:
    """The listing's country as ISO alpha-2: hdx-python-country's fuzzy English match, then
    the name in another language ("Deutschland")."""
    from hdx.location.country import Country

    iso3, _ = Country.get_iso3_country_code_fuzzy(country_name, use_live=False)
    if iso3 is not None:
        code: str | None = Country.get_iso2_from_iso3(iso3, use_live=False)
        return code
    return translated_country_names().get(normalise(country_name))


def listing(raw: dict[str, Any], provider: str, key: str) -> Listing | None:
    code = iso2(raw["country"]) if raw.get("country") else None
    if code is None or not raw.get("startDate"):
        return None
    start = date.fromisoformat(raw["startDate"])
    end = date.fromisoformat(raw.get("endDate") or raw["startDate"])
    return Listing(
        key=key,
        provider=provider,
        name=raw["name"],
        url=raw.get("url") or "",
        start=start,
        end=max(start, end),
        city=raw.get("city") or "",
        country=code,
    )


def same_url(a: str, b: str) -> bool:
    def bare(url: str) -> str:
        url = url.lower().split("://", 1)[-1].removeprefix("www.")
        return url.split("?")[0].rstrip("/")

    return bool(a and b) and bare(a) == bare(b)


def truly_same(a: Listing, b: Listing) -> bool:
    """One conference: the same address (but not two stops of a roadshow that shares one
    address, in two cities), or the same name, start date and city, the name perhaps
    followed by that city ("InfoQ Dev Summit" and "InfoQ Dev Summit Boston", in Boston on
    the same day, listed under two addresses)."""
    if a.city and b.city and normalise(a.city) != normalise(b.city):
        return False
    city = normalise(a.city.split(",")[0]) if a.city else ""

    def named(item: Listing) -> str:
        return normalise(item.name).removesuffix(" " + city) if city else normalise(item.name)

    return same_url(a.url, b.url) or (named(a) == named(b) and a.start == b.start)


def baseline_same(a: Listing, b: Listing) -> bool:
    return (
        a.country == b.country
        and abs((a.start - b.start).days) <= 15
        and fuzz.token_sort_ratio(a.name, b.name) >= 90
    )


def describe(item: Listing) -> str:
    return f"{item.name!r} ({item.provider}, {item.start})"


def provider_acronym(name: str) -> str:
    return normalise(name).upper().replace(" ", "-")[:30]


def load(listings: list[Listing], url: str) -> dict[str, str]:
    """Create the activities through the service; returns activity id -> listing key."""
    upgrade(url)
    engine = make_engine(url)
    ids: dict[str, str] = {}
    with open_session(engine, write=True) as session:
        operators = organizations.ensure(session, acronym="BENCH", name="benchmark")
        assert operators.id is not None
        actor = Principal(
            key_id=uuid.UUID(int=0),
            key_prefix="bench",
            organization_id=operators.id,
            organization="BENCH",
            role="admin",
        )
        for acronym in sorted({provider_acronym(item.provider) for item in listings}):
            organizations.ensure(session, acronym=acronym, name=acronym)
        for n, item in enumerate(listings, 1):
            data = ActivityCreate.model_validate(
                {
                    "provider": provider_acronym(item.provider),
                    "title": item.name[:300],
                    "language": "en",
                    "activity_type": "conference",
                    "themes": ["outreach"],
                    "start_date": item.start.isoformat(),
                    "end_date": item.end.isoformat(),
                    "countries": [item.country],
                    "venue": {"city": item.city[:200] or None, "country": item.country},
                }
            )
            activity, _ = activities.create(session, data, actor=actor)
            findings.refresh(session, activity, created=True)
            ids[str(activity.id)] = item.key
            if n % 500 == 0:
                session.commit()
                print(f"  loaded {n}/{len(listings)}", flush=True)
        session.commit()
    engine.dispose()
    return ids


def duplicate_pairs(url: str, ids: dict[str, str]) -> set[frozenset[str]]:
    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.exec(select(Finding).where(Finding.kind == "duplicate")).all()
    engine.dispose()
    return {frozenset((ids[str(r.first_id)], ids[str(r.second_id)])) for r in rows}


def scores(found: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float, float]:
    hits = len(found & truth)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def pairs_where(listings: Iterable[Listing], same: Any) -> set[frozenset[str]]:
    by_country: dict[str, list[Listing]] = {}
    for item in listings:
        by_country.setdefault(item.country, []).append(item)
    return {
        frozenset((a.key, b.key))
        for group in by_country.values()
        for a, b in combinations(group, 2)
        if a.provider != b.provider and a.year == b.year and same(a, b)
    }


def conference_run(root: Path, years: list[str]) -> None:
    listings: list[Listing] = []
    for year in years:
        for path in sorted((root / "conferences" / year).glob("*.json")):
            provider = f"{path.stem}-{year}"
            for n, raw in enumerate(json.loads(path.read_text())):
                item = listing(raw, provider, f"{provider}#{n}")
                if item is not None:
                    listings.append(item)
    # Editions of a yearly event in different years are different activities (a hard
    # negative), so the truth pairs listings of the same year only.
    truth = pairs_where(listings, truly_same)
    print(
        f"conferences {', '.join(years)}: {len(listings)} listings with a country, "
        f"{len(truth)} true cross-file duplicate pairs within a year"
    )
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/quality.db"
        started = time.perf_counter()
        ids = load(listings, url)
        elapsed = time.perf_counter() - started
        found_all = duplicate_pairs(url, ids)
    provider_of = {item.key: item.provider for item in listings}
    found = {p for p in found_all if len({provider_of[k] for k in p}) == 2}
    same_file = len(found_all) - len(found)
    p, r, f1 = scores(found, truth)
    print(
        f"  loaded and detected in {elapsed:.1f} s ({elapsed / len(listings) * 1000:.1f} ms each)"
    )
    print(f"  ({same_file} duplicate findings within one file are not scored)")
    print(
        f"  assistcal duplicates: precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}"
        f"  ({len(found & truth)} right, {len(found - truth)} wrong, {len(truth - found)} missed)"
    )
    bp, br, bf1 = scores(pairs_where(listings, baseline_same), truth)
    print(f"  baseline rule:        precision {bp:.3f}  recall {br:.3f}  F1 {bf1:.3f}")
    by_key = {item.key: item for item in listings}
    for label, pairs in (("wrong: ", found - truth), ("missed:", truth - found)):
        for pair in sorted(pairs, key=sorted)[:10]:
            a, b = (by_key[k] for k in sorted(pair))
            print(f"    {label} {describe(a)} ~ {describe(b)}")


def history_run(root: Path) -> None:
    pairs = json.loads((root / "history-duplicates.json").read_text())
    listings: list[Listing] = []
    expected: list[tuple[str, str]] = []
    for n, pair in enumerate(pairs):
        removed = listing(pair["removed"], f"removed-{n}", f"h{n}-removed")
        kept = listing(pair["kept"], f"kept-{n}", f"h{n}-kept")
        if removed is None or kept is None:
            continue
        listings += [removed, kept]
        expected.append((removed.key, kept.key))
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/history.db"
        ids = load(listings, url)
        found = duplicate_pairs(url, ids)
    linked = [pair for pair in expected if frozenset(pair) in found]
    by_key = {item.key: item for item in listings}
    baseline = [pair for pair in expected if baseline_same(by_key[pair[0]], by_key[pair[1]])]
    print(f"history-duplicates.json: {len(pairs)} pairs, {len(expected)} with a country")
    print(f"  assistcal links {len(linked)} of {len(expected)}; baseline rule {len(baseline)}")
    for removed, kept in expected:
        if frozenset((removed, kept)) not in found:
            a, b = by_key[removed], by_key[kept]
            print(f"    missed: {a.name!r} {a.start} {a.city} ~ {b.name!r} {b.start} {b.city}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="path of conference-data")
    parser.add_argument("--years", nargs="+", default=["2024", "2025"])
    args = parser.parse_args()
    if not (args.data / "conferences").is_dir():
        parser.error(f"{args.data} has no conferences/ folder")
    conference_run(args.data, args.years)
    history_run(args.data)


if __name__ == "__main__":
    main()
