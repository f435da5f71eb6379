"""What the operator has seen of the cluster: Executions, their Jobs and Pods, admission.

Memory only, and always rebuildable: startup fills it by listing, kopf's watch
events keep it fresh (`handlers`), and it holds nothing that is not also in
the cluster — except admission grants not yet written to a status, which a
restart simply decides again. Also the per-execution wake-up events that let
a watch event reach the execution's daemon at once (or, for a queued one, which
has no daemon, its next pass: `queued`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kuberun.contract.phases import TERMINAL_PHASE_VALUES
from kuberun_operator import admission, naming, stampede
from kuberun_operator.admissionqueue import AdmissionQueue
from kuberun_operator.statusmapping import parse_time

_TERMINAL = TERMINAL_PHASE_VALUES


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
    cache_key: str | None = None  # its cache group (`stampede`), None when it has none


def execution_entry(body: Mapping[str, Any]) -> ExecutionEntry:
    """Read an Execution body; tolerant of a bad spec (it will be failed by its daemon)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    phase = status.get("phase")
    terminal = phase in _TERMINAL
    priority = spec.get("priority", 0)
    namespace = str(meta.get("namespace", ""))
    return ExecutionEntry(
        uid=str(meta.get("uid", "")),
        namespace=namespace,
        name=str(meta.get("name", "")),
        priority=priority if isinstance(priority, int) else 0,
        created_at=parse_time(meta.get("creationTimestamp")) or 0.0,
        holds_slot=not terminal and int(status.get("attempt") or 0) >= 1,
        terminal=terminal,
        cache_key=stampede.group_key(spec, namespace) if isinstance(spec, Mapping) else None,
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
        self.positions: dict[str, int] = {}  # published queue positions (see `handlers`)
        self.queue = AdmissionQueue()  # kept by the events below, asked by admission
        self.publish_pending = False  # a delayed publication of positions is scheduled
        self.admission_changed = asyncio.Event()
        self._wakers: dict[str, asyncio.Event] = {}
        # Who runs the passes of Executions with no loop of their own (`queued`); every
        # wake-up goes there too, and it ignores the ones it does not keep.
        self.on_wake: Callable[[str], None] | None = None
        # Cache groups (see `stampede`): members by cache entry, and groups found not to
        # use the cache (memory only: a restart costs one more leader's run, see there).
        self.stampede_guard = True
        self.groups: dict[str, set[str]] = {}
        self.released: set[str] = set()

    # --- wake-ups ----------------------------------------------------------------------
    def waker(self, uid: str) -> asyncio.Event:
        return self._wakers.setdefault(uid, asyncio.Event())

    def wake(self, uid: str) -> None:
        event = self._wakers.get(uid)
        if event is not None:
            event.set()
        if self.on_wake is not None:
            self.on_wake(uid)

    # --- executions ----------------------------------------------------------------------
    def observe_execution(self, body: Mapping[str, Any], deleted: bool = False) -> str:
        entry = execution_entry(body)
        old = self.executions.get(entry.uid)
        if deleted or entry.terminal:
            self.forget(entry.uid, keep_waker=not deleted, final=body.get("status"))
        else:
            keys = {k for k in (old.cache_key if old else None, entry.cache_key) if k}
            before = {k: self._waiters(k) for k in keys}
            self.executions[entry.uid] = entry
            if old is not None and old.cache_key and old.cache_key != entry.cache_key:
                self._leave(old.cache_key, entry.uid)
            if entry.cache_key:
                self.groups.setdefault(entry.cache_key, set()).add(entry.uid)
            for key, was in before.items():
                self._regrouped(was, self._waiters(key))
            self._sync(entry.uid)
        if old != self.executions.get(entry.uid):
            self.admission_changed.set()
        return entry.uid

    # --- cache groups ----------------------------------------------------------------------
    def _waiters(self, key: str) -> dict[str, str]:
        if not self.stampede_guard:
            return {}
        members = [
            stampede.Member(
                uid=e.uid,
                name=e.name,
                created_at=e.created_at,
                started=e.holds_slot or e.uid in self.granted,
                priority=e.priority,
                namespace=e.namespace,
            )
            for e in (self.executions.get(u) for u in self.groups.get(key, ()))
            if e is not None
        ]
        return stampede.waiters(members, key in self.released)

    def _leave(self, key: str, uid: str) -> None:
        group = self.groups.get(key)
        if group is None:
            return
        group.discard(uid)
        if not group:
            del self.groups[key]
            self.released.discard(key)

    def _regrouped(self, before: dict[str, str], after: dict[str, str]) -> None:
        """Wake the members whose verdict changed (a new leader, or free to run)."""
        changed = {u for u in before.keys() | after.keys() if before.get(u) != after.get(u)}
        for uid in changed:
            self._sync(uid, waits=uid in after)
            self.wake(uid)
        if changed:
            self.admission_changed.set()

    def _sync(self, uid: str, waits: bool | None = None) -> None:
        """Tell the admission queue what this execution is now (`waits`: for a cache leader)."""
        entry = self.executions.get(uid)
        if entry is None:
            self.queue.put(None, uid)
            self.positions.pop(uid, None)
            return
        if waits is None:
            waits = self.waiting_for(uid) is not None
        holds = entry.holds_slot or uid in self.granted
        if waits and not holds:
            self.queue.put(None, uid)
            self.positions.pop(uid, None)
            return
        self.queue.put(
            admission.Candidate(
                uid=uid,
                namespace=entry.namespace,
                name=entry.name,
                priority=entry.priority,
                created_at=entry.created_at,
                holds_slot=holds,
            ),
            uid,
        )
        if holds:
            self.positions.pop(uid, None)

    def queue_position(self, uid: str) -> int | None:
        """The published position; a new one's exact position (then published as it is)."""
        published = self.positions.get(uid)
        if published is not None:
            return published
        position = self.queue.position(uid)
        if position is not None:
            self.positions[uid] = position
        return position

    def waiting_for(self, uid: str) -> str | None:
        """The leader's name when this execution waits for its cache entry, else None."""
        entry = self.executions.get(uid)
        if entry is None or entry.cache_key is None:
            return None
        return self._waiters(entry.cache_key).get(uid)

    def cache_waiters(self) -> set[str]:
        """Every execution now waiting for a leader's cache entry (admission skips them)."""
        waiting: set[str] = set()
        for key in self.groups:
            waiting.update(self._waiters(key))
        return waiting

    def forget(
        self, uid: str, keep_waker: bool = False, final: Mapping[str, Any] | None = None
    ) -> None:
        """Drop everything about an execution that ended (`final`: its last status) or
        was deleted."""
        entry = self.executions.get(uid)
        key = entry.cache_key if entry is not None else None
        before = self._waiters(key) if key else {}
        if key and key in self.groups and final and stampede.releases(final):
            self.released.add(key)
        if self.executions.pop(uid, None) is not None:
            self.admission_changed.set()
        self.queue.put(None, uid)
        if key:
            self._leave(key, uid)
            self._regrouped(before, self._waiters(key))
        self.granted.discard(uid)
        self.positions.pop(uid, None)
        self.jobs.pop(uid, None)
        self.pods.pop(uid, None)
        if not keep_waker:
            self._wakers.pop(uid, None)

    def candidates(self) -> list[admission.Candidate]:
        waiting = self.cache_waiters() if self.groups else set()
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
            if e.uid not in waiting
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
