"""kopf wiring of ScheduledExecutions: one loop per schedule, doing what `scheduling` decides.

Imported by `__main__` next to `handlers` (which it needs nothing from but the
`OperatorContext` that `handlers.startup` puts in the memo). Each ScheduledExecution
has a daemon that, on every pass, lists the Executions labelled as its own,
asks `scheduling.plan` what to do at this moment, does it (create, delete,
post events), patches the status and sleeps until the next scheduled time —
or until something it depends on changes: its own spec (a new generation) or
one of its Executions appearing, ending or going away.

Nothing is kept in memory that the cluster does not also hold: the scheduled
time is in each Execution's name and annotation, `lastScheduleTime` in the
status. An operator restarted (or down for a while) starts again from those,
which is how a missed run is caught up once and never twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from kuberun.contract import schedule, spec
from kuberun.contract.phases import TERMINAL_PHASE_VALUES
from kuberun_operator import scheduling
from kuberun_operator.context import OperatorContext
from kuberun_operator.kubeio import MERGE_PATCH, Conflict, Kube, KubeError, NotFound

LOG = logging.getLogger("kuberun.operator.schedules")
TERMINAL = TERMINAL_PHASE_VALUES
# A pass at least this often even when nothing is due (a lost watch event, a clock
# step): one list call per schedule every few minutes.
MAX_SLEEP_SECONDS = 300.0
# Wake a moment after the scheduled time, never a moment before it.
WAKE_MARGIN_SECONDS = 0.2


@dataclass
class Waker:
    """How the event handlers wake a schedule's loop."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    generation: int | None = None  # the generation the loop last planned with


def _wakers(memo: Any) -> dict[tuple[str, str], Waker]:
    found: dict[tuple[str, str], Waker] = memo.schedule_wakers
    return found


@kopf.on.startup()
async def schedules_startup(memo: Any, **_: Any) -> None:
    """The wakers' registry, in the operator-wide memo.

    kopf gives each object's handlers a shallow copy of this memo, so a dict put
    here is the one every handler sees; one put in an object's own memo later
    would be seen by that object's handlers only.
    """
    memo.schedule_wakers = {}


