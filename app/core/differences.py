# ruff: noqa: RUF001, RUF003  (Cyrillic letters in the Russian forms are meant)
"""What makes two look-alike activities two events: a contradiction between their records.

Two records may agree on nearly everything (State, week, type, most words of the title) and
still be two activities: a workshop on the Biological and one on the Chemical Weapons
Convention, the same training for customs officers and for licensing officials, a roadshow's
stops in two cities, the second and the third regional meeting, two parts of one festival.
`decisive(a, b)` finds the first such contradiction; app.core.matching then refuses to call the
pair a duplicate and says why in the finding's reasons.

Each test needs both records to say something: a record that does not name its audience or its
city contradicts nothing.  Titles are read in the seven languages of the service (English,
French, Spanish, Portuguese, Russian, Arabic, Chinese) after app.core.titles.normalise (lower
case, no accents or diacritics, words split on anything that is not a letter or digit).
Pure: plain values in and out.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

from anyascii import anyascii
from rapidfuzz import fuzz

from app.core import glossary, titles


class Record(Protocol):
    """What this module reads of an activity (app.core.matching.Facts has it)."""

    title: str
    language: str
    domains: frozenset[str]
    audiences: frozenset[str]
    states: frozenset[str]
    city: str | None
    start: date


@dataclass(frozen=True)
class Difference:
    """A contradiction: its code, its words in English, and what they say as values."""

    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)


def _fold(form: str) -> str:
    """A form as app.core.titles.normalise leaves text: lower case, without diacritics (the
    hamza of "الكيميائية", the breve of "й")."""
    decomposed = unicodedata.normalize("NFKD", form)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


_UNSPACED = re.compile(r"[\u0600-\u06ff\u4e00-\u9fff]")


def _patterns(table: dict[str, Iterable[str]]) -> dict[str, re.Pattern[str]]:
    """One pattern per label.  Latin and Cyrillic forms match at a word's start (a stem may
    take any ending: "биологическ" finds "биологическому"); Arabic and Chinese forms anywhere,
    since Arabic joins articles and prepositions to the word and Chinese has no spaces."""
    compiled = {}
    for label, written in table.items():
        parts = []
        for form in map(_fold, written):
            if _UNSPACED.match(form):
                parts.append(re.escape(form))
            else:
                parts.append(r"\b" + form)
        compiled[label] = re.compile("|".join(parts))
    return compiled


_CONVENTION = r"(convention|convencion|convencao|convenio)"

# International instruments, by their names and acronyms in the seven languages.  Forms are
# regular expressions on normalised text; a stem ends without \b.
INSTRUMENTS = _patterns(
    {
        "BWC": (
            r"(bwc|btwc|cabt|cab|ciab|кбто|кбо)\b",
            rf"biological (and toxin )?weapons {_CONVENTION}",
            rf"{_CONVENTION} .{{0,40}}(armas|armes) (biologicas|biologiques|bacteriologicas)",
            r"конвенц\w* о \w* ?биологическ",
            "اتفاقية الاسلحة البيولوجية",
            "اتفاقية حظر الاسلحة البيولوجية",
            "生物武器公约",
        ),
        "CWC": (
            r"(cwc|caq|ciac|кхо)\b",
            rf"chemical weapons {_CONVENTION}",
            rf"{_CONVENTION} .{{0,40}}(armas|armes) (quimicas|chimiques)",
            r"конвенц\w* о \w* ?химическ",
            "اتفاقية الاسلحة الكيميائية",
            "اتفاقية حظر الاسلحة الكيميائية",
            "化学武器公约",
        ),
        "CPPNM": (
            r"(cppnm|cpfmn|cppmn|кфзям)\b",
            rf"{_CONVENTION} .{{0,30}}physical protection",
            rf"{_CONVENTION} .{{0,30}}(proteccion fisica|protection physique|protecao fisica)",
            r"конвенц\w* о физической защит",
            "اتفاقية الحماية المادية",
            "核材料实物保护公约",
        ),
        "ICSANT": (
            r"icsant\b",
            rf"{_CONVENTION} .{{0,60}}(nuclear terrorism|terrorismo nuclear|terrorisme nucleaire)",
            r"ядерного терроризма",
            "الارهاب النووي",
            "核恐怖主义",
        ),
        "NPT": (
            r"(npt|tnp|днияо)\b",
            r"non ?proliferation treaty",
            r"treaty on the non ?proliferation",
            r"(tratado|traite) (de|sobre|sur) (la )?(no|nao|non) ?prolifera",
            r"договор\w* о нераспространении",
            "معاهدة عدم انتشار",
            "不扩散核武器条约",
        ),
        "CTBT": (
            r"(ctbt|tpce|дввзи)\b",
            r"(comprehensive nuclear test ban|nuclear test ban treaty)",
            r"(prohibicion completa de los ensayos|interdiction complete des essais)",
            r"proibicao completa (dos|de) (testes|ensaios)",
            r"запрещении ядерных испытаний",
            "الحظر الشامل للتجارب النووية",
            "全面禁止核试验",
        ),
        "ATT": (
            r"arms trade treaty",
            r"tratado sobre (el|o) comercio de armas",
            r"traite sur le commerce des armes",
            r"договор\w* о торговле оружием",
            "معاهدة تجارة الاسلحة",
            "武器贸易条约",
        ),
        "HCoC": (
            r"hcoc\b",
            r"(hague code of conduct|codigo de conducta de la haya|code de conduite de la haye)",
            r"гаагск\w* кодекс",
            "مدونة لاهاي",
            "海牙行为准则",
        ),
        "MTCR": (
            r"(mtcr|rctm|рктр)\b",
            r"missile technology control regime",
            r"(regimen de control de tecnologia de misiles|regime de controle de la technologie)",
            r"режим\w* контроля за ракетной",
            "نظام مراقبة تكنولوجيا القذائف",
            "导弹及其技术控制制度",
        ),
        "NSG": (
            r"nsg\b",
            r"(nuclear suppliers group|grupo de (proveedores|suministradores) nucleares)",
            r"groupe des fournisseurs nucleaires",
            r"групп\w* ядерных поставщиков",
            "مجموعة الموردين النوويين",
            "核供应国集团",
        ),
        "Australia Group": (
            r"(australia group|grupo (de )?australia|groupe (de l )?australie)",
            r"австралийск\w* групп",
            "مجموعة استراليا",
            "澳大利亚集团",
        ),
        "Wassenaar": (r"wassenaar", r"вассенаар", "واسنار", "瓦森纳"),
        "resolution 1540": (r"1540\b",),
    }
)

_ALL_WEAPONS = ("nuclear", "chemical", "biological", "delivery_means")
_NCB = ("nuclear", "chemical", "biological")

# The kinds of weapon a title names; "CBRN" and its translations name three, "WMD" four.
DOMAIN_WORDS = _patterns(
    {
        "nuclear": (
            r"nuclea",
            r"radiolog",
            r"radioactiv",
            r"radiactiv",
            r"ядерн",
            r"радиолог",
            r"радиоактивн",
            "النووي",
            "الاشعاعي",
            "المشعة",
            "核安",
            "核材料",
            "核设施",
            "核能",
            "核武",
            "核恐怖",
            "放射",
        ),
        "chemical": (
            r"chemi",
            r"quimic",
            r"chimi",
            r"химическ",
            "الكيميائي",
            "الكيماوي",
            "化学",
        ),
        "biological": (
            r"biolog",
            r"bio ?secur",
            r"bio ?safety",
            r"bioseguridad",
            r"biocustodia",
            r"biossegur",
            r"biosurete",
            r"биолог",
            r"биобезопасн",
            "البيولوجي",
            "生物",
        ),
        "delivery_means": (
            r"missil",
            r"misil",
            r"delivery (means|systems)",
            r"vecteurs",
            r"ракет",
            "الصواريخ",
            "القذائف",
            "导弹",
        ),
    }
)
_GROUPS = _patterns(
    {
        "cbrn": (
            r"(cbrn|cbrne|nrbq|nrbc|qbrn|хбря|хбря)\b",
            "化生放核",
            "الكيميائية والبيولوجية والاشعاعية والنووية",
        ),
        "wmd": (
            r"(wmd|adm|ому)\b",
            r"weapons of mass destruction",
            r"(armas|armes) de destruc",
            r"оружи\w* массового",
            "اسلحة الدمار الشامل",
            "大规模毁灭性武器",
        ),
    }
)

# Audiences a title names (only a title that names one can contradict another).
AUDIENCE_WORDS = _patterns(
    {
        "customs": (
            r"customs",
            r"aduan",
            r"douan",
            r"alfandeg",
            r"тамож",
            "الجمارك",
            "الجمركي",
            "海关",
        ),
        "licensing officials": (
            r"licens",
            r"licenc",
            r"лицензи",
            "الترخيص",
            "التراخيص",
            "许可",
        ),
        "police and law enforcement": (
            r"police\b",
            r"polici(a|as|ais|er|ers)\b",
            r"law enforcement",
            r"правоохранит",
            r"полиц",
            "الشرطة",
            "انفاذ القانون",
            "警察",
            "执法",
        ),
        "prosecutors and judges": (
            r"prosecut",
            r"judge",
            r"judicia",
            r"fiscal(es)?\b",
            r"juece?s?\b",
            r"juiz",
            r"procureur",
            r"procurador",
            r"magistra",
            r"прокурор",
            r"судей",
            r"судь",
            "المدعين",
            "القضاة",
            "检察官",
            "法官",
        ),
        "legislators": (
            r"parliament",
            r"legislators",
            r"parlament",
            r"parlement",
            r"парламентари",
            r"депутат",
            "البرلمان",
            "议员",
        ),
        "laboratories": (r"laborator", r"лаборатор", "المختبر", "实验室"),
        "financial intelligence": (
            r"financial intelligence",
            r"(fiu|uif|ugaf)\b",
            r"финансов\w* разведк",
            "الاستخبارات المالية",
            "金融情报",
        ),
    }
)


def _labels(patterns: dict[str, re.Pattern[str]], text: str) -> frozenset[str]:
    return frozenset(label for label, pattern in patterns.items() if pattern.search(text))


@lru_cache(maxsize=65_536)
def instruments(title: str) -> frozenset[str]:
    """The international instruments a title names ("BWC", "CWC", "NPT", ...)."""
    return _labels(INSTRUMENTS, titles.normalise(title))


@lru_cache(maxsize=65_536)
def title_domains(title: str) -> frozenset[str]:
    """The kinds of weapon a title names: its own words and the instruments it names."""
    text = titles.normalise(title)
    groups = _labels(_GROUPS, text)
    if "wmd" in groups:
        return frozenset(_ALL_WEAPONS)
    if "cbrn" in groups:
        return frozenset(_NCB)
    named = set(_labels(DOMAIN_WORDS, text))
    for instrument in instruments(title):
        named |= _INSTRUMENT_DOMAINS.get(instrument, set())
    return frozenset(named)


_INSTRUMENT_DOMAINS: dict[str, set[str]] = {
    "BWC": {"biological"},
    "CWC": {"chemical"},
    "CPPNM": {"nuclear"},
    "ICSANT": {"nuclear"},
    "NPT": {"nuclear"},
    "CTBT": {"nuclear"},
    "NSG": {"nuclear"},
    "MTCR": {"delivery_means"},
    "HCoC": {"delivery_means"},
}


@lru_cache(maxsize=65_536)
def title_audiences(title: str) -> frozenset[str]:
    return _labels(AUDIENCE_WORDS, titles.normalise(title))


# Ordinal words, by number: Latin and Cyrillic stems (a word beginning so, with at most a
# short ending: "segunda", "третьего"), read only among a title's first two words or just before
# the kind of event ("Second regional meeting", "Reunión regional segunda" is not written),
# since elsewhere they say something else ("first responders", "third countries"); Arabic
# ordinals as whole words (they follow the noun: "الاجتماع الثاني"); Chinese with 第.
_ORDINAL_WORDS: dict[int, tuple[str, ...]] = {
    1: ("first", "primer", "primeir", "premier", "premiere", "перв"),
    2: ("second", "segund", "deuxieme", "втор"),
    3: ("third", "tercer", "terceir", "troisieme", "трет"),
    4: ("fourth", "cuart", "quart", "quatrieme", "четверт"),
    5: ("fifth", "quint", "cinquieme", "пят"),
    6: ("sixth", "sext", "sixieme", "шест"),
    7: ("seventh", "septim", "setim", "septieme", "седьм"),
    8: ("eighth", "octav", "oitav", "huitieme", "восьм"),
    9: ("ninth", "noven", "nono", "neuvieme", "девят"),
}
_ARABIC_ORDINALS = {
    _fold(word): number
    for number, forms in {
        1: ("الأول", "الأولى"),
        2: ("الثاني", "الثانية"),
        3: ("الثالث", "الثالثة"),
        4: ("الرابع", "الرابعة"),
        5: ("الخامس", "الخامسة"),
        6: ("السادس", "السادسة"),
        7: ("السابع", "السابعة"),
        8: ("الثامن", "الثامنة"),
        9: ("التاسع", "التاسعة"),
    }.items()
    for word in forms
}
# Words that make an ordinal ten or more ("décima primera", "الحادي عشر", "eleventh"):
# such a title is read by its digits only.
_TENS = re.compile(
    r"\b(tenth|eleventh|twelfth|\w+teenth|decim\w*|dixieme|onzieme|douzieme|десят\w*|\w*надцат\w*)\b|عشر"
)
_CHINESE_NUMERALS = {c: n for n, c in enumerate("零一二三四五六七八九十", 0)}
_ROMAN = {
    numeral: n
    for n, numeral in enumerate(["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"], 1)
}
# Words after which a number says which one of a series ("part 2", "phase II", "module 3").
_SERIES = (
    r"(part|parte|partie|phase|fase|module|modulo|session|sesion|sessao|round|ronda|edition|"
    r"edicion|edicao|stage|etapa|etape|cohort|cohorte|cycle|"
    r"ciclo|block|bloque|bloco|часть|этап|модуль|сесси\w*|раунд|"
    r"фаза|цикл|الجزء|المرحلة|الوحدة|الدورة)"
)
_SERIES_NUMBER = re.compile(_fold(_SERIES) + r" (\d{1,2}|[ivx]{1,4})\b")
_NUMBER_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th|er|ere|eme|e|o|a|ro|do|to|vo|no)\b")
# "2-й", "3-я", "4-е", "5-го" (the hyphen is read before normalisation, which removes it)
_CYRILLIC_ORDINAL = re.compile(r"(?<!\d)(\d{1,2})-(и|я|е|ое|ая|ыи|ои|го|ого)\b")
# A Roman numeral ending a title ("Export control workshop III"); "I", "V" and "X" alone are
# too often something else ("Company X")
_ROMAN_LAST = re.compile(r"\b(ii|iii|iv|vi|vii|viii|ix)$")
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
_CHINESE_ORDINAL = re.compile(r"第([零一二三四五六七八九十\d]{1,3})")


def _chinese_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, units = text.partition("十")
        return _CHINESE_NUMERALS.get(tens, 1) * 10 + _CHINESE_NUMERALS.get(units, 0)
    return _CHINESE_NUMERALS.get(text, 0)


@lru_cache(maxsize=65_536)
def editions(title: str) -> tuple[frozenset[str], frozenset[int]]:
    """The years a title names (2000-2099), and which one of a series it is (ordinals,
    "part II", "Module 3", "第二届")."""
    text = titles.normalise(title)
    years = frozenset(_YEAR.findall(text))
    numbers: set[int] = set()
    for match in _SERIES_NUMBER.finditer(text):
        value = match.group(2)
        numbers.add(int(value) if value.isdigit() else _ROMAN.get(value, 0))
    for match in _NUMBER_ORDINAL.finditer(text):
        numbers.add(int(match.group(1)))
    for match in _CYRILLIC_ORDINAL.finditer(_fold(title)):
        numbers.add(int(match.group(1)))
    for match in _CHINESE_ORDINAL.finditer(text):
        numbers.add(_chinese_number(match.group(1)))
    roman = _ROMAN_LAST.search(text)
    if roman and len(text.split()) > 2:
        numbers.add(_ROMAN[roman.group(1)])
    if not _TENS.search(text):
        numbers |= _ordinal_words(text.split())
    numbers.discard(0)
    return years, frozenset(numbers)


def _ordinal_words(words: list[str]) -> set[int]:
    found = {_ARABIC_ORDINALS[w] for w in words if w in _ARABIC_ORDINALS}
    # among the first two words, or just before an event word ("the second workshop")
    places = {0, 1} | {
        n - 1 for n, w in enumerate(words) if n and glossary.WORDS.get(w) in glossary.EVENT_WORDS
    }
    for n in sorted(places):
        if n >= len(words):
            continue
        word = words[n]
        for number, stems in _ORDINAL_WORDS.items():
            for stem in stems:
                slack = 4 if "\u0400" <= stem[0] <= "\u04ff" else 1
                if word.startswith(stem) and len(word) - len(stem) <= slack:
                    found.add(number)
    return found


_PART_SEPARATOR = re.compile(r"\s+[|\u2013\u2014-]\s+|\s*\|\s*")


def parts(title: str) -> tuple[str, str] | None:
    """An event's name and the part of it a title names ("Tech Festival | AI Day"), if the
    title is written so."""
    pieces = _PART_SEPARATOR.split(title, maxsplit=1)
    if len(pieces) != 2 or not pieces[0].strip() or not pieces[1].strip():
        return None
    return titles.normalise(pieces[0]), titles.normalise(pieces[1])


def _named(part: str, places: frozenset[str]) -> str:
    """A part's name without the words every part has ("AI Conference" -> "ai") and without
    places; empty when nothing is left."""
    words = titles.concepts(part).split()
    return " ".join(w for w in words if w not in glossary.EVENT_WORDS and w not in places)


def _resolution_covers(title_a: str, title_b: str) -> bool:
    """A title naming only resolution 1540 and the weapons of a convention the other names
    ("1540 workshop on chemical security" beside "CWC workshop"): one event may be both."""
    for one, other in ((title_a, title_b), (title_b, title_a)):
        if instruments(one) == {"resolution 1540"}:
            weapons = set().union(*(_INSTRUMENT_DOMAINS.get(i, set()) for i in instruments(other)))
            if weapons and weapons <= title_domains(one):
                return True
    return False


def _disjoint(a: frozenset[Any], b: frozenset[Any]) -> bool:
    return bool(a) and bool(b) and not (a & b)


def _names(values: Iterable[Any]) -> str:
    return " and ".join(str(v).replace("_", " ") for v in sorted(values))


def decisive(a: Record, b: Record) -> Difference | None:
    """The first contradiction between the two records that makes them two activities."""
    found_a, found_b = instruments(a.title), instruments(b.title)
    if _disjoint(found_a, found_b) and not _resolution_covers(a.title, b.title):
        return Difference(
            "other_instrument",
            f"different instruments: {_names(found_a)} / {_names(found_b)}",
            {"first": sorted(found_a), "second": sorted(found_b)},
        )
    domains_a = a.domains | title_domains(a.title)
    domains_b = b.domains | title_domains(b.title)
    if _disjoint(domains_a, domains_b):
        return Difference(
            "other_domain",
            f"different weapons: {_names(domains_a)} / {_names(domains_b)}",
            {"first": sorted(domains_a), "second": sorted(domains_b)},
        )
    for audience_a, audience_b in (
        (a.audiences, b.audiences),
        (title_audiences(a.title), title_audiences(b.title)),
    ):
        if _disjoint(audience_a, audience_b):
            return Difference(
                "other_audience",
                f"different audiences: {_names(audience_a)} / {_names(audience_b)}",
                {"first": sorted(audience_a), "second": sorted(audience_b)},
            )
    years_a, numbers_a = editions(a.title)
    years_b, numbers_b = editions(b.title)
    # a year far from the activity's own is not its edition ("Agenda 2030")
    years_a = frozenset(y for y in years_a if abs(int(y) - a.start.year) <= 1)
    years_b = frozenset(y for y in years_b if abs(int(y) - b.start.year) <= 1)
    if _disjoint(years_a, years_b) or _disjoint(numbers_a, numbers_b):
        first = sorted(str(v) for v in years_a | numbers_a)
        second = sorted(str(v) for v in years_b | numbers_b)
        return Difference(
            "other_edition",
            f"different editions: {_names(first)} / {_names(second)}",
            {"first": first, "second": second},
        )
    city = other_city(a, b)
    if city is not None:
        return city
    name = other_name(a, b)
    if name is not None:
        return name
    return other_part(a, b)


def other_part(a: Record, b: Record) -> Difference | None:
    """One event's name and two different parts of it ("Tech Festival | AI Day", "Tech
    Festival | Leadership Day"); a part that only places the event ("- Kenya", "- Nairobi")
    or names nothing is not a part."""
    parts_a, parts_b = parts(a.title), parts(b.title)
    if parts_a is None or parts_b is None or fuzz.ratio(parts_a[0], parts_b[0]) < 90:
        return None
    places = _places(a, b)
    named_a, named_b = _named(parts_a[1], places), _named(parts_b[1], places)
    if not named_a or not named_b or fuzz.token_set_ratio(named_a, named_b) >= 60:
        return None
    return Difference(
        "other_part",
        "different parts of one event",
        {"first": parts_a[1], "second": parts_b[1]},
    )


def _places(a: Record, b: Record) -> frozenset[str]:
    """Words that place an event rather than name it: regions, the countries both serve (by
    name or code) and the venues' cities."""
    city_a, city_b = titles.city(a.city), titles.city(b.city)
    places = set(_REGIONS) | set(city_a.split()) | set(city_b.split())
    for code in a.states | b.states:
        places |= titles.country_words(code) | {code.lower()}
    return frozenset(places)


