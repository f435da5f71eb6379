"""The thin I/O around the pure GitOps decisions, with an in-memory Kubernetes.

`handlers.keep_generation` (a finished Execution observes its new generation)
and `acting.Actor.transitions` + `post_events` (one Event per transition).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from kuberun.contract import status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import conditions, handlers
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.context import OperatorContext
from kuberun_operator.following import Follower
from kuberun_operator.kubeio import Kube, KubeError
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings
from tests.unit.operator import factories as f


class FakeKube:
    """Records what would be sent; creates conflict on a name seen before (like the API)."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.created: list[dict[str, Any]] = []

    async def patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self.patches.append((namespace, name, body))

    async def create(self, body: dict[str, Any]) -> bool:
        names = {b["metadata"]["name"] for b in self.created}
        if body["metadata"]["name"] in names:
            return False
        self.created.append(body)
        return True


def context(kube: FakeKube) -> OperatorContext:
    return OperatorContext(
        settings=Settings(),
        kube=cast(Kube, kube),
        redis=None,
        metrics=Metrics(),
        state=ClusterState(),
    )


def finished_body(generation: int, observed: int) -> dict[str, Any]:
    conds = conditions.with_health([], Phase.SUCCESS, "Completed", None, f.T0, observed)
    st = status.ExecutionStatus.model_validate(
        {"phase": "SUCCESS", "reason": "Completed", "observed_generation": observed,
         "conditions": conds}
    )  # fmt: skip
    return {
        "metadata": {"name": "done", "namespace": "team", "uid": "u1", "generation": generation},
        "status": st.model_dump(by_alias=True, mode="json", exclude_none=True),
    }


async def test_an_edit_after_the_end_is_observed() -> None:
    kube = FakeKube()
    await handlers.keep_generation(context(kube), finished_body(generation=3, observed=2))
    ((namespace, name, patch),) = kube.patches
    assert (namespace, name, patch["observedGeneration"]) == ("team", "done", 3)
    assert {c["observedGeneration"] for c in patch["conditions"]} == {3}
    assert {c["type"] for c in patch["conditions"]} == {"Reconciling", "Stalled", "Ready"}
    assert all("lastTransitionTime" in c for c in patch["conditions"])  # camelCase on the wire


async def test_nothing_is_patched_when_already_observed_or_live() -> None:
    kube = FakeKube()
    rt = context(kube)
    await handlers.keep_generation(rt, finished_body(generation=2, observed=2))
    live = finished_body(generation=2, observed=1)
    live["status"]["phase"] = "RUNNING"  # the follower's job, not this handler's
    await handlers.keep_generation(rt, live)
    deleting = finished_body(generation=2, observed=1)
    deleting["metadata"]["deletionTimestamp"] = f.stamp(f.T0)
    await handlers.keep_generation(rt, deleting)
    assert kube.patches == []


async def test_each_transition_posts_its_event_once() -> None:
    kube = FakeKube()
    body = {"metadata": {"name": "run", "namespace": "team", "uid": "u2"}}
    follower = Follower(context(kube), body, logging.getLogger("test"))
    queued = status.ExecutionStatus(phase=Phase.PENDING, reason=Reason.QUEUED)
    failed = status.ExecutionStatus(phase=Phase.FAILED, reason=Reason.USER_ERROR, message="no")

    follower.actor.transitions(status.ExecutionStatus(), queued, f.T0)
    follower.actor.transitions(queued, failed, f.T0 + 1)
    await follower.actor.post_events()
    # A restarted operator deciding the same transition again posts nothing new.
    follower.actor.transitions(queued, failed, f.T0 + 2)
    await follower.actor.post_events()

    assert [(e["reason"], e["type"]) for e in kube.created] == [
        ("Queued", "Normal"),
        ("Failed", "Warning"),
    ]
    assert kube.created[1]["message"] == "FAILED (UserError): no"
    assert follower.actor.events == []


async def test_a_refused_event_is_logged_not_raised() -> None:
    class RefusingKube(FakeKube):
        async def create(self, body: dict[str, Any]) -> bool:
            raise KubeError(403, "events is forbidden")

    body = {"metadata": {"name": "r", "namespace": "t", "uid": "u"}}
    follower = Follower(context(RefusingKube()), body, logging.getLogger("t"))
    follower.actor.transitions(
        status.ExecutionStatus(), status.ExecutionStatus(phase=Phase.PENDING), f.T0
    )
    await follower.actor.post_events()
    assert follower.actor.events == []
