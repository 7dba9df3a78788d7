"""Duplicate, overlap and clash detection between one activity and its neighbours.

Plain values in, plain values out: the caller finds the candidates (activities sharing a
beneficiary State within a date window) and passes their facts here.  How alike two titles are
is app.core.titles.

Every finding's score is the sum of the contributions of its reasons, so the explanation a
reviewer reads always adds up to the number.  All thresholds and weights are in `RULES`.

- duplicate: a weighted average of evidence (titles, dates, States, themes, type, venue),
  plus strong evidence that is added on top (the same external_ref; one provider named as the
  other's partner).  It needs a shared theme unless the titles are nearly identical or strong
  evidence exists: two different workshops in one State and week on different themes are a
  clash, not a duplicate.
- overlap: not a duplicate, shares a State and a theme, dates overlap or lie close.
- clash: not a duplicate, shares a State, dates overlap, no shared theme.
"""

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from app.core import differences, meaning, titles


@dataclass(frozen=True)
class Rules:
    duplicate_at: float = 0.78
    # weights of the averaged duplicate evidence
    title_weight: float = 0.40
    dates_weight: float = 0.20
    states_weight: float = 0.15
    themes_weight: float = 0.10
    type_weight: float = 0.05
    venue_weight: float = 0.10
    # strong evidence, added on top of the average (the total is capped at 1)
    same_ref_bonus: float = 0.35
    partner_bonus: float = 0.15
    # start dates this many days apart count nothing towards a duplicate
    date_scale_days: int = 15
    # titles at least this alike may be duplicates without a shared theme
    near_identical_title: float = 0.90
    # titles less alike are never duplicates without strong evidence: co-located events on the
    # same days (two conferences in one city) agree on everything but their names
    min_title: float = 0.70
    # overlap: dates overlapping, or at most this many days apart
    overlap_gap_days: int = 14
    # how far around an activity to look for candidates (days)
    window_days: int = 21
    # at most this many overlaps and clashes per activity, the strongest (duplicates are never
    # cut): in a busy State a reviewer cannot act on hundreds of weak overlaps anyway
    max_other_findings: int = 25

    def total_weight(self, has_venue: bool) -> float:
        """The weights of the averaged duplicate evidence; venue counts when both have one."""
        return (
            self.title_weight
            + self.dates_weight
            + self.states_weight
            + self.themes_weight
            + self.type_weight
            + (self.venue_weight if has_venue else 0.0)
        )


RULES = Rules()


@dataclass(slots=True)
class Facts:
    """What the detector knows of one activity.  Read-only by convention: not frozen, since
    a frozen dataclass takes three times as long to build, and a busy State's candidates are
    built by the hundred for every submission."""

    id: str
    provider: str
    title: str
    activity_type: str
    themes: frozenset[str]
    states: frozenset[str]
    start: date
    end: date
    partners: frozenset[str] = frozenset()
    provider_names: frozenset[str] = frozenset()
    external_ref: str | None = None
    city: str | None = None
    language: str = ""
    domains: frozenset[str] = frozenset()
    audiences: frozenset[str] = frozenset()
    # the title's meaning (app.core.meaning.prepare), attached only to activities that could
    # be duplicates of one another (app.findings.vectors.attach); None: compared by words
    vector: Any = None


@dataclass(frozen=True)
class Reason:
    """One reason of a finding: its code, its words in English and what those words say as
    values (`params`), from which the pages write it in the reader's language."""

    code: str
    message: str
    contribution: float
    params: dict[str, Any] = field(default_factory=dict)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


@dataclass(frozen=True)
class Finding:
    kind: str
    score: float
    reasons: tuple[Reason, ...]
    other_id: str


