"""Work left when an Execution has ended, retried until it is done.

An ended Execution may still owe the log stream an engine record that Redis
did not take, and the archive its row and logs (Redis or PostgreSQL down at
that moment). The per-Execution loop ends with the terminal status (kopf stops
its daemon soon after), so that work comes here: one background task runs
each job's steps in order (engine records before the archive, so the archive
has them), and a job whose step is not done yet is tried again with
exponential backoff, from `FIRST_RETRY_SECONDS` up to `MAX_RETRY_SECONDS`,
until it is. Pending jobs are a gauge and every unsuccessful try is counted
(`kuberun_backlog_pending`, `kuberun_backlog_retries_total`).

The backlog is memory: work pending when the operator stops is picked up at the
next start by the archive sweep (rows missing, or archived without their logs);
engine records still pending then are lost, and the operator's log says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kuberun_operator.metrics import Metrics

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One piece of work: `run()` is True once done, False (or raises) to be tried again."""

    kind: str  # engine_record | archive
    run: Callable[[], Awaitable[bool]]


@dataclass
class _Job:
    name: str
    steps: list[Step]
    due: float = 0.0
    delay: float = FIRST_RETRY_SECONDS
    tries: int = 0


def next_delay(delay: float) -> float:
    """The backoff after another unsuccessful try."""
    return min(MAX_RETRY_SECONDS, delay * 2)


@dataclass
class Backlog:
    """The jobs, and the loop that works them off (`run`, one task per operator)."""

    metrics: Metrics
    clock: Callable[[], float] = time.monotonic
    _jobs: list[_Job] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, name: str, steps: list[Step]) -> None:
        """Queue the work of one ended Execution; it is first tried at once."""
        if steps:
            self._jobs.append(_Job(name, list(steps), due=self.clock()))
            self.metrics.backlog_pending.set(len(self._jobs))
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._jobs)

    async def work_off(self) -> float | None:
        """Try every due job once; seconds until the next is due (None: nothing left)."""
        now = self.clock()
        for job in [j for j in self._jobs if j.due <= now]:
            if await self._advance(job):
                self._jobs.remove(job)
            else:
                job.tries += 1
                job.due = self.clock() + job.delay
                job.delay = next_delay(job.delay)
        self.metrics.backlog_pending.set(len(self._jobs))
        if not self._jobs:
            return None
        return max(0.0, min(j.due for j in self._jobs) - self.clock())

    async def _advance(self, job: _Job) -> bool:
        """Run the job's steps in order until one is not done; True when all are."""
        while job.steps:
            step = job.steps[0]
            try:
                done = await step.run()
            except Exception as exc:  # any failure means "later", and is logged
                log.warning("%s: %s not done yet (retrying): %s", job.name, step.kind, exc)
                done = False
            if not done:
                self.metrics.backlog_retries.labels(kind=step.kind).inc()
                return False
            job.steps.pop(0)
        return True

    async def run(self) -> None:
        """Work the backlog off forever (cancelled at shutdown)."""
        while True:
            wait = await self.work_off()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
