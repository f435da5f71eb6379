"""Lifecycle Events: one per transition, decided from the old and new status alone."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.contract import status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import lifecycle
from kuberun_operator.manifests import ExecutionRef
from tests.unit.operator import factories as f

REF = ExecutionRef(name="nightly", namespace="team", uid="uid-1")


def st(
    phase: Phase | None = None,
    reason: Reason | None = None,
    started: tuple[int, ...] = (),
    **extra: Any,
) -> status.ExecutionStatus:
    """A status; `started` lists the attempts whose runner start time is known."""
    attempts = [
        status.AttemptStatus(
            attempt=n, job_name=f"run-{n}", start_time=f.stamp(f.T0 + n) if n in started else None
        )
        for n in range(1, extra.get("attempt", 0) + 1)
    ]
    return status.ExecutionStatus(phase=phase, reason=reason, attempts=attempts, **extra)


CASES = [
    ("queued", st(), st(Phase.PENDING, Reason.QUEUED), [("Queued", "Normal")]),
    ("starting is not an event", st(Phase.PENDING, Reason.QUEUED),
     st(Phase.PENDING, Reason.STARTING, attempt=1), []),
    ("started", st(Phase.PENDING, Reason.STARTING, attempt=1),
     st(Phase.RUNNING, Reason.RUNNING, attempt=1, started=(1,)), [("Started", "Normal")]),
    ("running again is nothing", st(Phase.RUNNING, Reason.RUNNING, attempt=1, started=(1,)),
     st(Phase.RUNNING, Reason.RUNNING, attempt=1, started=(1,), message="x"), []),
    ("retrying", st(Phase.RUNNING, Reason.RUNNING, attempt=1, started=(1,)),
     st(Phase.PENDING, Reason.RETRYING, attempt=1, started=(1,), message="retrying in 5s"),
     [("Retrying", "Warning")]),
    ("second attempt started", st(Phase.PENDING, Reason.STARTING, attempt=2, started=(1,)),
     st(Phase.RUNNING, Reason.RUNNING, attempt=2, started=(1, 2)), [("Started", "Normal")]),
    ("succeeded", st(Phase.RUNNING, Reason.RUNNING, attempt=1, started=(1,)),
     st(Phase.SUCCESS, Reason.COMPLETED, attempt=1, started=(1,)), [("Succeeded", "Normal")]),
    ("too short to be seen running: started, then succeeded",
     st(Phase.PENDING, Reason.STARTING, attempt=1),
     st(Phase.SUCCESS, Reason.COMPLETED, attempt=1, started=(1,)),
     [("Started", "Normal"), ("Succeeded", "Normal")]),
    ("failed", st(Phase.RUNNING, Reason.RUNNING, attempt=1, started=(1,)),
     st(Phase.FAILED, Reason.OOM_KILLED, attempt=1, started=(1,), message="killed"),
     [("Failed", "Warning")]),
    ("never started and failed", st(Phase.PENDING, Reason.STARTING, attempt=1),
     st(Phase.FAILED, Reason.IMAGE_PULL_FAILED, attempt=1), [("Failed", "Warning")]),
    ("completed with errors is a failure", st(Phase.RUNNING, Reason.RUNNING, attempt=1),
     st(Phase.COMPLETED_WITH_ERRORS, Reason.COMPLETED_WITH_ERRORS, attempt=1),
     [("Failed", "Warning")]),
    ("timed out", st(Phase.RUNNING, Reason.RUNNING, attempt=1),
     st(Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED, attempt=1), [("TimedOut", "Warning")]),
    ("cancelled", st(Phase.CANCELLING, Reason.CANCELLED, attempt=1),
     st(Phase.CANCELLED, Reason.CANCELLED, attempt=1), [("Cancelled", "Normal")]),
    ("cancelled while queued: queued and cancelled in one pass", st(),
     st(Phase.CANCELLED, Reason.CANCELLED), [("Queued", "Normal"), ("Cancelled", "Normal")]),
    ("terminal again is nothing", st(Phase.FAILED, Reason.USER_ERROR, attempt=1),
     st(Phase.FAILED, Reason.USER_ERROR, attempt=1, observed_generation=2), []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_events_for_each_transition(
    old: status.ExecutionStatus, new: status.ExecutionStatus, expected: list[tuple[str, str]]
) -> None:
    assert [(e.reason, e.type) for e in lifecycle.events_for(old, new)] == expected


def test_terminal_message_says_phase_reason_and_message() -> None:
    new = st(Phase.FAILED, Reason.OOM_KILLED, attempt=2, message="over its memory limit")
    (event,) = lifecycle.events_for(st(Phase.RUNNING, Reason.RUNNING, attempt=2), new)
    assert event.message == "FAILED (OOMKilled): over its memory limit"
    assert event.attempt == 2


def test_event_body_points_at_the_execution() -> None:
    event = lifecycle.LifecycleEvent("Failed", "Warning", "x" * 5000, 1)
    body = lifecycle.build_event(REF, event, f.T0 + 0.25)
    assert body["involvedObject"] == {
        "apiVersion": "kuberun.dev/v1alpha1",
        "kind": "Execution",
        "name": "nightly",
        "namespace": "team",
        "uid": "uid-1",
    }
    assert body["metadata"]["namespace"] == "team"
    assert (body["reason"], body["type"], body["count"]) == ("Failed", "Warning", 1)
    assert len(body["message"]) <= lifecycle.MAX_MESSAGE
    assert body["firstTimestamp"].endswith("Z") and "." not in body["firstTimestamp"]


def test_event_names_are_per_transition_and_repeatable() -> None:
    failed = lifecycle.LifecycleEvent("Failed", "Warning", "a", 1)
    assert lifecycle.event_name(REF, failed) == lifecycle.event_name(
        REF, lifecycle.LifecycleEvent("Failed", "Warning", "other text", 1)
    )
    names = {
        lifecycle.event_name(REF, lifecycle.LifecycleEvent(reason, "Normal", "", attempt))
        for reason in ("Started", "Failed")
        for attempt in (1, 2)
    }
    assert len(names) == 4
    assert all(n.startswith("nightly.") and len(n) <= 253 for n in names)
