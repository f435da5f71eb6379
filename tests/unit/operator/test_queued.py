"""Queued Executions without a daemon: who owns an Execution when, and what one pass of a
queued one writes (against an in-memory Kubernetes that records what it is asked)."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from typing import Any, cast

import pytest

from kuberun.contract.phases import Phase, Reason
from kuberun_operator import queued
from kuberun_operator.backlog import Step
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.context import OperatorContext
from kuberun_operator.metrics import Metrics
from kuberun_operator.protocols import KubeAPI
from kuberun_operator.settings import Settings
from tests.unit.operator import factories as f


class RecordingKube:
    """Every create and status patch, in order; creates always succeed."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.fail_patches = 0  # this many status patches raise first

    async def create(self, body: dict[str, Any]) -> bool:
        self.created.append(body["kind"])
        return True

    async def missing(self, kind: str, namespace: str, name: str) -> str | None:
        return None

    async def patch_status(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        if self.fail_patches:
            self.fail_patches -= 1
            raise RuntimeError("API server unavailable")
        self.patches.append((name, body))

    async def read_namespace(self, name: str) -> dict[str, Any] | None:
        return {"metadata": {"name": name}}


def execution(name: str, status: Mapping[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "team",
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": f.stamp(f.T0),
            "managedFields": [{"manager": "kubectl", "fieldsV1": {}}],
        },
        "spec": {"source": {"inline": "print(1)"}, **spec},
        "status": dict(status) if status is not None else None,
    }


class Harness:
    def __init__(self) -> None:
        self.kube = RecordingKube()
        self.state = ClusterState()
        self.rt = OperatorContext(
            settings=Settings(create_runner_service_account=False),
            kube=cast(KubeAPI, self.kube),
            redis=None,
            metrics=Metrics(),
            state=self.state,
        )
        self.ended: list[tuple[Mapping[str, Any], list[Step]]] = []
        self.passes = queued.QueuedPasses(self.rt, self._ended, logging.getLogger("test"))
        self.state.on_wake = self.passes.due

    async def _ended(self, body: Mapping[str, Any], steps: list[Step]) -> None:
        self.ended.append((body, steps))

    def event(self, body: Mapping[str, Any], deleted: bool = False) -> str:
        """What `handlers.execution_event` does with a watch event."""
        uid = self.state.observe_execution(body, deleted=deleted)
        self.passes.observe(body, deleted=deleted)
        self.state.wake(uid)
        return uid

    async def drain(self) -> None:
        """Run every due pass, as a worker would (but one at a time)."""
        passes = self.passes
        while passes._due or passes._later:
            uid, _ = (passes._due or passes._later).popitem(last=False)
            await passes.run_pass(uid)

    def status_of(self, name: str) -> dict[str, Any]:
        return [body for patched, body in self.kube.patches if patched == name][-1]


@pytest.mark.parametrize(
    ("status", "is_queued", "is_followed"),
    [
        (None, True, False),
        ({"phase": "PENDING", "reason": "Queued", "attempt": 0}, True, False),
        ({"phase": "PENDING", "reason": "WaitingForCache", "attempt": 0}, True, False),
        ({"phase": "PENDING", "reason": "Starting", "attempt": 1}, False, True),
        ({"phase": "PENDING", "reason": "Retrying", "attempt": 1}, False, True),
        ({"phase": "RUNNING", "attempt": 2}, False, True),
        ({"phase": "CANCELLED", "attempt": 0}, False, False),
        ({"phase": "SUCCESS", "attempt": 1}, False, False),
    ],
)
def test_a_live_execution_is_either_queued_or_followed(
    status: dict[str, Any] | None, is_queued: bool, is_followed: bool
) -> None:
    assert (queued.queued(status), queued.followed(status)) == (is_queued, is_followed)


def test_the_kept_body_leaves_out_managed_fields() -> None:
    kept = queued.kept_body(execution("a"))
    assert "managedFields" not in kept["metadata"] and kept["metadata"]["uid"] == "uid-a"


async def test_a_new_execution_gets_queued_with_its_position_in_one_pass() -> None:
    h = Harness()
    h.event(execution("a"))
    h.event(execution("b"))
    assert h.passes.pending == 2
    await h.passes.run_pass("uid-a")
    await h.passes.run_pass("uid-b")
    assert h.status_of("a")["phase"] == "PENDING" and h.status_of("a")["reason"] == "Queued"
    assert (h.status_of("a")["queuePosition"], h.status_of("b")["queuePosition"]) == (1, 2)
    assert h.kube.created.count("Event") == 2  # its `Queued` Event, no Job, no Secret
    assert h.kube.created == ["Event", "Event"]


async def test_the_written_status_survives_an_older_event_and_nothing_is_written_twice() -> None:
    h = Harness()
    h.event(execution("a"))
    await h.passes.run_pass("uid-a")
    h.event(execution("a"))  # an event from before the write (no status yet)
    await h.passes.run_pass("uid-a")
    assert len(h.kube.patches) == 1
    assert h.passes.bodies["uid-a"]["status"]["reason"] == "Queued"


async def test_cancelling_a_queued_one_ends_it_cancelled_without_a_pod_or_a_loop() -> None:
    h = Harness()
    h.event(execution("a"))
    await h.passes.run_pass("uid-a")
    queued_status = copy.deepcopy(h.status_of("a"))
    h.event(execution("a", queued_status, cancel=True))
    await h.passes.run_pass("uid-a")
    final = h.status_of("a")
    assert (final["phase"], final["reason"]) == ("CANCELLED", "Cancelled")
    assert "Job" not in h.kube.created and "Secret" not in h.kube.created
    assert [body["status"]["phase"] for body, _ in h.ended] == ["CANCELLED"]
    assert "uid-a" not in h.passes.bodies and "uid-a" not in h.state.executions
    assert h.state.queue.waiting == 0
    # The watch's echo of the older Queued status does not bring it back.
    assert not h.passes.observe(execution("a", queued_status, cancel=True))
    assert "uid-a" not in h.passes.bodies


async def test_an_admitted_one_is_started_by_its_pass_and_handed_to_its_daemon() -> None:
    h = Harness()
    h.event(execution("a"))
    await h.passes.run_pass("uid-a")
    for uid in h.state.queue.admit(1, 1):  # what `handlers._admit` does with a slot
        h.state.granted.add(uid)
        h.state.wake(uid)
    await h.passes.run_pass("uid-a")
    started = h.status_of("a")
    assert (started["phase"], started["reason"], started["attempt"]) == ("PENDING", "Starting", 1)
    assert h.kube.created[-2:] == ["Secret", "Job"]
    assert "uid-a" not in h.passes.bodies
    assert queued.followed(started)  # from this status on the daemon's filter matches
    assert not h.passes.observe(execution("a", {"phase": "PENDING", "attempt": 0}))


async def test_a_freed_slots_pass_goes_before_every_position_update() -> None:
    h = Harness()
    for name in ("a", "b", "c"):
        h.event(execution(name))
    h.state.granted.add("uid-c")
    h.passes.due("uid-c")
    assert next(iter(h.passes._due)) == "uid-c"


async def test_a_deleted_queued_execution_is_forgotten() -> None:
    h = Harness()
    h.event(execution("a"))
    h.event(execution("a"), deleted=True)
    assert h.passes.bodies == {} and h.passes.pending == 0
    await h.passes.run_pass("uid-a")  # a pass already due finds nothing
    assert h.kube.patches == []


async def test_an_execution_first_seen_admitted_is_not_the_queues() -> None:
    h = Harness()
    h.event(execution("a", {"phase": "RUNNING", "attempt": 1}))
    assert h.passes.bodies == {} and h.passes.pending == 0


async def test_the_workers_run_due_passes_and_retry_a_failed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queued, "RETRY_SECONDS", 0.01)
    h = Harness()
    h.kube.fail_patches = 1
    h.event(execution("a"))
    h.event(execution("b"))
    workers = asyncio.create_task(h.passes.run())
    try:
        for _ in range(200):
            if {name for name, _ in h.kube.patches} == {"a", "b"} and not h.passes.pending:
                break
            await asyncio.sleep(0.01)
    finally:
        workers.cancel()
    assert sorted(name for name, _ in h.kube.patches) == ["a", "b"]
    assert h.rt.metrics.reconcile_errors._value.get() == 1


async def test_a_pass_that_ended_it_queues_its_unwritten_records() -> None:
    h = Harness()
    h.event(execution("a", cancel=True))
    await h.passes.run_pass("uid-a")
    body, steps = h.ended[0]
    assert body["status"]["phase"] == Phase.CANCELLED.value
    assert body["status"]["reason"] == Reason.CANCELLED.value
    assert steps == []  # no Redis configured: nothing owed


async def test_new_and_cancelled_ones_go_before_position_updates() -> None:
    h = Harness()
    h.event(execution("a"))
    h.event(execution("b"))
    await h.drain()
    queued_status = h.status_of("a")
    h.passes.due("uid-a")  # e.g. a position published: deferred
    h.event(execution("b", h.status_of("b"), cancel=True))
    h.event(execution("c"))
    assert list(h.passes._due) == ["uid-b", "uid-c"] and list(h.passes._later) == ["uid-a"]
    assert queued.urgent(execution("c")) and not queued.urgent(execution("a", queued_status))
    h.event(execution("a", queued_status, cancel=True))  # now it is cancelled: urgent
    assert list(h.passes._due) == ["uid-b", "uid-c", "uid-a"] and not h.passes._later
