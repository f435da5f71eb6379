"""What the operator has seen of the cluster: Executions, their Jobs and Pods, admission.

Memory only, and always rebuildable: startup fills it by listing, kopf's watch
events keep it fresh (`handlers`), and it holds nothing that is not also in
the cluster — except admission grants not yet written to a status, which a
restart simply decides again. Also the per-execution wake-up events that let
a watch event reach the execution's daemon at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kuberun.contract.statuses import Phase
from kuberun_operator import admission, naming
from kuberun_operator.statusmapping import parse_time


@dataclass(frozen=True)
class ExecutionEntry:
    """An Execution as admission needs it."""

    uid: str
    namespace: str
    name: str
    priority: int
    created_at: float
    holds_slot: bool
    terminal: bool


def execution_entry(body: Mapping[str, Any]) -> ExecutionEntry:
    """Read an Execution body; tolerant of a bad spec (it will be failed by its daemon)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    phase = status.get("phase")
    terminal = phase in {p.value for p in Phase if p.terminal}
    priority = spec.get("priority", 0)
    return ExecutionEntry(
        uid=str(meta.get("uid", "")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        priority=priority if isinstance(priority, int) else 0,
        created_at=parse_time(meta.get("creationTimestamp")) or 0.0,
        holds_slot=not terminal and int(status.get("attempt") or 0) >= 1,
        terminal=terminal,
    )


def _owner(body: Mapping[str, Any]) -> tuple[str, int] | None:
    labels = (body.get("metadata") or {}).get("labels") or {}
    uid = labels.get(naming.UID_LABEL)
    try:
        attempt = int(labels.get(naming.ATTEMPT_LABEL, ""))
    except ValueError:
        return None
    return (uid, attempt) if uid else None


class ClusterState:
    """The operator's view, shared by all handlers of one operator process."""

    def __init__(self) -> None:
        self.executions: dict[str, ExecutionEntry] = {}
        self.jobs: dict[str, dict[int, dict[str, Any]]] = {}
        self.pods: dict[str, dict[int, dict[str, dict[str, Any]]]] = {}
        self.granted: set[str] = set()
        self.positions: dict[str, int] = {}
        self.admission_changed = asyncio.Event()
        self._wakers: dict[str, asyncio.Event] = {}

    # --- wake-ups ----------------------------------------------------------------------
    def waker(self, uid: str) -> asyncio.Event:
        return self._wakers.setdefault(uid, asyncio.Event())

    def wake(self, uid: str) -> None:
        event = self._wakers.get(uid)
        if event is not None:
            event.set()

    # --- executions ----------------------------------------------------------------------
    def observe_execution(self, body: Mapping[str, Any], deleted: bool = False) -> str:
        entry = execution_entry(body)
        old = self.executions.get(entry.uid)
        if deleted or entry.terminal:
            self.forget(entry.uid, keep_waker=not deleted)
        else:
            self.executions[entry.uid] = entry
        if old != self.executions.get(entry.uid):
            self.admission_changed.set()
        return entry.uid

    def forget(self, uid: str, keep_waker: bool = False) -> None:
        """Drop everything about an execution that ended or was deleted."""
        if self.executions.pop(uid, None) is not None:
            self.admission_changed.set()
        self.granted.discard(uid)
        self.positions.pop(uid, None)
        self.jobs.pop(uid, None)
        self.pods.pop(uid, None)
        if not keep_waker:
            self._wakers.pop(uid, None)

    def candidates(self) -> list[admission.Candidate]:
        return [
            admission.Candidate(
                uid=e.uid,
                namespace=e.namespace,
                name=e.name,
                priority=e.priority,
                created_at=e.created_at,
                holds_slot=e.holds_slot or e.uid in self.granted,
            )
            for e in self.executions.values()
        ]

    # --- jobs and pods -------------------------------------------------------------------
    def observe_job(self, body: Mapping[str, Any], deleted: bool = False) -> str | None:
        owner = _owner(body)
        if owner is None:
            return None
        uid, attempt = owner
        if deleted:
            self.jobs.get(uid, {}).pop(attempt, None)
        elif uid in self.executions or uid in self._wakers:
            self.jobs.setdefault(uid, {})[attempt] = dict(body)
        return uid

    def observe_pod(self, body: Mapping[str, Any], deleted: bool = False) -> str | None:
        owner = _owner(body)
        if owner is None:
            return None
        uid, attempt = owner
        if uid not in self.executions and uid not in self._wakers:
            return uid
        pod = dict(body)
        if deleted:
            # Keep its last state (a termination message is still the verdict), marked gone.
            meta = dict(pod.get("metadata") or {})
            meta.setdefault("deletionTimestamp", meta.get("creationTimestamp"))
            pod["metadata"] = meta
            pod["_gone"] = True
        name = str((pod.get("metadata") or {}).get("name", ""))
        self.pods.setdefault(uid, {}).setdefault(attempt, {})[name] = pod
        return uid

    def job(self, uid: str, attempt: int) -> dict[str, Any] | None:
        return self.jobs.get(uid, {}).get(attempt)

    def pod(self, uid: str, attempt: int) -> dict[str, Any] | None:
        """The attempt's pod: the newest one still there, else the last one seen."""
        pods = list(self.pods.get(uid, {}).get(attempt, {}).values())
        if not pods:
            return None
        pods.sort(
            key=lambda p: (
                not p.get("_gone"),
                (p.get("metadata") or {}).get("creationTimestamp") or "",
            )
        )
        return pods[-1]
