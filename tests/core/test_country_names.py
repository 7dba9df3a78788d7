"""Country names: the UN's own, in its six languages, from hdx-python-country's table, read
once and only when first asked; and the names an imported file may use."""

import subprocess
import sys
import threading
import time

import pytest

from app.core import tabular, vocab


def test_spanish_names_are_the_uns() -> None:
    spanish = {
        "DZ": "Argelia",  # pycountry's Spanish left Algeria and Niger in English
        "NE": "Níger",
        "BO": "Bolivia (Estado Plurinacional de)",
        "VE": "Venezuela (República Bolivariana de)",
        "TR": "Türkiye",
        "TT": "Trinidad y Tabago",
        "CI": "C\u00f4te d\u2019Ivoire",  # the UN writes a typographic apostrophe
        "KR": "República de Corea",
        "US": "Estados Unidos de América",
        "NR": "Nauru",
    }
    assert {code: vocab.country_name(code, "es") for code in spanish} == spanish


def test_the_other_un_languages_and_the_fallbacks() -> None:
    assert vocab.country_name("DZ") == "Algeria"
    assert vocab.country_name("DZ", "en") == "Algeria"
    assert vocab.country_name("DZ", "fr") == "Algérie"
    assert vocab.country_name("DZ", "ru") == "Алжир"
    assert vocab.country_name("DZ", "ar") == "الجزائر"
    assert vocab.country_name("DZ", "zh") == "阿尔及利亚"
    assert vocab.country_name("DZ", "pt") == "Argélia"  # not a UN language: CLDR's name
    taiwan = vocab.geography().countries["TW"].name
    assert vocab.country_name("TW", "es") == taiwan  # the UN names it in no language
    assert vocab.country_name("XX", "es") == "XX"


def test_every_state_has_its_name_in_the_six_languages() -> None:
    for country in vocab.geography().countries.values():
        if country.independent:
            assert set(country.names) == set(vocab.UN_LANGUAGES), country.code


def test_importing_the_vocabularies_reads_no_table() -> None:
    probe = (
        "import sys\n"
        "from app.core import vocab\n"
        "print(vocab._geography is None, 'hdx.location.country' in sys.modules)\n"
        "vocab.country_name('NE', 'es')\n"
        "print(vocab._geography is None, 'hdx.location.country' in sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert shown[:2] == ["True False", "False True"]


def test_first_questions_at_once_read_the_table_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = vocab.geography()
    reads: list[int] = []

    def slow_read() -> vocab.Geography:
        reads.append(1)
        time.sleep(0.05)
        return real

    monkeypatch.setattr(vocab, "_geography", None)
    monkeypatch.setattr(vocab, "_read_geography", slow_read)
    start = threading.Barrier(8)
    answers: list[vocab.Geography] = []

    def ask() -> None:
        start.wait()
        answers.append(vocab.geography())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads == [1]
    assert len(answers) == 8
    assert all(answer is real for answer in answers)


@pytest.mark.parametrize(
    ("written", "code"),
    [
        # the UN's Spanish names
        ("Argelia", "DZ"),
        ("Níger", "NE"),
        ("Trinidad y Tabago", "TT"),
        ("Federación de Rusia", "RU"),
        ("República de Corea", "KR"),
        ("Santa Sede", "VA"),
        ("Bolivia (Estado Plurinacional de)", "BO"),
        ("Türkiye", "TR"),
        # what a file could already say: English, ISO's Spanish, codes, short forms
        ("Algeria", "DZ"),
        ("Niger", "NE"),
        ("Trinidad y Tobago", "TT"),
        ("Federación Rusa", "RU"),
        ("Corea del Sur", "KR"),
        ("Turquía", "TR"),
        ("Bolivia", "BO"),
        ("Venezuela", "VE"),
        ("Costa de Marfil", "CI"),
        ("Côte d'Ivoire", "CI"),
        ("méxico", "MX"),
        ("TTO", "TT"),
        ("tt", "TT"),
    ],
)
def test_a_file_may_name_a_country_in_english_or_spanish(written: str, code: str) -> None:
    assert tabular.country_code(written) == code


def test_every_un_name_in_english_and_spanish_is_read_back() -> None:
    for code, country in vocab.geography().countries.items():
        assert tabular.country_code(country.name) == code
        if "es" in country.names:
            assert tabular.country_code(country.names["es"]) == code


def test_a_un_name_with_a_comma_stays_whole() -> None:
    hong_kong = "China, región administrativa especial de Hong Kong"
    assert tabular.split_countries(hong_kong) == [hong_kong]
    assert tabular.split_countries(f"{hong_kong}; Argelia") == [hong_kong, "Argelia"]
