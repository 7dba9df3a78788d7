"""The hand-labelled pairs of 1540 activities (tests/core/labelled/*.json), as detection sees
them, and how well detection does on them.

    python benchmarks/labelled_pairs.py [tests/core/labelled/held_out.json ...]

Each pair is two records as an organization submits them and the truth: "duplicate" (one
activity: translated, abbreviated, reworded, corrected) or "different" (two activities that
look alike: another weapon, treaty, audience, city or edition, another topic).  The records go
through app.core.matching as the service would compare them, with their titles' vectors from
the detection model (without the model: words only).  Printed: precision and recall of the
duplicates, and every pair decided wrongly with its reasons.
"""

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import matching, meaning, titles, vocab

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "core" / "labelled"


@dataclass(frozen=True)
class Pair:
    id: str
    expected: str  # "duplicate" or "different"
    category: str
    languages: tuple[str, ...]
    region: str
    a: dict[str, Any]
    b: dict[str, Any]


def load(path: Path) -> list[Pair]:
    return [
        Pair(
            id=item["id"],
            expected=item["expected"],
            category=item["category"],
            languages=tuple(item["languages"]),
            region=item["region"],
            a=item["a"],
            b=item["b"],
        )
        for item in json.loads(path.read_text())
    ]


def facts(record: dict[str, Any], key: str) -> matching.Facts:
    """The facts detection would read of this record once stored."""
    venue = record.get("venue") or {}
    states = vocab.beneficiary_states(record["countries"], record.get("regions", []))
    start = date.fromisoformat(record["start_date"])
    return matching.Facts(
        id=key,
        provider=record["provider"],
        title=record["title"],
        activity_type=record["activity_type"],
        themes=frozenset(record["themes"]),
        states=frozenset(states),
        start=start,
        end=date.fromisoformat(record.get("end_date", record["start_date"])),
        partners=frozenset(record.get("partners", [])),
        external_ref=record.get("external_ref"),
        city=venue.get("city"),
        language=record["language"],
        domains=frozenset(record.get("domains", [])),
        audiences=frozenset(record.get("audiences", [])),
    )


def with_vectors(pairs: Iterable[Pair]) -> list[tuple[Pair, matching.Facts, matching.Facts]]:
    """Each pair's two facts, with their titles' vectors when the model is available."""
    made = [(pair, facts(pair.a, f"{pair.id}/a"), facts(pair.b, f"{pair.id}/b")) for pair in pairs]
    give_vectors([fact for _, a, b in made for fact in (a, b)])
    return made


def give_vectors(everything: list[matching.Facts]) -> None:
    """The titles' vectors, as detection attaches them (without a database: not kept)."""
    from app.findings import vectors

    if everything and vectors.available():
        raw = vectors.embed([titles.spelled_out(fact.title) for fact in everything])
        for fact, vector in zip(everything, raw, strict=True):
            fact.vector = meaning.prepare(vectors.as_kept(vector), fact.language)


@dataclass(frozen=True)
class Outcome:
    pair: Pair
    found: matching.Finding | None

    @property
    def called_duplicate(self) -> bool:
        return self.found is not None and self.found.kind == "duplicate"

    @property
    def right(self) -> bool:
        return self.called_duplicate == (self.pair.expected == "duplicate")


def judge(
    made: list[tuple[Pair, matching.Facts, matching.Facts]],
    rules: matching.Rules = matching.RULES,
) -> list[Outcome]:
    return [Outcome(pair, matching.compare(a, b, rules)) for pair, a, b in made]


def precision_recall(outcomes: list[Outcome]) -> tuple[float, float]:
    called = [o for o in outcomes if o.called_duplicate]
    truly = [o for o in outcomes if o.pair.expected == "duplicate"]
    hits = sum(o.pair.expected == "duplicate" for o in called)
    precision = hits / len(called) if called else 1.0
    recall = hits / len(truly) if truly else 1.0
    return precision, recall


def report(name: str, outcomes: list[Outcome], *, details: bool = True) -> None:
    precision, recall = precision_recall(outcomes)
    negatives = [o for o in outcomes if o.pair.expected == "different"]
    wrong_negatives = sum(o.called_duplicate for o in negatives)
    print(
        f"{name}: {len(outcomes)} pairs ({len(outcomes) - len(negatives)} duplicates, "
        f"{len(negatives)} look-alikes): precision {precision:.3f}  recall {recall:.3f}  "
        f"look-alikes called duplicates: {wrong_negatives}"
    )
    if not details:
        return
    for outcome in outcomes:
        if outcome.right:
            continue
        pair, found = outcome.pair, outcome.found
        said = "; ".join(r.message for r in found.reasons) if found else "no finding"
        kind = found.kind if found else "none"
        print(f"    {pair.id} ({pair.category}, {'/'.join(pair.languages)}): {kind}: {said}")
        print(f"        {pair.a['title']!r} ~ {pair.b['title']!r}")


def baseline(pairs: list[Pair]) -> tuple[float, float]:
    """The plain fuzzy rule of benchmarks/detection_quality.py on these pairs: a shared State,
    starts at most 15 days apart, titles at least 90 alike by rapidfuzz's token-sort ratio."""
    from rapidfuzz import fuzz

    called = []
    for pair in pairs:
        a, b = facts(pair.a, "a"), facts(pair.b, "b")
        same = (
            bool(a.states & b.states)
            and abs((a.start - b.start).days) <= 15
            and fuzz.token_sort_ratio(a.title, b.title) >= 90
        )
        called.append(Outcome(pair, matching.Finding("duplicate", 1.0, (), "b") if same else None))
    return precision_recall(called)


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]] or sorted(LABELLED.glob("*.json"))
    for path in paths:
        pairs = load(path)
        # the held-out pairs are scored, never shown: nothing is tuned on them
        report(path.stem, judge(with_vectors(pairs)), details=path.stem != "held_out")
        words_only = [(pair, facts(pair.a, "a"), facts(pair.b, "b")) for pair in pairs]
        report(f"{path.stem}, words only (no model)", judge(words_only), details=False)
        precision, recall = baseline(pairs)
        print(f"{path.stem}, plain fuzzy rule: precision {precision:.3f}  recall {recall:.3f}")


if __name__ == "__main__":
    main()
