"""How alike two activity titles are, on the words that tell activities apart.

Text is normalised (case, accents, HTML entities), reduced to the glossary's concepts so that
the four languages compare alike (app.core.glossary), and stripped of the place names both
activities share.  Pure: strings in, numbers out; app.core.matching weighs the result.
"""

import html
import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz

from app.core import glossary, vocab

# Anything but a letter or a digit, of any script: Cyrillic, Arabic and Chinese titles keep
# their words (Chinese, written without spaces, stays one word per run of characters).
_NON_WORD = re.compile(r"[\W_]+")
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


def about(text: str) -> frozenset[str]:
    """The glossary's subjects a title names (glossary.SUBJECTS): "export_control", "nap"..."""
    return frozenset(c for _, c in _concept_tokens(text) if c in glossary.SUBJECTS)


def _singular(word: str) -> str:
    """A crude plural folding that works alike in the four languages: controls -> control."""
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def similarity(title_a: str, title_b: str, places: frozenset[str] = frozenset()) -> float:
    """How alike the titles are, 0..1, on the words that tell activities apart.

    `places` (the words of shared_places) and event words ("workshop", "conference") are left
    out, since other evidence covers them: "API Conference London" and "QCon London" share
    only words that every London conference shares.  A title that only adds words to the other
    ("UNODA workshop on reporting" / "Workshop on reporting") is still alike, a little less.  A
    title left with no distinctive word matches only another such title."""
    left, right = concepts(title_a, places), concepts(title_b, places)
    left, right = with_initials(left, right), with_initials(right, left)
    distinct_left = _without(left, glossary.EVENT_WORDS)
    distinct_right = _without(right, glossary.EVENT_WORDS)
    if distinct_left and distinct_right:
        return _alike(distinct_left, distinct_right) or 0.0
    if distinct_left or distinct_right:
        return 0.0
    return _alike(left, right) or _alike(normalise(title_a), normalise(title_b)) or 0.0


def with_initials(text: str, other: str) -> str:
    """`text` with each run of words whose initials spell a word of `other` written as that
    word: an acronym and its spelled-out form are the same words ("machine learning
    conference" beside "ml conference" reads "ml conference"), listed in the glossary or not."""
    words, theirs = text.split(), set(other.split())
    short = [w for w in theirs if 2 <= len(w) <= 6 and w.isalpha() and w not in words]
    for acronym in short:
        size = len(acronym)
        for start in range(len(words) - size + 1):
            run = words[start : start + size]
            if "".join(w[0] for w in run) == acronym:
                words[start : start + size] = [acronym]
                break
    return " ".join(words)


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


def shared_places(
    states_a: frozenset[str], states_b: frozenset[str], city_a: str, city_b: str
) -> frozenset[str]:
    """Place words both activities have in common: their beneficiary countries' names, and
    the venue city (as `city` gives it) when it is the same or one record has none.  Different
    cities stay in the titles: "DevOpsDays Philadelphia" is not "DevOpsDays Kansas City"."""
    words: set[str] = set()
    for code in states_a & states_b if len(states_a | states_b) <= 3 else ():
        words.update(country_words(code))
    if not city_a or not city_b or same_city(city_a, city_b):
        words.update(city_a.split())
        words.update(city_b.split())
    return frozenset(words - glossary.STOPWORDS)


@lru_cache(maxsize=512)
def country_words(code: str) -> frozenset[str]:
    country = vocab.geography().countries.get(code)
    return frozenset(normalise(country.name).split()) if country else frozenset()


def _without(text: str, words: frozenset[str]) -> str:
    return " ".join(word for word in text.split() if word not in words)


def city(text: str | None) -> str:
    """A venue's city as compared: its first part ("Lima, Peru" -> "lima"), normalised."""
    return normalise(text.split(",")[0]) if text else ""


def same_city(city_a: str, city_b: str) -> bool:
    """Two cities (as `city` gives them) alike enough to be one ("Port of Spain" and
    "Port-of-Spain")."""
    return fuzz.ratio(city_a, city_b) >= 85


@lru_cache(maxsize=1)
def _acronym_pattern() -> re.Pattern[str]:
    forms = sorted(glossary.ACRONYMS, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(f) for f in forms) + r")\b")


def spelled_out(title: str) -> str:
    """The title with its acronyms spelled out (glossary.ACRONYMS), as the detection model
    reads it: "Семинар по КБТО" -> "Семинар по Biological Weapons Convention"."""
    return _acronym_pattern().sub(lambda m: glossary.ACRONYMS[m.group(1)], html.unescape(title))
