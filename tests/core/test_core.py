"""The pure core: vocabularies, rules, cursors and key material, without a database."""

import ast
import hmac
from datetime import date
from pathlib import Path

import pytest

from app.core import activity_rules, cursor, keys, vocab

CORE = Path(__file__).resolve().parents[2] / "app" / "core"


def test_core_imports_no_database_web_or_network_module() -> None:
    banned = {
        "sqlmodel",
        "sqlalchemy",
        "fastapi",
        "starlette",
        "httpx",
        "requests",
        "socket",
        "app.db",
    }
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned, (path.name, name)
                assert name not in banned, (path.name, name)


def test_m49_regions_stand_for_their_states() -> None:
    caribbean = vocab.region_states("029")
    assert {"TT", "JM", "CU", "HT", "BB"} <= caribbean
    assert "PR" not in caribbean  # a territory, not a State
    assert vocab.region_states("005") >= {"BR", "PE", "AR"}
    assert vocab.region_states("013") >= {"MX", "PA", "GT"}
    lac = vocab.region_states("419")
    assert len(lac) == 33  # the 33 States of Latin America and the Caribbean
    assert caribbean | vocab.region_states("005") | vocab.region_states("013") == lac
    assert vocab.region_states("999") == frozenset()


def test_vocabularies_know_real_codes_only() -> None:
    assert vocab.is_country("TT")
    assert not vocab.is_country("XX")
    assert vocab.is_region("419")
    assert not vocab.is_region("419a")
    assert {"en", "es", "fr", "pt", "nl"} <= vocab.language_codes()
    assert "America/Port_of_Spain" in vocab.time_zones()
    assert "export_control" in vocab.THEMES


def test_beneficiary_states_mark_named_and_implied_countries() -> None:
    states = vocab.beneficiary_states(["TT", "MX"], ["029"])
    assert states["TT"] is True
    assert states["MX"] is True
    assert states["JM"] is False
    assert "BR" not in states


def _record(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "start_date": date(2025, 3, 10),
        "end_date": date(2025, 3, 12),
        "start_time": None,
        "end_time": None,
        "timezone": None,
        "countries": ["TT"],
        "regions": [],
    }
    record.update(overrides)
    return record


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({}, []),
        ({"end_date": date(2025, 3, 9)}, ["end_date"]),
        ({"end_date": date(2025, 3, 10)}, []),
        ({"end_date": date(2026, 3, 12)}, ["end_date"]),
        (
            {"start_date": date(1850, 1, 1), "end_date": date(1850, 1, 1)},
            ["start_date", "end_date"],
        ),
        ({"start_time": "09:00"}, ["end_time", "timezone"]),
        ({"timezone": "America/Lima"}, ["start_time", "end_time"]),
        ({"start_time": "09:00", "end_time": "08:00", "timezone": "UTC"}, []),
        (
            {
                "end_date": date(2025, 3, 10),
                "start_time": "09:00",
                "end_time": "09:00",
                "timezone": "UTC",
            },
            ["end_time"],
        ),
        ({"countries": [], "regions": []}, ["countries"]),
        ({"countries": [], "regions": ["029"]}, []),
    ],
)
def test_activity_rules_name_the_field(overrides: dict[str, object], fields: list[str]) -> None:
    assert [field for field, _ in activity_rules.problems(_record(**overrides))] == fields


def test_cursor_round_trip_and_rejects_forgeries() -> None:
    token = cursor.encode("2025-03-10", "b1f0")
    assert cursor.decode(token, 2) == ["2025-03-10", "b1f0"]
    for bad in ("", "!!!", cursor.encode("only-one"), "eyJhIjoxfQ", cursor.encode(True, 1)):
        with pytest.raises(cursor.CursorError):
            cursor.decode(bad, 2)


def test_keys_are_random_hashed_and_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = keys.generate_key(), keys.generate_key()
    assert first != second
    assert len(first) >= keys.MIN_KEY_LENGTH
    stored = keys.hash_key(first)
    assert first not in stored
    assert keys.key_prefix(first) == first[: keys.KEY_PREFIX_LENGTH]
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert keys.key_matches(first, stored)
    assert not keys.key_matches(second, stored)
    assert len(calls) == 2
