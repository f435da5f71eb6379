"""What a ScheduledExecution must do now: CronJob's controller as a pure decision.

Pure: `plan` takes the schedule's spec, what is known of its Executions, the
last scheduled time and the clock's `now`, and returns a :class:`Plan` (what to
create, what to delete, which events to post, the new status, when to look
again). `schedulehandlers` does the I/O. The rules are CronJob's
(`syncCronJob` in kube-controller-manager):

- Executions are named `<schedule>-<minutes since the epoch>` of their
  scheduled time, so a restart, a retry or two passes at once can never create
  a second one for the same time (the second create is a 409);
- the due time is the *latest* one since `lastScheduleTime` (or the creation
  of the schedule); times missed while the operator was down are not run one
  by one: at most one catch-up run, and only if it is still within
  `startingDeadlineSeconds` of its time. More than 100 missed times is a
  Warning event (`TooManyMissedTimes`), as in CronJob;
- `Forbid` creates nothing while one is active (the due time stays due: when
  the active one ends, the latest due time starts if still within its
  deadline); `Replace` deletes the active ones, then creates;
- `suspend` creates nothing (times passed while suspended count as missed);
- finished Executions beyond the history limits are deleted, oldest first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kuberun.contract import schedule, spec, status
from kuberun.contract.phases import Phase
from kuberun.contract.schedule import ConcurrencyPolicy, ScheduledExecutionSpec
from kuberun_operator import conditions, cronschedule
from kuberun_operator.statusmapping import format_time

# CronJob's bound on missed times it will count before it warns.
MAX_MISSED = 100
_EPOCH = datetime.fromtimestamp(0, tz=UTC)


@dataclass(frozen=True)
class Child:
    """One Execution this schedule created, as read from the cluster."""

    name: str
    uid: str | None = None
    scheduled_at: datetime | None = None
    created_at: datetime | None = None
    phase: Phase | None = None
    finished_at: datetime | None = None
    deleting: bool = False

    @property
    def finished(self) -> bool:
        return self.phase is not None and self.phase.terminal

    @property
    def succeeded(self) -> bool:
        return self.phase == Phase.SUCCESS


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the ScheduledExecution."""

    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    """What to do now, and what the status must say afterwards."""

    create: tuple[str, datetime] | None = None  # name, scheduled time
    delete_active: tuple[str, ...] = ()  # Replace
    prune: tuple[str, ...] = ()  # beyond the history limits
    events: tuple[Event, ...] = ()
    active: tuple[Child, ...] = ()  # after the plan (the created one has no uid yet)
    last_schedule_time: datetime | None = None
    last_successful_time: datetime | None = None
    next_schedule_time: datetime | None = None
    wake_at: datetime | None = None  # look again then (None: only on a change)
    problem: str | None = None  # the schedule cannot be used (Stalled)
    suspended: bool = False


def run_name(schedule_name: str, scheduled_at: datetime) -> str:
    """The Execution for `scheduled_at`: `<name>-<minutes since the epoch>` (CronJob's)."""
    return f"{schedule_name}-{int(scheduled_at.timestamp()) // 60}"


def _prune(children: Sequence[Child], cfg: ScheduledExecutionSpec) -> tuple[str, ...]:
    """Finished Executions beyond the history limits, oldest first."""
    doomed: list[str] = []
    for succeeded, limit in (
        (True, cfg.successful_executions_history_limit),
        (False, cfg.failed_executions_history_limit),
    ):
        done = [c for c in children if c.finished and c.succeeded == succeeded and not c.deleting]
        done.sort(key=lambda c: (c.finished_at or c.created_at or c.scheduled_at or _EPOCH, c.name))
        if len(done) > limit:
            doomed.extend(c.name for c in done[: len(done) - limit])
    return tuple(doomed)


