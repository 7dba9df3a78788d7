from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()
