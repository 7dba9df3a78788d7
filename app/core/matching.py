"""Duplicate, overlap and clash detection between one activity and its neighbours.

Plain values in, plain values out: the caller finds the candidates (activities sharing a
beneficiary State within a date window) and passes their facts here.

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

import html
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache

from rapidfuzz import fuzz

from app.core import glossary, vocab


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


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    contribution: float


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

    def add(self, code: str, message: Callable[[], str], contribution: float) -> None:
        contribution = round(contribution, 4)
        self.contributions.append(contribution)
        if self.explain:
            self.reasons.append(Reason(code, message(), contribution))

    @property
    def score(self) -> float:
        return _total(self.contributions)


def _total(contributions: Iterable[float]) -> float:
    """A score: the sum of its (rounded) contributions, at most 1."""
    return round(min(1.0, sum(contributions)), 4)


_NON_WORD = re.compile(r"[^a-z0-9]+")
_YEAR = re.compile(r"^(19|20)\d\d$")


@lru_cache(maxsize=131_072)
def normalise(text: str) -> str:
    """Lower case, no accents, no HTML entities, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", html.unescape(text))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _NON_WORD.sub(" ", plain).strip()


def warm() -> None:
    """Compile the glossary's phrase pattern now rather than at the first comparison."""
    _phrase_pattern()


@lru_cache(maxsize=1)
def _phrase_pattern() -> re.Pattern[str]:
    phrases = sorted(glossary.PHRASES, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(p) for p in phrases) + r")\b")


@lru_cache(maxsize=131_072)
def _concept_tokens(text: str) -> tuple[tuple[str, str], ...]:
    """(word as written, its concept) for each word of the title that says something."""
    words = normalise(text)
    words = _phrase_pattern().sub(lambda m: glossary.PHRASES[m.group(1)], words)
    tokens = []
    for word in words.split():
        if word in glossary.STOPWORDS or _YEAR.match(word):
            continue
        concept = glossary.WORDS.get(word) or glossary.WORDS.get(_singular(word), _singular(word))
        tokens.append((word, concept))
    return tuple(tokens)


def concepts(text: str, drop: frozenset[str] = frozenset()) -> str:
    """The title reduced to its concept tokens, in order (see app.core.glossary), without
    the words in `drop`."""
    return " ".join(concept for word, concept in _concept_tokens(text) if word not in drop)


def _singular(word: str) -> str:
    """A crude plural folding that works alike in the four languages: controls -> control."""
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def title_similarity(a: Facts, b: Facts) -> float:
    """How alike the titles are, 0..1, on the words that tell activities apart.

    Place names both activities share (the beneficiary countries, the venue city) and event
    words ("workshop", "conference") are left out, since other evidence covers them: "API
    Conference London" and "QCon London" share only words that every London conference
    shares.  A title that only adds words to the other ("UNODA workshop on reporting" /
    "Workshop on reporting") is still alike, a little less.  A title left with no distinctive
    word matches only another such title."""
    places = _shared_places(a, b)
    left, right = concepts(a.title, places), concepts(b.title, places)
    distinct_left = _without(left, glossary.EVENT_WORDS)
    distinct_right = _without(right, glossary.EVENT_WORDS)
    if distinct_left and distinct_right:
        return _alike(distinct_left, distinct_right) or 0.0
    if distinct_left or distinct_right:
        return 0.0
    return _alike(left, right) or _alike(normalise(a.title), normalise(b.title)) or 0.0


def _alike(left: str, right: str) -> float | None:
    if not left or not right:
        return None
    ordered = fuzz.token_sort_ratio(left, right)
    # a title that only adds words to the other ("JSConf" / "JSConf EU") is alike, a bit less
    words_left, words_right = set(left.split()), set(right.split())
    is_subset = words_left <= words_right or words_right <= words_left
    subset = 0.9 * fuzz.token_set_ratio(left, right) if is_subset else 0.0
    # words run together or split apart ("WeyWeyWeb" / "Wey Wey Web")
    compact = fuzz.ratio(left.replace(" ", ""), right.replace(" ", ""))
    return max(ordered, subset, compact) / 100


def _shared_places(a: Facts, b: Facts) -> frozenset[str]:
    """Place words both activities have in common: their beneficiary countries' names, and
    the venue city when it is the same (or one record has none).  Different cities stay in the
    titles: "DevOpsDays Philadelphia" is not "DevOpsDays Kansas City"."""
    words: set[str] = set()
    for code in a.states & b.states if len(a.states | b.states) <= 3 else ():
        words.update(_country_words(code))
    city_a, city_b = _city(a.city), _city(b.city)
    if not city_a or not city_b or fuzz.ratio(city_a, city_b) >= 85:
        words.update(city_a.split())
        words.update(city_b.split())
    return frozenset(words - glossary.STOPWORDS)


@lru_cache(maxsize=512)
def _country_words(code: str) -> frozenset[str]:
    country = vocab.geography().countries.get(code)
    return frozenset(normalise(country.name).split()) if country else frozenset()


def _without(text: str, words: frozenset[str]) -> str:
    return " ".join(word for word in text.split() if word not in words)


def _city(text: str | None) -> str:
    return normalise(text.split(",")[0]) if text else ""


