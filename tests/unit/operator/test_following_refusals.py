"""One pass of the per-Execution loop against the in-memory Kubernetes (`fakes`), refusing:
permanent errors end the Execution at once, temporary ones propagate to the loop's backoff."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kuberun.contract import status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import apierrors
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.context import OperatorContext
from kuberun_operator.following import Follower
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings
from tests.unit.operator import factories as f
from tests.unit.operator.fakes import FakeKube

JOB_422 = 'Job.batch "run-1" is invalid: spec.template.spec.containers[0].env[0].name: Invalid'


def follower(kube: FakeKube, **spec: Any) -> Follower:
    rt = OperatorContext(
        settings=Settings(create_runner_service_account=False),
        kube=kube,
        redis=None,
        metrics=Metrics(),
        state=kube.state or ClusterState(),
    )
    starting = status.ExecutionStatus(
        phase=Phase.PENDING,
        reason=Reason.STARTING,
        attempt=1,
        attempts=[status.AttemptStatus(attempt=1, job_name="run-1", created_at=f.stamp(f.T0))],
    )
    body = kube.put(
        {
            "kind": "Execution",
            "metadata": {"name": "run", "namespace": "team", "uid": "u1", "generation": 1},
            "spec": {"source": {"inline": "print(1)"}, **spec},
            "status": starting.model_dump(by_alias=True, mode="json"),
        }
    )
    return Follower(rt, body, logging.getLogger("test"))


def created(kube: FakeKube) -> list[str]:
    """The attempt's objects created, by kind (lifecycle Events are not among them)."""
    return [kind for verb, kind, _ in kube.calls if verb == "create" and kind != "Event"]


def stored(kube: FakeKube) -> list[str]:
    return sorted(kind for kind, _, _ in kube.objects if kind != "Execution")


async def test_a_job_the_api_server_refuses_ends_invalid_request_on_the_next_pass() -> None:
    kube = FakeKube(ClusterState())
    kube.fail_next("create", "Job", apierrors.from_status(422, JOB_422))
    loop = follower(kube)
    await loop.step()  # creates: the Secret goes through, the Job is refused
    assert stored(kube) == ["Secret"]
    assert loop.rt.state.waker("u1").is_set()  # the loop decides again at once
    decision = await loop.step()
    assert (decision.status.phase, decision.status.reason) == (Phase.FAILED, Reason.INVALID_REQUEST)
    assert JOB_422 in (decision.status.message or "")
    assert (loop.body["status"]["phase"], loop.body["status"]["reason"]) == (
        "FAILED",
        "InvalidRequest",
    )
    assert created(kube) == ["Secret", "Job"]  # never tried again


async def test_a_missing_service_account_is_refused_before_anything_is_created() -> None:
    kube = FakeKube(ClusterState())
    loop = follower(kube, serviceAccountName="nobody")
    await loop.step()
    decision = await loop.step()
    assert decision.status.reason == Reason.INVALID_REQUEST
    assert 'spec.serviceAccountName: serviceaccounts "nobody" not found' in (
        decision.status.message or ""
    )
    assert created(kube) == []


@pytest.mark.parametrize("code", [429, 500, 503, 0])  # 409 on create is "already there"
async def test_a_temporary_error_goes_to_the_loops_backoff(code: int) -> None:
    kube = FakeKube(ClusterState())
    kube.fail_next("create", "Secret", apierrors.from_status(code, "try later"))
    loop = follower(kube)
    with pytest.raises(apierrors.TemporaryError):
        await loop.step()
    assert loop.rejected == {}
    await loop.step()  # the next pass of the loop creates both
    assert stored(kube) == ["Job", "Secret"]