def _script(text: str) -> str:
    """The script of a name's first letter, roughly: Latin, Cyrillic, Arabic, Chinese..."""
    letter = next((c for c in text if c.isalpha()), "")
    return unicodedata.name(letter, "").split(" ")[0] if letter else ""


def other_city(a: Record, b: Record) -> Difference | None:
    """Venues in two cities of a State both serve: two stops of a series, not one event.
    Names are compared transliterated (app.core.differences uses anyascii).  Records in one
    language and script differ in spelling only ("Kiev", "Kyiv"); records in different
    languages may use another name for one city ("Geneva", "Ginebra"), so there only names far
    apart are two cities, and Arabic names, which transliterate without their vowels, are not
    compared with names in other scripts."""
    city_a, city_b = titles.city(a.city), titles.city(b.city)
    if not city_a or not city_b or titles.same_city(city_a, city_b):
        return None
    plain_a, plain_b = anyascii(city_a).lower(), anyascii(city_b).lower()
    if a.language == b.language and _script(city_a) == _script(city_b):
        # "Kiev" / "Kyiv", "Ашхабад" / "Ашгабат", "Tananarive" / "Antananarivo" are one city
        if fuzz.ratio(plain_a, plain_b) >= 60 or fuzz.token_set_ratio(plain_a, plain_b) >= 90:
            return None  # and "Cluj" / "Cluj-Napoca"
    elif "ARABIC" in (_script(city_a), _script(city_b)):
        return None  # Arabic transliterates without its vowels: القاهرة is "lqhrh"
    elif max(fuzz.ratio(plain_a, plain_b), fuzz.token_set_ratio(plain_a, plain_b)) >= 45:
        # "Panama City" / "Ciudad de Panamá", "Geneva" / "Ginebra", "Chisinau" / "Кишинёв"
        return None
    return Difference(
        "other_city",
        f"different cities: {a.city} / {b.city}",
        {"first": a.city, "second": b.city},
    )


