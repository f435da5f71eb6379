"""Argo CD's verdict on a ScheduledExecution, from status fixtures, by the real lua5.4.

The fixtures' statuses are ones the operator writes (validated by the contract
models, the invalid one with the cron parser's own message).
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from kuberun.contract import schedule
from kuberun_operator import cronschedule
from tests.support import gitops

DIRECTORY = gitops.ARGOCD_DIR.parent / "ScheduledExecution"
TESTS = yaml.safe_load((DIRECTORY / "health_test.yaml").read_text())["tests"]


def fixture(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DIRECTORY / path).read_text())
    return loaded


def test_every_fixture_is_listed() -> None:
    listed = {pathlib.Path(t["inputPath"]).name for t in TESTS}
    assert listed == {p.name for p in (DIRECTORY / "testdata").glob("*.yaml")}


@pytest.mark.parametrize("case", TESTS, ids=[pathlib.Path(t["inputPath"]).stem for t in TESTS])
def test_argocd_health_check(case: dict[str, Any]) -> None:
    obj = fixture(case["inputPath"])
    schedule.ScheduledExecutionSpec.model_validate(obj["spec"])
    if "status" in obj:
        schedule.ScheduledExecutionStatus.model_validate(obj["status"])
    assert gitops.argocd_health(obj, DIRECTORY / "health.lua") == case["healthStatus"]


def test_the_invalid_fixture_says_what_the_operator_says() -> None:
    obj = fixture("testdata/invalid.yaml")
    with pytest.raises(cronschedule.InvalidSchedule) as refused:
        cronschedule.parse(obj["spec"]["schedule"], None)
    stalled = next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["message"] == str(refused.value)
