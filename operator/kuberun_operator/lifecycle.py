"""Lifecycle Events on an Execution (`kubectl describe kx NAME`), decided from a status change.

Pure. `acting.Actor.transitions` calls `events_for(old, new)` after each
status it wrote and posts what `build_event` returns. Because the decision looks
only at the two statuses, each transition yields its Event once; the Event's
name is derived from the Execution's uid, the reason and the attempt, so a
repeated post after a crash is a 409, not a second Event.

    old → new                                   Event (type)
    (none) → PENDING                            Queued (Normal)
    an attempt gains its start time             Started (Normal; also for a run so short
                                                that RUNNING was never seen)
    reason becomes Retrying                     Retrying (Warning)
    → SUCCESS                                   Succeeded (Normal)
    → FAILED or COMPLETED_WITH_ERRORS           Failed (Warning)
    → TIMED_OUT                                 TimedOut (Warning)
    → CANCELLED                                 Cancelled (Normal: someone asked for it)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from kuberun.contract import spec, status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator.manifests import ExecutionRef
from kuberun_operator.statusmapping import format_time

COMPONENT = "kuberun-operator"
MAX_MESSAGE = 1024  # the API server's own limit on an Event's message

_TERMINAL_EVENT: dict[Phase, tuple[str, str]] = {
    Phase.SUCCESS: ("Succeeded", "Normal"),
    Phase.COMPLETED_WITH_ERRORS: ("Failed", "Warning"),
    Phase.FAILED: ("Failed", "Warning"),
    Phase.TIMED_OUT: ("TimedOut", "Warning"),
    Phase.CANCELLED: ("Cancelled", "Normal"),
}


@dataclass(frozen=True)
class LifecycleEvent:
    """One Event to post on the Execution."""

    reason: str
    type: str  # Normal | Warning
    message: str
    attempt: int


def _detail(new: status.ExecutionStatus) -> str:
    text = f"{new.phase}"
    if new.reason is not None:
        text += f" ({new.reason})"
    if new.message:
        text += f": {new.message}"
    return text


def events_for(old: status.ExecutionStatus, new: status.ExecutionStatus) -> list[LifecycleEvent]:
    """The Events the change from `old` to `new` deserves, in the order they happened."""
    out: list[LifecycleEvent] = []
    if old.phase is None and new.phase is not None:
        out.append(LifecycleEvent("Queued", "Normal", "queued for a slot", 0))
    for attempt in _newly_started(old, new):
        out.append(LifecycleEvent("Started", "Normal", f"attempt {attempt} started", attempt))
    if new.reason == Reason.RETRYING and old.reason != Reason.RETRYING:
        out.append(LifecycleEvent("Retrying", "Warning", new.message or "retrying", new.attempt))
    if new.phase is not None and new.phase.terminal and new.phase != old.phase:
        reason, kind = _TERMINAL_EVENT[new.phase]
        out.append(LifecycleEvent(reason, kind, _detail(new), new.attempt))
    return out


def _newly_started(old: status.ExecutionStatus, new: status.ExecutionStatus) -> list[int]:
    """Attempts whose runner start time is known in `new` and was not in `old`."""
    before = {a.attempt for a in old.attempts if a.start_time is not None}
    return [a.attempt for a in new.attempts if a.start_time is not None and a.attempt not in before]


def event_name(ref: ExecutionRef, event: LifecycleEvent) -> str:
    """Deterministic per (Execution, reason, attempt): a repeated post is a 409."""
    digest = hashlib.sha256(f"{ref.uid}/{event.reason}/{event.attempt}".encode()).hexdigest()
    return f"{ref.name[:200]}.{digest[:16]}"


def build_event(ref: ExecutionRef, event: LifecycleEvent, now: float) -> dict[str, Any]:
    """The core/v1 Event body (what `kubectl describe` lists under Events)."""
    stamp = format_time(now)
    whole_seconds = stamp[:19] + "Z"  # firstTimestamp/lastTimestamp have second precision
    message = event.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 15] + "…[truncated]"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(ref, event), "namespace": ref.namespace},
        "involvedObject": {
            "apiVersion": spec.API_VERSION,
            "kind": spec.KIND,
            "name": ref.name,
            "namespace": ref.namespace,
            "uid": ref.uid,
        },
        "reason": event.reason,
        "message": message,
        "type": event.type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "firstTimestamp": whole_seconds,
        "lastTimestamp": whole_seconds,
        "count": 1,
        "action": event.reason,
    }
