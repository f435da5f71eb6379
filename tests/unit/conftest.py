"""Unit tier: pure functions only, each test well under a second (2 s hard limit)."""

from __future__ import annotations

import pytest

UNIT_TIMEOUT_SECONDS = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/unit/" in str(item.fspath) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT_SECONDS))
