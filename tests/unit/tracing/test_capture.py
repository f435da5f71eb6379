"""Variable capture in this interpreter (3.11 in CI: the settrace path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kuberun.runtime import tracing
from tests.unit.tracing import scenarios


@pytest.mark.parametrize(
    "scenario", list(scenarios.SCENARIOS.values()), ids=list(scenarios.SCENARIOS)
)
def test_scenario(scenario: Callable[[Any], None]) -> None:
    scenario(tracing)
