"""The verdicts of GitOps tools on an Execution in each phase, from status fixtures.

Real tools, no cluster: the kstatus library (Flux's health checks, Helm's
--wait) built from e2e/go/kstatus, and the Argo CD Lua check run by lua5.4 on
the fixtures of its own health_test.yaml. e2e/operator/test_gitops.py asks the
same questions of Executions read from the API server.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from kuberun.contract import status
from kuberun.contract.phases import Phase
from kuberun_operator import conditions
from tests.support import gitops

pytestmark = pytest.mark.timeout(gitops.BUILD_TIMEOUT)

TESTS = yaml.safe_load((gitops.ARGOCD_DIR / "health_test.yaml").read_text())["tests"]
# What kstatus must say of each fixture (the table in kuberun_operator.conditions).
KSTATUS = {
    "new": "InProgress",
    "pending": "InProgress",
    "running": "InProgress",
    "cancelling": "InProgress",
    "success": "Current",
    "completed-with-errors": "Failed",
    "failed": "Failed",
    "timed-out": "Failed",
    "cancelled": "Failed",
    "success-edited": "InProgress",
}
ARGO_FOR = {"InProgress": "Progressing", "Current": "Healthy", "Failed": "Degraded"}


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (gitops.ARGOCD_DIR / "testdata" / f"{name}.yaml").read_text()
    )
    return loaded


@pytest.fixture(scope="module")
def kstatus_bin(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return gitops.kstatus_binary(tmp_path_factory.mktemp("kstatus"))


def test_every_fixture_is_listed_and_every_phase_has_one() -> None:
    names = {pathlib.Path(t["inputPath"]).stem for t in TESTS}
    assert names == {p.stem for p in (gitops.ARGOCD_DIR / "testdata").glob("*.yaml")}
    assert names == set(KSTATUS)
    phases = {(fixture(n).get("status") or {}).get("phase") for n in names}
    assert {p.value for p in Phase} <= phases


@pytest.mark.parametrize("name", sorted(KSTATUS))
def test_fixture_status_is_one_the_operator_writes(name: str) -> None:
    """Fixtures are valid statuses whose kstatus conditions are the operator's own."""
    raw = fixture(name)["status"]
    parsed = status.ExecutionStatus.model_validate(raw)
    if parsed.phase is None:
        return
    by_type = {c.type: c.status == "True" for c in parsed.conditions}
    wanted = conditions.health_conditions(parsed.phase, raw.get("reason"))
    assert {k: by_type[k] for k in wanted} == {k: v for k, (v, _) in wanted.items()}


@pytest.mark.parametrize("case", TESTS, ids=[pathlib.Path(t["inputPath"]).stem for t in TESTS])
def test_argocd_health_check(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((gitops.ARGOCD_DIR / case["inputPath"]).read_text())
    assert gitops.argocd_health(obj) == case["healthStatus"]


def test_argocd_unknown_phase_is_unknown() -> None:
    obj = fixture("running")
    obj["status"]["phase"] = "EXPLODED"
    assert gitops.argocd_health(obj)["status"] == "Unknown"


@pytest.mark.parametrize("name", sorted(KSTATUS))
def test_kstatus_of_each_phase(kstatus_bin: pathlib.Path, name: str) -> None:
    verdict = gitops.kstatus(kstatus_bin, fixture(name))
    assert verdict["status"] == KSTATUS[name], verdict
    # Argo CD and kstatus agree on every fixture
    case = next(t for t in TESTS if pathlib.Path(t["inputPath"]).stem == name)
    assert ARGO_FOR[verdict["status"]] == case["healthStatus"]["status"]


def test_kstatus_without_the_kstatus_conditions_is_wrong(kstatus_bin: pathlib.Path) -> None:
    """The bug this fixes: with only Finished/Succeeded, a FAILED run reads Current."""
    obj = fixture("failed")
    obj["status"]["conditions"] = [
        c for c in obj["status"]["conditions"] if c["type"] in ("Finished", "Succeeded")
    ]
    assert gitops.kstatus(kstatus_bin, obj)["status"] == "Current"


def test_kstatus_follows_the_operator_catching_up_after_an_edit(kstatus_bin: pathlib.Path) -> None:
    obj = fixture("success-edited")
    current = status.ExecutionStatus.model_validate(obj["status"])
    caught_up = conditions.at_generation(current, obj["metadata"]["generation"], 1_800_000_100.0)
    obj["status"] = caught_up.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert gitops.kstatus(kstatus_bin, obj)["status"] == "Current"
