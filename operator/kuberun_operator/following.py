"""One execution's control loop: observe (`observing`), decide (`reconciling`), act
(`acting`), sleep until woken.

Runs inside the kopf daemon of that Execution (see `handlers`), so there is
exactly one loop per execution, stopped by kopf on deletion, pausing (peering)
or exit. The loop's only memory is what it wrote last; everything else is read
from `ClusterState` (fed by watches) and from the live Execution body, so a
new loop after a restart continues where the old one stopped.

    observing.Observer.observe   body, ClusterState, API, Redis  → Observation
    reconciling.reconcile        Observation                     → Decision   (pure)
    acting.Actor.act             Decision → records, status patch, Events, Job

Errors of a pass are retried with backoff (`MAX_ERROR_BACKOFF`); a pass whose
Execution is gone (404) ends the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from kuberun.contract import status
from kuberun_operator import acting, observing, reconciling
from kuberun_operator.apierrors import NotFound
from kuberun_operator.backlog import Step
from kuberun_operator.context import OperatorContext
from kuberun_operator.observing import parse_spec, parse_status, runner_gone

__all__ = ["Follower", "parse_spec", "parse_status", "runner_gone"]

# With nothing to wait for, look again this often anyway (a missed event costs this much).
IDLE_SECONDS = 30.0
# A queued execution has no clock of its own running; 10,000 of them waking every
# IDLE_SECONDS would cost a reconcile pass 333 times a second for nothing.
QUEUED_IDLE_SECONDS = 300.0
MAX_ERROR_BACKOFF = 30.0


async def sleep_until_woken(waker: asyncio.Event, stopped: Any, seconds: float) -> None:
    """Wait for a wake-up, the daemon's stop flag, or the timeout — whichever is first."""
    wake = asyncio.ensure_future(waker.wait())
    stop = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({wake, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        wake.cancel()
        stop.cancel()


class Follower:
    """Drives one Execution to a terminal phase."""

    def __init__(
        self,
        rt: OperatorContext,
        body: Mapping[str, Any],
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        meta = body["metadata"]
        self.rt = rt
        self.body = body  # kopf's live view: spec changes (cancel) show up here
        self.logger = logger
        self.target = reconciling.Target(
            name=meta["name"], namespace=meta["namespace"], uid=meta["uid"]
        )
        self.status: status.ExecutionStatus | None = None
        self.observer = observing.Observer(rt, body, self.target)
        self.actor = acting.Actor(rt, body, self.target, logger)

    @property
    def rejected(self) -> Mapping[int, str]:
        """Attempts the API server refused for good, with its message (see `acting`)."""
        return self.actor.rejected

    async def run(self, stopped: Any) -> status.ExecutionStatus | None:
        """Loop until terminal or stopped; returns the last status written."""
        waker = self.rt.state.waker(self.target.uid)
        errors = 0
        while not stopped:
            waker.clear()
            try:
                decision = await self.step()
            except NotFound:
                return self.status  # the Execution is gone
            except Exception:
                self.rt.metrics.reconcile_errors.inc()
                self.logger.exception(
                    "%s/%s: reconcile failed; retrying", self.target.namespace, self.target.name
                )
                errors += 1
                await sleep_until_woken(waker, stopped, min(MAX_ERROR_BACKOFF, 2.0**errors))
                continue
            errors = 0
            if decision.status.phase is not None and decision.status.phase.terminal:
                return decision.status
            timeout = decision.requeue_after if decision.requeue_after is not None else IDLE_SECONDS
            if decision.requeue_after is None and decision.status.attempt == 0:
                # Queued (or waiting for a cache leader): only in-process events move it —
                # admission, its own watch events (cancel) — and each of those wakes it.
                timeout = QUEUED_IDLE_SECONDS
            if timeout > 0:
                await sleep_until_woken(waker, stopped, timeout)
        return self.status

    async def step(self) -> reconciling.Decision:
        """One observe-decide-act pass."""
        await self.actor.write_records()  # what an earlier pass could not write, first
        seen = await self.observer.observe(self.status, self.actor.rejected)
        if seen.world is None:  # the runner is still stopping, or Redis has not answered
            self.status = seen.current
            return reconciling.Decision(seen.current, requeue_after=observing.SETTLE_POLL_SECONDS)
        decision = reconciling.reconcile(
            seen.target, seen.execution, seen.current, seen.world, self.rt.settings
        )
        self.status = await self.actor.act(seen, decision, seen.world.now)
        await self.actor.create_attempts(seen, decision)  # intent first: see `acting`
        return decision

    def leftovers(self) -> list[Step]:
        """What this Execution still owes once it ended: its unwritten engine records."""
        return self.actor.leftovers()

    async def on_deleted(self) -> None:
        """The Execution is being deleted: stop its pod now (the GC would, more slowly)."""
        await self.actor.on_deleted(self.status or parse_status(self.body.get("status")))
