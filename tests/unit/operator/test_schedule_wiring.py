"""The thin I/O around `scheduling.plan`: one pass of `schedulehandlers.reconcile`, and wake-ups.

An in-memory API (creates conflict on a name seen before, as the API server's do).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import kopf

from kuberun.contract import schedule, spec
from kuberun_operator import schedulehandlers, scheduling
from kuberun_operator.context import OperatorContext
from kuberun_operator.kubeio import KubeError

# kopf's decorators type the handlers as its callback protocols; tests call them plainly.
HANDLERS: Any = schedulehandlers


class FakeApi:
    def __init__(self, runs: list[dict[str, Any]] | None = None) -> None:
        self.runs = {r["metadata"]["name"]: r for r in runs or []}
        self.events: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.patches: list[dict[str, Any]] = []

    async def list_runs(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return list(self.runs.values())

    async def create_run(self, body: dict[str, Any]) -> bool:
        if body["metadata"]["name"] in self.runs:
            return False
        self.runs[body["metadata"]["name"]] = body
        return True

    async def delete_run(self, namespace: str, name: str) -> None:
        self.deleted.append(name)
        self.runs.pop(name, None)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append(status)

    async def create(self, body: dict[str, Any]) -> bool:  # Events, as Kube.create
        if any(e["metadata"]["name"] == body["metadata"]["name"] for e in self.events):
            return False
        self.events.append(body)
        return True


def body(**spec_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": "tick",
            "uid": "u-1",
            "generation": 2,
            "creationTimestamp": "2020-01-01T00:00:00Z",
        },
        "spec": {
            "schedule": "*/1 * * * *",
            "successfulExecutionsHistoryLimit": 1,
            "executionTemplate": {"spec": {"source": {"inline": "result = 1"}}},
            **spec_fields,
        },
        "status": {"lastScheduleTime": "2020-01-01T00:01:00Z"},
    }


def done(name: str, minute: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "annotations": {schedule.SCHEDULED_AT_ANNOTATION: f"2020-01-01T00:{minute}:00Z"},
        },
        "status": {"phase": "SUCCESS", "completionTime": f"2020-01-01T00:{minute}:05Z"},
    }


def run_pass(api: FakeApi, obj: dict[str, Any]) -> Any:
    rt = cast(OperatorContext, SimpleNamespace(kube=api))
    io = cast(schedulehandlers.ScheduleKube, api)
    return asyncio.run(schedulehandlers.reconcile(rt, io, obj))


def test_a_pass_creates_the_latest_run_prunes_and_reports() -> None:
    api = FakeApi([done("tick-old-1", "00"), done("tick-old-2", "01")])
    wake_at = run_pass(api, body())
    latest = (int(time.time()) // 60) * 60
    created = [n for n in api.runs if n.startswith("tick-") and "old" not in n]
    assert created == [f"tick-{latest // 60}"]
    execution = api.runs[created[0]]
    assert execution["kind"] == spec.KIND and execution["metadata"]["namespace"] == "ns"
    assert execution["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert api.deleted == ["tick-old-1"]  # one success kept, the older one pruned
    (patch,) = api.patches
    assert patch["lastScheduleTime"] == scheduling.iso(datetime.fromtimestamp(latest, UTC))
    assert [a["name"] for a in patch["active"]] == created
    assert patch["observedGeneration"] == 2
    assert wake_at is not None and wake_at.timestamp() == latest + 60
    assert [e["reason"] for e in api.events] == ["TooManyMissedTimes", "SuccessfulCreate"]
    # A second pass at once: nothing new, and the same warning is not posted twice.
    run_pass(api, body())
    assert len(api.runs) == 2 and len(api.events) == 2


def test_an_invalid_schedule_is_reported_not_raised() -> None:
    api = FakeApi()
    assert run_pass(api, body(schedule="every minute")) is None
    assert not api.runs
    stalled = {c["type"]: c["status"] for c in api.patches[0]["conditions"]}
    assert stalled == {"Ready": "False", "Stalled": "True"}
    assert [e["reason"] for e in api.events] == ["InvalidSchedule"]


def test_an_event_that_cannot_be_posted_does_not_stop_the_pass() -> None:
    class Refusing(FakeApi):
        async def create(self, body: dict[str, Any]) -> bool:
            raise KubeError(403, "forbidden")

    api = Refusing()
    run_pass(api, body())
    assert api.runs and api.patches


def test_handlers_wake_the_loop_of_the_right_schedule() -> None:
    memo = kopf.Memo()
    asyncio.run(HANDLERS.schedules_startup(memo=memo))
    per_object = kopf.Memo(memo)  # kopf gives each object a shallow copy
    waker = schedulehandlers.Waker(generation=2)
    memo.schedule_wakers[("ns", "tick")] = waker
    labels = {schedule.SCHEDULE_LABEL: "tick"}
    running = {"metadata": {"namespace": "ns", "labels": labels}, "status": {"phase": "RUNNING"}}
    asyncio.run(HANDLERS.run_event(event={"type": "MODIFIED"}, body=running, memo=per_object))
    assert not waker.event.is_set()
    ended = {**running, "status": {"phase": "FAILED"}}
    asyncio.run(HANDLERS.run_event(event={"type": "MODIFIED"}, body=ended, memo=per_object))
    assert waker.event.is_set()
    waker.event.clear()
    same = {"metadata": {"namespace": "ns", "name": "tick", "generation": 2}}
    asyncio.run(HANDLERS.schedule_event(event={}, body=same, memo=per_object))
    assert not waker.event.is_set()  # its own status patch
    edited = {"metadata": {"namespace": "ns", "name": "tick", "generation": 3}}
    asyncio.run(HANDLERS.schedule_event(event={}, body=edited, memo=per_object))
    assert waker.event.is_set()