class ScheduleKube:
    """The API calls of schedules, through the operator's `Kube` (its pool and metrics)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    async def list_runs(self, namespace: str, name: str) -> list[dict[str, Any]]:
        listed = await self.kube._call(
            self.kube.custom.list_namespaced_custom_object,
            spec.GROUP,
            spec.VERSION,
            namespace,
            spec.PLURAL,
            label_selector=f"{schedule.SCHEDULE_LABEL}={name}",
        )
        return list(listed.get("items", []))

    async def create_run(self, body: dict[str, Any]) -> bool:
        """False when an Execution of that name exists (this time was already run)."""
        try:
            await self.kube._call(
                self.kube.custom.create_namespaced_custom_object,
                spec.GROUP,
                spec.VERSION,
                body["metadata"]["namespace"],
                spec.PLURAL,
                body,
            )
        except Conflict:
            return False
        return True

    async def delete_run(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.kube._call(
                self.kube.custom.delete_namespaced_custom_object,
                spec.GROUP,
                spec.VERSION,
                namespace,
                spec.PLURAL,
                name,
                propagation_policy="Background",
            )

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self.kube._call(
            self.kube.custom.patch_namespaced_custom_object_status,
            spec.GROUP,
            spec.VERSION,
            namespace,
            schedule.PLURAL,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,
        )


async def reconcile(rt: OperatorContext, io: ScheduleKube, body: Any) -> datetime | None:
    """One pass: plan, act, report. Returns when to look again (None: on a change only)."""
    meta = body["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    now = time.time()
    raw_status = dict(body.get("status") or {})
    try:
        current = schedule.ScheduledExecutionStatus.model_validate(raw_status)
    except pydantic.ValidationError:
        current = schedule.ScheduledExecutionStatus()
    try:
        cfg = schedule.ScheduledExecutionSpec.model_validate(dict(body.get("spec") or {}))
    except pydantic.ValidationError as exc:  # the CRD checks the same: an older CRD, say
        problem = f"invalid spec: {exc.errors()[0].get('msg', exc)}"
        await _post(rt, namespace, name, uid, scheduling.Event("Warning", "InvalidSpec", problem))
        return None
    children = [scheduling.child_of(item) for item in await io.list_runs(namespace, name)]
    decided = scheduling.plan(
        name,
        cfg,
        now=datetime.fromtimestamp(now, tz=UTC),
        created_at=scheduling.parse_iso(meta.get("creationTimestamp"))
        or datetime.fromtimestamp(now, tz=UTC),
        last_schedule_time=scheduling.parse_iso(current.last_schedule_time),
        last_successful_time=scheduling.parse_iso(current.last_successful_time),
        children=children,
    )
    for event in decided.events:
        await _post(rt, namespace, name, uid, event)
    for run in decided.delete_active:
        await io.delete_run(namespace, run)
        await _post(
            rt,
            namespace,
            name,
            uid,
            scheduling.Event(
                "Normal", "SuccessfulDelete", f"deleted {run} (concurrencyPolicy Replace)"
            ),
        )
    if decided.create is not None:
        run, due = decided.create
        created = await io.create_run(
            scheduling.execution_body(name, namespace, {"name": name, "uid": uid}, cfg, run, due)
        )
        if created:
            LOG.info("%s/%s: created %s for %s", namespace, name, run, scheduling.iso(due))
            await _post(
                rt,
                namespace,
                name,
                uid,
                scheduling.Event(
                    "Normal", "SuccessfulCreate", f"created {run} for {scheduling.iso(due)}"
                ),
            )
    for run in decided.prune:
        await io.delete_run(namespace, run)
        LOG.info("%s/%s: deleted %s (history limit)", namespace, name, run)
    patch = scheduling.status_patch(current, decided, namespace, meta.get("generation"), now)
    await io.patch_status(namespace, name, patch)
    return decided.wake_at


async def _post(
    rt: OperatorContext, namespace: str, name: str, uid: str, event: scheduling.Event
) -> None:
    """Post an Event; the same one again is a 409 (its name is a digest), and a failure
    loses only the Event."""
    try:
        await rt.kube.create(scheduling.event_body(namespace, name, uid, event, time.time()))
    except KubeError as exc:
        LOG.warning("%s/%s: Event %s not posted: %s", namespace, name, event.reason, exc)


async def _sleep(waker: Waker, stopped: Any, seconds: float) -> None:
    """Until woken, stopped, or `seconds` passed."""
    woken = asyncio.ensure_future(waker.event.wait())
    halted = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait(
            {woken, halted}, timeout=max(seconds, 0.0), return_when="FIRST_COMPLETED"
        )
    finally:
        for task in (woken, halted):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@kopf.daemon(
    spec.GROUP,
    spec.VERSION,
    schedule.PLURAL,
    id="schedule",
    cancellation_backoff=1.0,
    cancellation_timeout=10.0,
)
async def run_schedule(stopped: Any, body: Any, memo: Any, **_: Any) -> None:
    """One loop per ScheduledExecution, for as long as it exists."""
    rt: OperatorContext = memo.context
    if not isinstance(rt.kube, Kube):  # schedules call the adapter's own pool and clients
        raise TypeError(f"schedules need kubeio.Kube, not {type(rt.kube).__name__}")
    io = ScheduleKube(rt.kube)
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    waker = _wakers(memo).setdefault(key, Waker())
    failures = 0
    try:
        while not stopped:
            waker.event.clear()
            waker.generation = body["metadata"].get("generation")
            try:
                wake_at = await reconcile(rt, io, body)
                failures = 0
            except Exception as exc:  # the API server away, a refused patch: try again soon
                failures += 1
                if isinstance(exc, KubeError | OSError):
                    LOG.warning("%s/%s: schedule pass failed: %s", *key, exc)
                else:
                    LOG.exception("%s/%s: schedule pass failed", *key)
                await _sleep(waker, stopped, min(2.0**failures, 60.0))
                continue
            delay = MAX_SLEEP_SECONDS
            if wake_at is not None:
                delay = min(delay, wake_at.timestamp() - time.time() + WAKE_MARGIN_SECONDS)
            await _sleep(waker, stopped, delay)
    finally:
        if _wakers(memo).get(key) is waker:
            del _wakers(memo)[key]


@kopf.on.event(spec.GROUP, spec.VERSION, schedule.PLURAL)
async def schedule_event(event: Any, body: Any, memo: Any, **_: Any) -> None:
    """A new generation (spec edited: suspend, schedule, template) wakes the loop.

    Status patches (the loop's own) do not change the generation, so they do not
    wake it again.
    """
    meta = body.get("metadata") or {}
    waker = _wakers(memo).get((str(meta.get("namespace")), str(meta.get("name"))))
    if waker is not None and meta.get("generation") != waker.generation:
        waker.event.set()


@kopf.on.event(
    spec.GROUP, spec.VERSION, spec.PLURAL, labels={schedule.SCHEDULE_LABEL: kopf.PRESENT}
)
async def run_event(event: Any, body: Any, memo: Any, **_: Any) -> None:
    """One of a schedule's Executions appeared, ended or went away: its schedule looks again
    (Forbid may now start the next run, history limits may prune)."""
    meta = body.get("metadata") or {}
    phase = (body.get("status") or {}).get("phase")
    kind = event.get("type")
    if kind in ("ADDED", "DELETED") or phase in TERMINAL:
        owner = (meta.get("labels") or {}).get(schedule.SCHEDULE_LABEL)
        waker = _wakers(memo).get((str(meta.get("namespace")), str(owner)))
        if waker is not None:
            waker.event.set()