def plan(
    name: str,
    cfg: ScheduledExecutionSpec,
    *,
    now: datetime,
    created_at: datetime,
    last_schedule_time: datetime | None,
    last_successful_time: datetime | None,
    children: Sequence[Child],
) -> Plan:
    """The decision for one pass (see the module's docstring).

    `last_schedule_time` is the status's, which may lag (the loop can read its
    resource before the watch delivered its own last patch): the newest time an
    Execution exists for counts too, so a stale read never moves it back.
    """
    known = [c.scheduled_at for c in children if c.scheduled_at is not None]
    if last_schedule_time is not None:
        known.append(last_schedule_time)
    last_schedule_time = max(known, default=None)
    live = [c for c in children if not c.deleting]
    active = tuple(c for c in live if not c.finished)
    successes = [c.finished_at for c in live if c.succeeded and c.finished_at is not None]
    if last_successful_time is not None:
        successes.append(last_successful_time)
    last_success = max(successes, default=None)
    prune = _prune(children, cfg)
    base = Plan(
        prune=prune,
        active=active,
        last_schedule_time=last_schedule_time,
        last_successful_time=last_success,
    )
    try:
        cron = cronschedule.parse(cfg.schedule, cfg.time_zone)
    except cronschedule.InvalidSchedule as exc:
        return _replace(
            base,
            problem=str(exc),
            events=(Event("Warning", "InvalidSchedule", str(exc)),),
        )
    if cfg.suspend:
        return _replace(base, suspended=True)

    next_time = cron.next_after(now)
    earliest = last_schedule_time or created_at
    deadline = cfg.starting_deadline_seconds
    if deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=deadline))
    due, missed = cron.due_between(earliest, now, MAX_MISSED)
    events: list[Event] = []
    if missed > MAX_MISSED:
        events.append(
            Event(
                "Warning",
                "TooManyMissedTimes",
                f"more than {MAX_MISSED} missed start times; set or decrease"
                " startingDeadlineSeconds or check the clock",
            )
        )
    if deadline is not None:
        late, _ = cron.due_between(last_schedule_time or created_at, earliest, 0)
        if late is not None and late > (last_schedule_time or created_at):
            events.append(
                Event(
                    "Warning",
                    "MissedSchedule",
                    f"missed the run due at {iso(late)}: not started within"
                    f" startingDeadlineSeconds ({deadline}s)",
                )
            )
    planned = _replace(base, next_schedule_time=next_time, wake_at=next_time)
    if due is None:
        return _replace(planned, events=tuple(events))
    run = run_name(name, due)
    if any(c.name == run for c in children) or (
        last_schedule_time is not None and due <= last_schedule_time
    ):
        return _replace(planned, events=tuple(events))  # done already
    if cfg.concurrency_policy is ConcurrencyPolicy.FORBID and active:
        events.append(
            Event(
                "Normal",
                "ExecutionAlreadyActive",
                f"not starting the run due at {iso(due)}: {active[0].name} is still running"
                " and concurrencyPolicy is Forbid",
            )
        )
        return _replace(planned, events=tuple(events))
    delete_active: tuple[str, ...] = ()
    still_active = active
    if cfg.concurrency_policy is ConcurrencyPolicy.REPLACE and active:
        delete_active = tuple(c.name for c in active)
        still_active = ()
    return _replace(
        planned,
        create=(run, due),
        delete_active=delete_active,
        active=(*still_active, Child(name=run, scheduled_at=due, created_at=now)),
        last_schedule_time=due,
        events=tuple(events),
    )