def describes_work(title: str) -> bool:
    """A title that names a 1540 subject, weapon or instrument, in any of the languages: a
    description of work ("National workshop on export controls"), not a brand name ("FOSS
    Backstage")."""
    return bool(titles.about(title) or title_domains(title) or instruments(title))


def _is_name(title: str) -> bool:
    """A brand name rather than a description: short, in Latin letters, naming no 1540
    subject ("FOSS Backstage", "InfoQ Dev Summit Boston")."""
    return (
        len(titles.normalise(title).split()) <= 6
        and _script(title) == "LATIN"
        and not describes_work(title)
    )


# Words that place a name rather than tell it apart ("TestCon Europe", "KubeCon EU").
_REGIONS = frozenset(
    {"eu", "europe", "emea", "americas", "america", "asia", "apac", "africa", "latam", "global"}
)


def _name_words(title: str, places: frozenset[str]) -> list[str]:
    """The words of a name that tell it from another, in order: not the kind of event, not
    where it is held, not a co-name after "+" ("KubeCon + CloudNativeCon"); before a
    separator only ("Clarity - design systems conf")."""
    name = _PART_SEPARATOR.split(title, maxsplit=1)[0].split("+")[0]
    return [
        word
        for word in titles.concepts(name).split()
        if word not in glossary.EVENT_WORDS and word not in places and not word.isdigit()
    ]