def _names_partner(a: Facts, b: Facts) -> bool:
    """One provider is named among the other's partners."""
    if not a.partners and not b.partners:
        return False
    b_names = {normalise(n) for n in (b.provider, *b.provider_names)}
    a_names = {normalise(n) for n in (a.provider, *a.provider_names)}
    return bool({normalise(p) for p in a.partners} & b_names) or bool(
        {normalise(p) for p in b.partners} & a_names
    )


def gap_days(a: Facts, b: Facts) -> int:
    """Days between the two date ranges; 0 or less when they overlap."""
    return max((b.start - a.end).days, (a.start - b.end).days)


def duplicate_evidence(
    a: Facts, b: Facts, rules: Rules = RULES, *, explain: bool = True
) -> tuple[_Evidence, bool]:
    """The evidence that `a` and `b` are one activity, and whether it may be called one."""
    evidence = _Evidence(explain)
    titles = title_similarity(a, b)
    start_apart = abs((a.start - b.start).days)
    dates = max(0.0, 1 - start_apart / rules.date_scale_days)
    shared_states = a.states & b.states
    states = len(shared_states) / len(a.states | b.states) if a.states | b.states else 0.0
    shared_themes = a.themes & b.themes
    themes = len(shared_themes) / len(a.themes | b.themes) if a.themes | b.themes else 0.0
    same_type = a.activity_type == b.activity_type
    city_a, city_b = _city(a.city), _city(b.city)
    has_venue = bool(city_a and city_b)

    total = rules.total_weight(has_venue)
    evidence.add(
        "title_similar",
        lambda: f"titles {titles:.0%} alike",
        rules.title_weight * titles / total,
    )
    evidence.add(
        "dates_close",
        lambda: "same start date" if start_apart == 0 else f"start dates {start_apart} days apart",
        rules.dates_weight * dates / total,
    )
    evidence.add(
        "same_country",
        lambda: f"{len(shared_states)} of {len(a.states | b.states)} beneficiary States shared",
        rules.states_weight * states / total,
    )
    evidence.add(
        "same_theme",
        lambda: (
            f"themes shared: {', '.join(sorted(shared_themes))}"
            if shared_themes
            else "no shared theme"
        ),
        rules.themes_weight * themes / total,
    )
    evidence.add(
        "same_type",
        lambda: (
            f"both {a.activity_type}" if same_type else f"{a.activity_type} and {b.activity_type}"
        ),
        rules.type_weight * same_type / total,
    )
    if has_venue:
        venue = fuzz.ratio(city_a, city_b) >= 85
        evidence.add(
            "same_venue",
            lambda: f"both in {a.city}" if venue else f"in {a.city} and in {b.city}",
            rules.venue_weight * venue / total,
        )
    strong = False
    if a.external_ref and a.external_ref == b.external_ref:
        strong = True
        evidence.add(
            "same_external_ref", lambda: f"same reference {a.external_ref!r}", rules.same_ref_bonus
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
        and (titles >= rules.min_title or strong)
        and (bool(shared_themes) or titles >= rules.near_identical_title or strong)
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
    city_a, city_b = _city(a.city), _city(b.city)
    has_venue = bool(city_a and city_b)
    total = rules.total_weight(has_venue)
    union = a.themes | b.themes
    best = (
        rules.title_weight
        + rules.dates_weight * max(0.0, 1 - start_apart / rules.date_scale_days)
        + rules.states_weight
        + rules.themes_weight * (len(a.themes & b.themes) / len(union) if union else 0.0)
        + rules.type_weight * (a.activity_type == b.activity_type)
        + (rules.venue_weight * (fuzz.ratio(city_a, city_b) >= 85) if has_venue else 0.0)
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
    if could_be_duplicate(a, b, rules):
        evidence, allowed = duplicate_evidence(a, b, rules, explain=explain)
        if allowed and evidence.score >= rules.duplicate_at:
            return Finding("duplicate", evidence.score, tuple(evidence.reasons), b.id)

    gap = gap_days(a, b)
    shared_themes = a.themes & b.themes
    evidence = _Evidence(explain)
    if shared_themes and gap <= rules.overlap_gap_days:
        kind = "overlap"
        evidence.add("same_country", lambda: _both_for(a, b), 0.3)
        evidence.add(
            "same_theme",
            lambda: f"themes shared: {', '.join(sorted(shared_themes))}",
            0.3 * len(shared_themes) / len(a.themes | b.themes),
        )
        if gap <= 0:
            evidence.add("dates_overlap", lambda: "dates overlap", 0.4)
        else:
            closeness = 1 - gap / (rules.overlap_gap_days + 1)
            evidence.add("dates_close", lambda: f"{gap} days apart", 0.4 * closeness)
    elif gap <= 0:
        kind = "clash"
        overlap_days = min(a.end, b.end).toordinal() - max(a.start, b.start).toordinal() + 1
        shorter = (
            min(a.end.toordinal() - a.start.toordinal(), b.end.toordinal() - b.start.toordinal())
            + 1
        )
        evidence.add("same_country", lambda: _both_for(a, b), 0.5)
        evidence.add(
            "dates_overlap",
            lambda: f"{overlap_days} day(s) at the same time, different themes",
            0.5 * overlap_days / shorter,
        )
    else:
        return None
    return Finding(kind, evidence.score, tuple(evidence.reasons), b.id)


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
