"""Queued Executions without a loop each: the admission side runs their passes.

A queued Execution (no attempt yet, not ended) moves only on events this
process sees: its own watch events (created, spec.cancel, deleted), admission
(a slot, a new position) and its cache group (`stampede`). A kopf daemon per
queued Execution — an asyncio task, kopf's per-daemon state and a finalizer —
costs ~0.12 MiB each, so 10,000 queued ones outgrew the operator's 512 MiB.
Here a queued Execution costs its last body and a dict entry instead:
`QueuedPasses` keeps the body and, when something concerns it, runs one
observe-decide-act pass — the same `Follower.step`, so the same `reconcile` —
on a few shared workers:

- the first pass writes `PENDING`/`Queued` with its position (and the
  `queued` engine record and Event), later ones move the position;
- `spec.cancel` ends it `CANCELLED` in one pass: no pod, no daemon;
- the pass after admission writes the status with attempt 1 and creates its
  Job; from that status on it is the daemon's (`handlers.follow`, whose
  `when=` is `followed`), which starts, sees the Job and follows it to the end.

Nothing here outlives a restart on purpose: the listing and the watch's first
events give every queued body back (a queued one stays queued, with its
position written again if it moved) and the daemon's filter gives every
admitted one its loop back.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kuberun.contract.phases import TERMINAL_PHASE_VALUES
from kuberun_operator.apierrors import NotFound
from kuberun_operator.backlog import Step
from kuberun_operator.context import OperatorContext
from kuberun_operator.following import Follower, parse_status

_TERMINAL = TERMINAL_PHASE_VALUES
# A failed pass is tried again after this long (doubling up to the cap).
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0

Ended = Callable[[Mapping[str, Any], list[Step]], Awaitable[None]]


def queued(raw_status: Mapping[str, Any] | None) -> bool:
    """Whether an Execution with this status is the admission side's: not ended and no
    attempt started (queued, waiting for a cache leader, or not seen yet)."""
    raw = raw_status or {}
    return raw.get("phase") not in _TERMINAL and int(raw.get("attempt") or 0) < 1


def followed(raw_status: Mapping[str, Any] | None) -> bool:
    """Whether an Execution with this status has its own loop (the kopf daemon): an
    attempt started and not ended. Exactly the live ones that are not `queued`."""
    raw = raw_status or {}
    return raw.get("phase") not in _TERMINAL and not queued(raw)


def urgent(body: Mapping[str, Any]) -> bool:
    """Whether a queued Execution's pass should go before position updates: it has no
    status yet, or it is cancelled. The other passes of a queued one move a position
    or find nothing to do (the echo of its own write); when thousands are cancelled
    from the front, positions move by hundreds a second, and their writes — mostly
    for Executions about to be cancelled anyway — took the API server from the
    cancellations. Deferred, they run when nothing urgent waits, and write the
    position published by then."""
    raw_spec = body.get("spec") or {}
    return not (body.get("status") or {}).get("phase") or raw_spec.get("cancel") is True


def kept_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a pass needs of a body: metadata without managedFields, spec, status."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    return {"metadata": meta, "spec": body.get("spec"), "status": body.get("status")}


class QueuedPasses:
    """The queued Executions' bodies and their due passes; see the module docstring."""

    def __init__(
        self,
        rt: OperatorContext,
        on_ended: Ended,
        logger: logging.Logger,
        workers: int | None = None,
    ) -> None:
        self.rt = rt
        self.on_ended = on_ended  # archive and engine leftovers of one a pass ended
        self.logger = logger
        # Passes at once: each waits mostly on the API (a status patch, an Event), whose
        # thread pool has `api_workers` threads. Twice that keeps every thread busy while
        # passes are between calls (Redis, reconcile); more would only queue there. With 8
        # workers, 1,000 created on a loaded machine (load average 9) took 20 s after the
        # last create to all show a status.
        self.workers = workers or 2 * rt.settings.api_workers
        self.bodies: dict[str, dict[str, Any]] = {}  # uid → last body (see `observe`)
        self.written: set[str] = set()  # bodies whose status is the one a pass wrote
        # Handed to the daemon or ended by a pass: a late event with an older status must
        # not bring it back (statuses only move forward). Dropped on deletion.
        self.done: set[str] = set()
        self._due: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._later: collections.OrderedDict[str, None] = collections.OrderedDict()  # `urgent`
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._failures: dict[str, int] = {}
        self._ready = asyncio.Event()
        self.passes = 0  # passes run (for tests and the benchmark's curiosity)

    # --- bodies --------------------------------------------------------------------------
    def observe(self, body: Mapping[str, Any], deleted: bool = False) -> bool:
        """Keep a queued Execution's body (or drop it); True when it is one of ours.

        The status a pass wrote is newer than any event's until the watch echoes it,
        and only this operator writes status: once written, an event brings the
        metadata and spec (spec.cancel) but keeps the written status.
        """
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        if deleted:
            self.drop(uid)
            self.done.discard(uid)
            return False
        if uid in self.done:
            return False
        kept = kept_body(body)
        if uid in self.written:
            kept["status"] = self.bodies[uid]["status"]
        if not queued(kept["status"]):
            self.drop(uid)
            return False
        self.bodies[uid] = kept
        return True

    def drop(self, uid: str) -> None:
        self.bodies.pop(uid, None)
        self.written.discard(uid)
        self._due.pop(uid, None)
        self._later.pop(uid, None)
        self._again.discard(uid)
        self._failures.pop(uid, None)

    # --- scheduling ----------------------------------------------------------------------
    def due(self, uid: str) -> None:
        """Something concerns this Execution: run a pass (admitted ones first, then the
        `urgent`, then the rest when nothing urgent waits)."""
        body = self.bodies.get(uid)
        if body is None:
            return
        if uid in self._running:
            self._again.add(uid)
            return
        granted = uid in self.rt.state.granted
        if granted or urgent(body):
            self._later.pop(uid, None)
            self._due[uid] = None
            if granted:  # a freed slot waits on this pass alone
                self._due.move_to_end(uid, last=False)
        elif uid not in self._due:
            self._later[uid] = None
        self._ready.set()

    @property
    def pending(self) -> int:
        return len(self._due) + len(self._later) + len(self._running)

    async def run(self) -> None:
        """The workers, until cancelled."""
        workers = [
            asyncio.create_task(self._work(), name=f"kuberun-queued-{i}")
            for i in range(self.workers)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

    async def _work(self) -> None:
        while True:
            while not self._due and not self._later:
                self._ready.clear()
                await self._ready.wait()
            uid, _ = (self._due or self._later).popitem(last=False)
            self._running.add(uid)
            try:
                await self.run_pass(uid)
                self._failures.pop(uid, None)
            except Exception:
                self.rt.metrics.reconcile_errors.inc()
                self.logger.exception("queued execution %s: pass failed; retrying", uid)
                failures = self._failures[uid] = self._failures.get(uid, 0) + 1
                delay = min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2.0 ** (failures - 1))
                asyncio.get_running_loop().call_later(delay, self.due, uid)
            finally:
                self._running.discard(uid)
                if uid in self._again:
                    self._again.discard(uid)
                    self.due(uid)

    # --- one pass ------------------------------------------------------------------------
    async def run_pass(self, uid: str) -> None:
        """One observe-decide-act pass of a queued Execution (`Follower.step`)."""
        body = self.bodies.get(uid)
        if body is None:
            return
        self.passes += 1
        follower = Follower(self.rt, body, self.logger)
        failed: Exception | None = None
        try:
            await follower.step()
        except NotFound:  # the Execution is gone; its DELETED event follows
            self.drop(uid)
            return
        except Exception as exc:  # what was written still counts (e.g. the Job not created)
            failed = exc
        await self._settle(uid, body, follower)
        if failed is not None:
            raise failed

    async def _settle(self, uid: str, body: dict[str, Any], follower: Follower) -> None:
        """After a pass: keep the status it wrote, or hand the Execution over (admitted:
        to its daemon; ended: to the archive and the backlog)."""
        leftovers = follower.leftovers()
        final = follower.status
        if final is None:  # nothing written
            return
        written = final.model_dump(by_alias=True, mode="json", exclude_none=True)
        if final.phase is not None and final.phase.terminal:
            self.done.add(uid)
            self.drop(uid)
            self.rt.state.forget(uid, final=written)
            await self.on_ended(
                {
                    "metadata": dict(body["metadata"]),
                    "spec": dict(body.get("spec") or {}),
                    "status": written,
                },
                leftovers,
            )
            return
        if final.attempt >= 1:  # admitted: the daemon follows it from this status on
            self.done.add(uid)
            self.drop(uid)
        elif parse_status(body.get("status")) != final:
            body["status"] = written  # without its empty fields: 10,000 of these are kept
            self.written.add(uid)
        if leftovers and self.rt.backlog is not None:  # e.g. Redis down for its record
            meta = body["metadata"]
            self.rt.backlog.add(f"{meta['namespace']}/{meta['name']}", leftovers)