def other_name(a: Record, b: Record) -> Difference | None:
    """Two names (short, neither describing 1540 work) where one has a word the other lacks, typos
    aside: another event of a series or a festival ("FOSS Backstage Design" beside "FOSS
    Backstage", "InfoQ Dev Summit Boston" beside "InfoQ Dev Summit"), or another event
    ("Serverless Architecture Conference" beside "Software Architecture Summit")."""
    if not (_is_name(a.title) and _is_name(b.title)):
        return None
    # the places both are held in, by name or code: countries, regions, the venue's city
    city_a, city_b = titles.city(a.city), titles.city(b.city)
    places = set(_REGIONS) | set(titles.shared_places(a.states, b.states, city_a, city_b))
    for code in a.states & b.states:
        places |= titles.country_words(code) | {code.lower()}
    text_a = " ".join(_name_words(a.title, frozenset(places)))
    text_b = " ".join(_name_words(b.title, frozenset(places)))
    words_a = set(titles.with_initials(text_a, text_b).split())
    words_b = set(titles.with_initials(text_b, text_a).split())

    def unmatched(mine: set[str], theirs: set[str]) -> list[str]:
        return sorted(w for w in mine if not any(fuzz.ratio(w, t) >= 80 for t in theirs))

    extra_a, extra_b = unmatched(words_a, words_b), unmatched(words_b, words_a)
    if not extra_a and not extra_b:
        return None
    return Difference(
        "other_name",
        f"different names: {', '.join(extra_a + extra_b)}",
        {"first": extra_a, "second": extra_b},
    )
