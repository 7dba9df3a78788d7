from collections.abc import Iterator

import pytest

from tests.webhooks.test_webhooks import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP endpoint for deliveries, closed after the test."""
    receiver = Receiver()
    yield receiver
    receiver.close()
