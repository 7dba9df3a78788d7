"""Start-up warm-up: caches filled and the long-lived heap out of the collector's way."""

import gc

import pytest

from app import warmup
from app.core import titles


def test_settle_freezes_the_heap_once(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen: list[int] = []
    monkeypatch.setattr(warmup, "_settled", False)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    titles._phrase_pattern.cache_clear()
    warmup.settle()
    assert frozen == [1]
    assert titles._phrase_pattern.cache_info().currsize == 1
    warmup.settle()  # a second application in the same process: nothing more is frozen
    assert frozen == [1]