def _replace(plan_: Plan, **changes: object) -> Plan:
    return replace(plan_, **changes)  # type: ignore[arg-type]


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second (scheduled times are whole minutes)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None (absent or unreadable)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def execution_body(
    name: str,
    namespace: str,
    owner: dict[str, str],
    cfg: ScheduledExecutionSpec,
    run: str,
    scheduled_at: datetime,
) -> dict[str, Any]:
    """The Execution to create for `scheduled_at`, owned by the schedule (its controller).

    Labels and annotations from the template, then the schedule's own label (to
    find its runs) and the scheduled time (which names the run).
    """
    template = cfg.execution_template
    labels = dict(template.metadata.labels) if template.metadata else {}
    annotations = dict(template.metadata.annotations) if template.metadata else {}
    labels[schedule.SCHEDULE_LABEL] = name
    annotations[schedule.SCHEDULED_AT_ANNOTATION] = iso(scheduled_at)
    return {
        "apiVersion": spec.API_VERSION,
        "kind": spec.KIND,
        "metadata": {
            "name": run,
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": spec.API_VERSION,
                    "kind": schedule.KIND,
                    "name": owner["name"],
                    "uid": owner["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template.spec.model_dump(by_alias=True, mode="json", exclude_defaults=True),
    }


READY = "Ready"
STALLED = "Stalled"
COMPONENT = "kuberun-operator"
MAX_EVENT_MESSAGE = 1024


def status_patch(
    current: schedule.ScheduledExecutionStatus,
    decided: Plan,
    namespace: str,
    generation: int | None,
    now: float,
) -> dict[str, Any]:
    """The status to merge-patch after the plan was carried out (camelCase, JSON).

    `Ready` is True while the schedule runs (reason `Scheduled`) or is suspended
    (`Suspended`); an unusable schedule is `Ready=False`, `Stalled=True`
    (`InvalidSchedule`): waiting will not fix it, an edit will.
    """
    conds = [c.model_dump() for c in current.conditions]
    if decided.problem is not None:
        conds = conditions.set_condition(
            conds, READY, False, "InvalidSchedule", decided.problem, now, generation
        )
        conds = conditions.set_condition(
            conds, STALLED, True, "InvalidSchedule", decided.problem, now, generation
        )
    else:
        reason = "Suspended" if decided.suspended else "Scheduled"
        message = (
            "suspended: no new runs"
            if decided.suspended
            else f"next run at {iso(decided.next_schedule_time)}"
            if decided.next_schedule_time
            else ""
        )
        conds = conditions.set_condition(conds, READY, True, reason, message, now, generation)
        conds = conditions.set_condition(conds, STALLED, False, reason, None, now, generation)
    built = schedule.ScheduledExecutionStatus(
        active=[
            schedule.ExecutionReference(
                api_version=spec.API_VERSION,
                kind=spec.KIND,
                namespace=namespace,
                name=c.name,
                uid=c.uid,
            )
            for c in decided.active
        ],
        last_schedule_time=iso(decided.last_schedule_time) if decided.last_schedule_time else None,
        last_successful_time=(
            iso(decided.last_successful_time) if decided.last_successful_time else None
        ),
        next_schedule_time=(
            iso(decided.next_schedule_time) if decided.next_schedule_time else None
        ),
        conditions=[status.Condition.model_validate(c) for c in conds],
        observed_generation=generation,
    )
    out = built.model_dump(by_alias=True, mode="json", exclude_none=True)
    for key in ("lastScheduleTime", "lastSuccessfulTime", "nextScheduleTime"):
        out.setdefault(key, None)  # null removes a field in a merge patch
    return out


def event_body(namespace: str, name: str, uid: str, event: Event, now: float) -> dict[str, Any]:
    """The core/v1 Event on the ScheduledExecution.

    Named by a digest of its reason and message: the same event posted on every
    pass (a schedule blocked by Forbid, an invalid schedule) is a 409, not a flood.
    """
    digest = hashlib.sha256(f"{uid}/{event.reason}/{event.message}".encode()).hexdigest()
    stamp = format_time(now)[:19] + "Z"
    message = event.message[:MAX_EVENT_MESSAGE]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{digest[:16]}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": spec.API_VERSION,
            "kind": schedule.KIND,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "reason": event.reason,
        "message": message,
        "type": event.type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "action": event.reason,
    }


def child_of(body: dict[str, Any]) -> Child:
    """What matters of one listed Execution."""
    meta = body.get("metadata") or {}
    raw = body.get("status") or {}
    phase = raw.get("phase")
    try:
        parsed = Phase(phase) if phase else None
    except ValueError:
        parsed = None
    return Child(
        name=str(meta.get("name")),
        uid=meta.get("uid"),
        scheduled_at=parse_iso(
            (meta.get("annotations") or {}).get(schedule.SCHEDULED_AT_ANNOTATION)
        ),
        created_at=parse_iso(meta.get("creationTimestamp")),
        phase=parsed,
        finished_at=parse_iso(raw.get("completionTime")),
        deleting=bool(meta.get("deletionTimestamp")),
    )
