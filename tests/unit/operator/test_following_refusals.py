"""The per-Execution loop against an in-memory Kubernetes that refuses: permanent errors
end the Execution at once, temporary ones propagate to the loop's backoff."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from kuberun.contract import status
from kuberun.contract.statuses import Phase, Reason
from kuberun_operator import apierrors
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.following import Follower, Runtime
from kuberun_operator.kubeio import Kube
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings
from tests.unit.operator import factories as f

JOB_422 = 'Job.batch "run-1" is invalid: spec.template.spec.containers[0].env[0].name: Invalid'


class RefusingKube:
    """Creates succeed except for the kinds in `refuse`; `absent` names are missing."""

    def __init__(
        self,
        refuse: dict[str, apierrors.KubeError] | None = None,
        absent: frozenset[str] = frozenset(),
    ) -> None:
        self.refuse = refuse or {}
        self.absent = absent
        self.created: list[str] = []
        self.patches: list[dict[str, Any]] = []

    async def create(self, body: dict[str, Any]) -> bool:
        error = self.refuse.get(body["kind"])
        if error is not None:
            raise error
        if body["kind"] != "Event":  # lifecycle Events are not the attempt's objects
            self.created.append(body["kind"])
        return True

    async def missing(self, kind: str, namespace: str, name: str) -> str | None:
        return f'{kind.lower()}s "{name}" not found' if name in self.absent else None

    async def patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.patches.append(body)

    async def read_namespace(self, name: str) -> dict[str, Any] | None:
        return {"metadata": {"name": name}}  # no organization bound


def follower(kube: RefusingKube, **spec: Any) -> Follower:
    rt = Runtime(
        settings=Settings(create_runner_service_account=False),
        kube=cast(Kube, kube),
        redis=None,
        metrics=Metrics(),
        state=ClusterState(),
    )
    starting = status.ExecutionStatus(
        phase=Phase.PENDING,
        reason=Reason.STARTING,
        attempt=1,
        attempts=[status.AttemptStatus(attempt=1, job_name="run-1", created_at=f.stamp(f.T0))],
    )
    body = {
        "metadata": {"name": "run", "namespace": "team", "uid": "u1", "generation": 1},
        "spec": {"source": {"inline": "print(1)"}, **spec},
        "status": starting.model_dump(by_alias=True, mode="json"),
    }
    return Follower(rt, body, logging.getLogger("test"))


async def test_a_job_the_api_server_refuses_ends_invalid_request_on_the_next_pass() -> None:
    kube = RefusingKube({"Job": apierrors.from_status(422, JOB_422)})
    loop = follower(kube)
    await loop.step()  # creates: the Secret goes through, the Job is refused
    assert kube.created == ["Secret"]
    assert loop.rt.state.waker("u1").is_set()  # the loop decides again at once
    decision = await loop.step()
    assert (decision.status.phase, decision.status.reason) == (Phase.FAILED, Reason.INVALID_REQUEST)
    assert JOB_422 in (decision.status.message or "")
    assert kube.patches[-1]["phase"] == "FAILED"
    assert kube.created == ["Secret"]  # never tried again


async def test_a_missing_service_account_is_refused_before_anything_is_created() -> None:
    kube = RefusingKube(absent=frozenset({"nobody"}))
    loop = follower(kube, serviceAccountName="nobody")
    await loop.step()
    decision = await loop.step()
    assert decision.status.reason == Reason.INVALID_REQUEST
    assert 'spec.serviceAccountName: serviceaccounts "nobody" not found' in (
        decision.status.message or ""
    )
    assert kube.created == []


@pytest.mark.parametrize("code", [429, 500, 503, 0])  # 409 on create is "already there"
async def test_a_temporary_error_goes_to_the_loops_backoff(code: int) -> None:
    kube = RefusingKube({"Secret": apierrors.from_status(code, "try later")})
    loop = follower(kube)
    with pytest.raises(apierrors.TemporaryError):
        await loop.step()
    assert loop.rejected == {}
