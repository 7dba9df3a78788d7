"""The matching core against a hand-labelled set of 1540-style activities: bilingual
duplicates that a careful reviewer would link, and hard negatives that must not be linked."""

from dataclasses import replace
from datetime import date, timedelta

import pytest

from app.core import matching, titles
from app.core.matching import Facts

D = date(2025, 3, 10)


def facts(
    id: str,
    provider: str,
    title: str,
    *,
    states: tuple[str, ...] = ("TT",),
    themes: tuple[str, ...] = ("export_control",),
    type: str = "workshop",
    start: date = D,
    days: int = 3,
    partners: tuple[str, ...] = (),
    ref: str | None = None,
    city: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Facts:
    return Facts(
        id=id,
        provider=provider,
        title=title,
        activity_type=type,
        themes=frozenset(themes),
        states=frozenset(states),
        start=start,
        end=start + timedelta(days=days - 1),
        partners=frozenset(partners),
        provider_names=frozenset(aliases),
        external_ref=ref,
        city=city,
    )


DUPLICATES = [
    pytest.param(
        facts(
            "a",
            "UNLIREC",
            "Taller nacional sobre control de exportaciones de bienes de doble uso",
            partners=("US-STATE",),
        ),
        facts(
            "b",
            "US-STATE",
            "National workshop on dual-use export controls",
            start=D + timedelta(days=1),
        ),
        id="spanish_english_funder_implementer",
    ),
    pytest.param(
        facts(
            "a",
            "OAS-CICTE",
            "Atelier national sur le plan d'action national 1540",
            themes=("national_action_plan",),
            states=("HT",),
        ),
        facts(
            "b",
            "UNODA",
            "National workshop on the 1540 national action plan",
            themes=("national_action_plan",),
            states=("HT",),
            start=D + timedelta(days=2),
            partners=("OAS-CICTE",),
        ),
        id="french_english",
    ),
    pytest.param(
        facts(
            "a",
            "IAEA",
            "Oficina nacional sobre proteção física de materiais nucleares",
            themes=("physical_protection",),
            states=("BR",),
            type="training",
        ),
        facts(
            "b",
            "US-DOE",
            "National training on physical protection of nuclear material",
            themes=("physical_protection",),
            states=("BR",),
            type="training",
            start=D - timedelta(days=1),
        ),
        id="portuguese_english_no_partner",
    ),
    pytest.param(
        facts("a", "UNODA", "UNODA 2025 workshop on 1540 reporting", themes=("reporting",)),
        facts("b", "OAS-CICTE", "Workshop on reporting (UNSCR 1540)", themes=("reporting",)),
        id="provider_and_year_added",
    ),
    pytest.param(
        facts("a", "WCO", "Customs enforcement of strategic trade controls", ref="WCO-25-07"),
        facts(
            "b",
            "EU",
            "Strategic trade control enforcement for customs officers",
            ref="WCO-25-07",
            start=D + timedelta(days=4),
        ),
        id="same_external_ref_and_word_order",
    ),
    pytest.param(
        facts(
            "a", "BAFA", "Seminario sobre control de exportaciones", states=("CO",), city="Bogotá"
        ),
        facts(
            "b",
            "EU",
            "Seminário sobre controle de exportações",
            states=("CO",),
            city="Bogota",
            type="workshop",
        ),
        id="accents_and_spelling",
    ),
]

NOT_DUPLICATES = [
    pytest.param(
        facts("a", "UNLIREC", "National workshop on export controls"),
        facts("b", "OPCW", "National workshop on chemical industry outreach", themes=("outreach",)),
        "clash",
        id="same_state_same_week_different_themes",
    ),
    pytest.param(
        facts(
            "a",
            "UNLIREC",
            "Annual regional meeting of 1540 points of contact",
            themes=("coordination",),
            type="coordination_meeting",
        ),
        facts(
            "b",
            "UNLIREC",
            "Annual regional meeting of 1540 points of contact",
            themes=("coordination",),
            type="coordination_meeting",
            start=D + timedelta(days=365),
        ),
        None,
        id="same_yearly_event_next_year",
    ),
    pytest.param(
        facts("a", "UNODA", "National workshop on export controls in Trinidad and Tobago"),
        facts(
            "b",
            "OAS-CICTE",
            "Regional conference on 1540 implementation in the Americas",
            states=tuple(sorted({"TT", "JM", "BB", "MX", "BR", "AR", "CL", "PE", "CO", "PA"})),
            type="conference",
            start=D + timedelta(days=1),
        ),
        "overlap",
        id="national_workshop_and_regional_conference",
    ),
    pytest.param(
        facts(
            "a",
            "IAEA",
            "Physical protection training",
            themes=("physical_protection",),
            states=("PE",),
        ),
        facts(
            "b",
            "US-DOE",
            "Export control licensing training",
            themes=("export_control",),
            states=("PE",),
            start=D + timedelta(days=6),
        ),
        None,
        id="same_country_different_theme_not_overlapping",
    ),
    pytest.param(
        facts("a", "UNLIREC", "Workshop on export controls", states=("TT",)),
        facts("b", "UNLIREC", "Workshop on export controls", states=("JM",)),
        None,
        id="same_title_other_country",
    ),
    pytest.param(
        facts("a", "BAFA", "Export control workshop for licensing officers", states=("MX",)),
        facts(
            "b",
            "WISCONSIN",
            "Export control workshop for industry",
            states=("MX",),
            start=D + timedelta(days=9),
        ),
        "overlap",
        id="two_export_control_workshops_nine_days_apart",
    ),
]


@pytest.mark.parametrize(("a", "b"), DUPLICATES)
def test_duplicates_are_found(a: Facts, b: Facts) -> None:
    for left, right in ((a, b), (b, a)):
        finding = matching.compare(left, right)
        assert finding is not None
        assert finding.kind == "duplicate", finding
        assert finding.score >= matching.RULES.duplicate_at


@pytest.mark.parametrize(("a", "b", "kind"), NOT_DUPLICATES)
def test_hard_negatives_are_not_duplicates(a: Facts, b: Facts, kind: str | None) -> None:
    for left, right in ((a, b), (b, a)):
        finding = matching.compare(left, right)
        assert (finding.kind if finding else None) == kind, finding


def test_score_is_the_sum_of_its_reasons() -> None:
    for case in DUPLICATES + NOT_DUPLICATES:
        a, b = case.values[0], case.values[1]
        finding = matching.compare(a, b)
        if finding is None:
            continue
        total = sum(r.contribution for r in finding.reasons)
        assert finding.score == pytest.approx(min(1.0, total), abs=1e-3)
        assert all(r.code and r.message for r in finding.reasons)


def test_a_pair_reads_the_same_from_either_side() -> None:
    """Whichever of the two is detected against the other, the finding is the same, words
    included: a rescan of unchanged data must find nothing to rewrite."""
    for case in DUPLICATES + NOT_DUPLICATES:
        a, b = case.values[0], case.values[1]
        a = replace(a, city="Lima", id="a")
        b = replace(b, activity_type="training", city="Quito", id="b")
        [from_a] = matching.detect(a, [b]) or [None]
        [from_b] = matching.detect(b, [a]) or [None]
        if from_a is None or from_b is None:
            assert from_a is from_b
            continue
        assert (from_a.other_id, from_b.other_id) == ("b", "a")
        assert (from_a.kind, from_a.score, from_a.reasons) == (
            from_b.kind,
            from_b.score,
            from_b.reasons,
        )


def test_concepts_cross_languages_and_drop_noise() -> None:
    assert titles.concepts("Taller: Control de Exportaciones 2025") == "workshop export_control"
    assert titles.concepts("Contrôle des exportations — atelier") == "export_control workshop"
    assert titles.concepts("UNSCR 1540 national action plan") == "nap"
    assert titles.concepts("Design &amp; Content Conf") == "design content conference"


def test_detect_orders_duplicates_first() -> None:
    new = facts("n", "UNLIREC", "National workshop on export controls", partners=("US-STATE",))
    found = matching.detect(
        new,
        [
            facts("c", "OPCW", "Chemical industry outreach", themes=("outreach",)),
            facts("d", "US-STATE", "Taller nacional sobre control de exportaciones"),
            facts("o", "BAFA", "Licensing workshop", start=D + timedelta(days=5)),
        ],
    )
    assert [(f.kind, f.other_id) for f in found] == [
        ("duplicate", "d"),
        ("overlap", "o"),
        ("clash", "c"),
    ]


def test_overlaps_and_clashes_are_capped_but_duplicates_never() -> None:
    new = facts("n", "UNLIREC", "National workshop on export controls")
    crowd = [
        facts(f"o{n:02d}", "BAFA", f"Licensing clinic number {n}", start=D + timedelta(days=n % 10))
        for n in range(40)
    ]
    twin = facts("d", "US-STATE", "Taller nacional sobre control de exportaciones")
    rules = matching.Rules(max_other_findings=5)
    found = matching.detect(new, [*crowd, twin], rules)
    assert [f.kind for f in found] == ["duplicate"] + ["overlap"] * 5
    assert found[1].score >= found[-1].score


def test_the_cheap_bound_never_prunes_a_duplicate() -> None:
    """could_be_duplicate is an upper bound of the duplicate score, rounding included."""
    base = facts(
        "a",
        "UNLIREC",
        "Workshop on export controls",
        themes=("export_control", "legislation", "reporting"),
        city="Lima",
        states=("PE",),
    )
    for days in range(0, 22):
        for themes in (("export_control",), ("export_control", "legislation"), ("outreach",)):
            for city in ("Lima", "Cusco", None):
                other = facts(
                    "b",
                    "BAFA",
                    "Workshop on export controls",
                    themes=themes,
                    start=D + timedelta(days=days),
                    city=city,
                    states=("PE",),
                )
                evidence, allowed = matching.duplicate_evidence(base, other)
                if allowed and evidence.score >= matching.RULES.duplicate_at:
                    assert matching.could_be_duplicate(base, other), (days, themes, city)
