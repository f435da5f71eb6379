"""The watch cache: what holds an admission slot, and which pod is an attempt's pod."""

from __future__ import annotations

from typing import Any

from kuberun_operator import clusterstate, naming
from tests.unit.operator import factories as f


def execution(
    uid: str, phase: str | None = None, attempt: int = 0, prio: Any = 0
) -> dict[str, Any]:
    status = {"phase": phase, "attempt": attempt} if phase else {}
    return {
        "metadata": {
            "uid": uid,
            "name": uid,
            "namespace": "ns",
            "creationTimestamp": f.stamp(f.T0),
        },
        "spec": {"priority": prio, "source": {"inline": "x"}},
        "status": status,
    }


def owned(body: dict[str, Any], uid: str, attempt: int) -> dict[str, Any]:
    body["metadata"]["labels"] = naming.labels(uid, uid, attempt)
    return body


def test_queued_does_not_hold_a_slot_started_does() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(execution("q", "PENDING", 0))
    state.observe_execution(execution("r", "RUNNING", 1))
    slots = {c.uid: c.holds_slot for c in state.candidates()}
    assert slots == {"q": False, "r": True}


def test_terminal_and_deleted_executions_leave_admission() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(execution("a", "RUNNING", 1))
    state.admission_changed.clear()
    state.observe_execution(execution("a", "SUCCESS", 1))
    assert state.candidates() == [] and state.admission_changed.is_set()


def test_a_grant_holds_a_slot_before_the_status_says_so() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(execution("q"))
    state.granted.add("q")
    assert state.candidates()[0].holds_slot


def test_bad_priority_does_not_break_the_cache() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(execution("x", prio="high"))
    assert state.candidates()[0].priority == 0


def test_jobs_and_pods_are_kept_by_attempt_and_deleted_pods_keep_their_verdict() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(execution("e", "RUNNING", 1))
    state.observe_job(owned(f.job(name="e-1"), "e", 1))
    pod = owned(f.pod(name="e-1-x", phase="Failed", state=f.terminated(13)), "e", 1)
    state.observe_pod(pod)
    state.observe_pod(pod, deleted=True)
    kept = state.pod("e", 1)
    assert kept is not None and kept["metadata"]["deletionTimestamp"]
    assert kept["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 13
    assert state.job("e", 1) is not None and state.job("e", 2) is None
    state.observe_job(owned(f.job(name="e-1"), "e", 1), deleted=True)
    assert state.job("e", 1) is None


def test_objects_of_unknown_executions_are_not_cached() -> None:
    state = clusterstate.ClusterState()
    state.observe_job(owned(f.job(name="old-1"), "old", 1))
    assert state.jobs == {}