@dataclass
class _Evidence:
    """Reasons and their contributions.  Without `explain` only the numbers are kept: the
    words are made (by the callables passed to add) only for findings that are kept."""

    explain: bool = True
    reasons: list[Reason] = field(default_factory=list)
    contributions: list[float] = field(default_factory=list)

    def add(
        self,
        code: str,
        message: Callable[[], str],
        contribution: float,
        params: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        contribution = round(contribution, 4)
        self.contributions.append(contribution)
        if self.explain:
            said = params() if params is not None else {}
            self.reasons.append(Reason(code, message(), contribution, said))

    @property
    def score(self) -> float:
        return _total(self.contributions)


def _total(contributions: Iterable[float]) -> float:
    """A score: the sum of its (rounded) contributions, at most 1."""
    return round(min(1.0, sum(contributions)), 4)


def title_similarity(a: Facts, b: Facts, *, by_meaning: bool = True) -> tuple[float, bool]:
    """How alike the titles are, 0..1, and whether by meaning: their words (app.core.titles,
    without the places both share) and, for titles in two languages, the better of that and
    their meaning (app.core.meaning, when both have vectors)."""
    places = titles.shared_places(a.states, b.states, titles.city(a.city), titles.city(b.city))
    by_words = titles.similarity(a.title, b.title, places)
    if not by_meaning or a.vector is None or b.vector is None:
        return by_words, False
    in_meaning = meaning.alike(a.vector, b.vector)
    if not across_languages(a, b):
        # in one language the words are trusted; meaning may lift them a little, and only
        # for titles that describe 1540 work, not for names ("Apidays London")
        described = differences.describes_work(a.title) and differences.describes_work(b.title)
        lift = meaning.calibration().lift if described else 0.0
        in_meaning = min(in_meaning, by_words + lift)
    return (in_meaning, True) if in_meaning > by_words else (by_words, False)


def across_languages(a: Facts, b: Facts) -> bool:
    """Records in two languages: only there do titles need their meaning compared."""
    return a.language.split("-")[0].lower() != b.language.split("-")[0].lower()


def _names_partner(a: Facts, b: Facts) -> bool:
    """One provider is named among the other's partners."""
    if not a.partners and not b.partners:
        return False
    b_names = {titles.normalise(n) for n in (b.provider, *b.provider_names)}
    a_names = {titles.normalise(n) for n in (a.provider, *a.provider_names)}
    return bool({titles.normalise(p) for p in a.partners} & b_names) or bool(
        {titles.normalise(p) for p in b.partners} & a_names
    )


def gap_days(a: Facts, b: Facts) -> int:
    """Days between the two date ranges; 0 or less when they overlap."""
    return max((b.start - a.end).days, (a.start - b.end).days)


def duplicate_evidence(
    a: Facts, b: Facts, rules: Rules = RULES, *, explain: bool = True, by_meaning: bool = True
) -> tuple[_Evidence, bool]:
    """The evidence that `a` and `b` are one activity, and whether it may be called one
    (`by_meaning=False`: titles compared by their words only)."""
    evidence = _Evidence(explain)
    alike, in_meaning = title_similarity(a, b, by_meaning=by_meaning)
    start_apart = abs((a.start - b.start).days)
    dates = max(0.0, 1 - start_apart / rules.date_scale_days)
    shared_states = a.states & b.states
    states = len(shared_states) / len(a.states | b.states) if a.states | b.states else 0.0
    shared_themes = a.themes & b.themes
    themes = len(shared_themes) / len(a.themes | b.themes) if a.themes | b.themes else 0.0
    same_type = a.activity_type == b.activity_type
    city_a, city_b = titles.city(a.city), titles.city(b.city)
    has_venue = bool(city_a and city_b)

    total = rules.total_weight(has_venue)
    evidence.add(
        "title_similar",
        lambda: f"titles {alike:.0%} alike" + (" in meaning" if in_meaning else ""),
        rules.title_weight * alike / total,
        lambda: {"alike": round(alike, 2), "meaning": in_meaning},
    )
    evidence.add(
        "dates_close",
        lambda: (
            "same start date" if start_apart == 0 else f"start dates {_days(start_apart)} apart"
        ),
        rules.dates_weight * dates / total,
        lambda: {"start_apart": start_apart},
    )
    evidence.add(
        "same_country",
        lambda: f"{len(shared_states)} of {len(a.states | b.states)} beneficiary States shared",
        rules.states_weight * states / total,
        lambda: {"shared": len(shared_states), "of": len(a.states | b.states)},
    )
    evidence.add(
        "same_theme",
        lambda: (
            f"themes shared: {', '.join(sorted(shared_themes))}"
            if shared_themes
            else "no shared theme"
        ),
        rules.themes_weight * themes / total,
        lambda: {"themes": sorted(shared_themes)},
    )
    evidence.add(
        "same_type",
        lambda: (
            f"both {a.activity_type}" if same_type else f"{a.activity_type} and {b.activity_type}"
        ),
        rules.type_weight * same_type / total,
        lambda: {"types": [a.activity_type, b.activity_type]},
    )
    if has_venue:
        venue = titles.same_city(city_a, city_b)
        evidence.add(
            "same_venue",
            lambda: f"both in {a.city}" if venue else f"in {a.city} and in {b.city}",
            rules.venue_weight * venue / total,
            lambda: {"cities": [a.city, b.city], "same": bool(venue)},
        )
    strong = False
    if a.external_ref and a.external_ref == b.external_ref:
        strong = True
        evidence.add(
            "same_external_ref",
            lambda: f"same reference {a.external_ref!r}",
            rules.same_ref_bonus,
            lambda: {"reference": a.external_ref},
        )
    if a.provider != b.provider and _names_partner(a, b):
        strong = True
        evidence.add(
            "partner_overlap",
            lambda: "one provider is named as the other's partner",
            rules.partner_bonus,
        )
    allowed = (
        bool(shared_states)
        and start_apart <= rules.window_days
        and (alike >= rules.min_title or strong)
        and (bool(shared_themes) or alike >= rules.near_identical_title or strong)
    )
    return evidence, allowed


def could_be_duplicate(a: Facts, b: Facts, rules: Rules = RULES) -> bool:
    """Whether `a` and `b` could score as a duplicate, with the titles and the States counted
    as perfectly alike: the cheap test that spares most candidates the title comparison.  It
    needs only the States the two share, so the caller may pass those alone for `b` and load
    the full set only for the candidates that pass."""
    start_apart = abs((a.start - b.start).days)
    if a.id == b.id or not (a.states & b.states) or start_apart > rules.window_days:
        return False
    city_a, city_b = titles.city(a.city), titles.city(b.city)
    has_venue = bool(city_a and city_b)
    total = rules.total_weight(has_venue)
    union = a.themes | b.themes
    best = (
        rules.title_weight
        + rules.dates_weight * max(0.0, 1 - start_apart / rules.date_scale_days)
        + rules.states_weight
        + rules.themes_weight * (len(a.themes & b.themes) / len(union) if union else 0.0)
        + rules.type_weight * (a.activity_type == b.activity_type)
        + (rules.venue_weight * titles.same_city(city_a, city_b) if has_venue else 0.0)
    ) / total
    if a.external_ref and a.external_ref == b.external_ref:
        best += rules.same_ref_bonus
    if a.provider != b.provider and _names_partner(a, b):
        best += rules.partner_bonus
    # duplicate_evidence rounds each contribution; allow for it
    return best >= rules.duplicate_at - 1e-3


def compare(a: Facts, b: Facts, rules: Rules = RULES, *, explain: bool = True) -> Finding | None:
    """The finding between `a` and `b`, if any; `other_id` is b's id.

    `b.states` may hold only the States it shares with `a` when `could_be_duplicate(a, b)` is
    false: overlaps and clashes need no more.  `explain=False` leaves the reasons out (kind
    and score are the same): detect() weighs hundreds of candidates in a busy State and keeps
    the strongest few, and only those need their words."""
    if a.id == b.id or not (a.states & b.states):
        return None
    difference = None
    if could_be_duplicate(a, b, rules):
        # A contradiction decides before meaning is weighed: such a pair compares its titles
        # by words, so it needs no vectors (app.findings.candidates attaches none).
        difference = differences.decisive(a, b)
        evidence, allowed = duplicate_evidence(
            a, b, rules, explain=explain, by_meaning=difference is None
        )
        if allowed and evidence.score >= rules.duplicate_at:
            if difference is None:
                return Finding("duplicate", evidence.score, tuple(evidence.reasons), b.id)
        elif not across_languages(a, b):
            # alike in nothing but what the words say: nothing to explain.  Across
            # languages the words cannot tell, so a pair that could be one says why not.
            difference = None

    gap = gap_days(a, b)
    shared_themes = a.themes & b.themes
    evidence = _Evidence(explain)
    if difference is not None:
        # alike enough to be one activity, but the records contradict each other: the
        # reason says which contradiction decided it (it adds nothing to the score)
        said = difference
        evidence.add(
            "not_duplicate",
            lambda: f"not a duplicate: {said.message}",
            0.0,
            lambda: {"difference": said.code, **said.params},
        )
    if shared_themes and gap <= rules.overlap_gap_days:
        kind = "overlap"
        evidence.add("same_country", lambda: _both_for(a, b), 0.3, lambda: _states(a, b))
        evidence.add(
            "same_theme",
            lambda: f"themes shared: {', '.join(sorted(shared_themes))}",
            0.3 * len(shared_themes) / len(a.themes | b.themes),
            lambda: {"themes": sorted(shared_themes)},
        )
        if gap <= 0:
            evidence.add("dates_overlap", lambda: "dates overlap", 0.4, lambda: {"days": None})
        else:
            closeness = 1 - gap / (rules.overlap_gap_days + 1)
            evidence.add(
                "dates_close", lambda: f"{_days(gap)} apart", 0.4 * closeness, lambda: {"gap": gap}
            )
    elif gap <= 0:
        kind = "clash"
        overlap_days = min(a.end, b.end).toordinal() - max(a.start, b.start).toordinal() + 1
        shorter = (
            min(a.end.toordinal() - a.start.toordinal(), b.end.toordinal() - b.start.toordinal())
            + 1
        )
        evidence.add("same_country", lambda: _both_for(a, b), 0.5, lambda: _states(a, b))
        evidence.add(
            "dates_overlap",
            lambda: f"{_days(overlap_days)} at the same time, different themes",
            0.5 * overlap_days / shorter,
            lambda: {"days": overlap_days},
        )
    else:
        return None
    return Finding(kind, evidence.score, tuple(evidence.reasons), b.id)


def _states(a: Facts, b: Facts) -> dict[str, Any]:
    shared = sorted(a.states & b.states)
    return {"states": shared[:5], "more": len(shared) > 5}


def _both_for(a: Facts, b: Facts) -> str:
    shared = sorted(a.states & b.states)
    return "both for " + ", ".join(shared[:5]) + ("…" if len(shared) > 5 else "")


def _between(new: Facts, other: Facts, rules: Rules, *, explain: bool = True) -> Finding | None:
    """compare() with the two activities in the order of their ids, so that a pair reads
    the same whichever of the two was submitted or rescanned ("in Lima and in Quito", never
    the other way round the next time); `other_id` is `other`'s id."""
    if new.id < other.id:
        return compare(new, other, rules, explain=explain)
    found = compare(other, new, rules, explain=explain)
    return None if found is None else replace(found, other_id=other.id)


def detect(
    new: Facts, candidates: list[Facts], rules: Rules = RULES, *, keep: Collection[str] = ()
) -> list[Finding]:
    """The findings between `new` and its candidates, strongest first: every duplicate, the
    strongest `max_other_findings` overlaps and clashes, and any finding with a candidate in
    `keep` (those already recorded: a cut must not delete what another activity raised)."""
    by_id = {c.id: c for c in candidates}
    found = [f for c in candidates if (f := _between(new, c, rules, explain=False)) is not None]
    order = {"duplicate": 0, "overlap": 1, "clash": 2}
    found.sort(key=lambda f: (f.kind != "duplicate", -f.score, order[f.kind], f.other_id))
    others = 0
    kept = []
    for finding in found:
        if finding.kind != "duplicate" and finding.other_id not in keep:
            if others >= rules.max_other_findings:
                continue
            others += 1
        if not finding.reasons:
            explained = _between(new, by_id[finding.other_id], rules)
            assert explained is not None
            assert explained.score == finding.score
            finding = explained
        kept.append(finding)
    return sorted(kept, key=lambda f: (order[f.kind], -f.score, f.other_id))
