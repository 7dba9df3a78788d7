"""Detection against real near-duplicates that people removed by hand from a public list
(../shared/external/conference-data/history-duplicates.json): renamed, re-dated, re-spelled.
benchmarks/detection_quality.py runs the full evaluation through the database."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core import matching
from app.findings import vectors
from benchmarks.detection_quality import Listing, listing
from benchmarks.labelled_pairs import give_vectors

DATA = Path(__file__).resolve().parents[3] / "shared" / "external" / "conference-data"
pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"the shared conference data is not at {DATA}"
)


def facts(item: Listing) -> matching.Facts:
    return matching.Facts(
        id=item.key,
        provider=item.provider,
        title=item.name,
        activity_type="conference",
        themes=frozenset({"outreach"}),
        states=frozenset({item.country}),
        start=item.start,
        end=item.end,
        city=item.city,
        language="en",
    )


@pytest.fixture
def model() -> Iterator[None]:
    vectors.configure(enabled=True)
    yield
    vectors.configure(enabled=False)


def test_history_duplicates_are_linked(model: None) -> None:
    pairs = json.loads((DATA / "history-duplicates.json").read_text())
    usable = linked = 0
    for n, pair in enumerate(pairs):
        removed = listing(pair["removed"], f"removed-{n}", f"{n}r")
        kept = listing(pair["kept"], f"kept-{n}", f"{n}k")
        if removed is None or kept is None:
            continue
        usable += 1
        pair = [facts(removed), facts(kept)]
        give_vectors(pair)
        found = matching.compare(*pair)
        linked += found is not None and found.kind == "duplicate"
    assert usable == 33
    assert linked >= 30
