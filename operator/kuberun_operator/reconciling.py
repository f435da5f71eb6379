"""The decision: from what an Execution asks and what the cluster shows, what to do next.

`reconcile()` is pure — no clock, no API, no Redis: the caller passes `now`,
the views of the current attempt's Job and Pod, the admission verdict and the
runner's result if it read one. It decides on a typed working copy of the
status (`statusdraft.StatusDraft`) and returns the whole next status, frozen and
validated, and the actions to apply; `acting` applies the actions, then
patches the status.
Being level-triggered (it looks at the whole state every time, never at the
event that woke it), it gives the same answer after an operator restart.

Actions are idempotent by construction: deterministic Job names (409 = done),
engine records at fixed stream ids or checked before writing, deletes that
tolerate 404.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from kuberun.contract import keys, outcome, spec, status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import conditions, deadlines, logaccounting, naming, retrying, stopcauses
from kuberun_operator import statusmapping as sm
from kuberun_operator.manifests import hard_deadline_seconds
from kuberun_operator.settings import Settings
from kuberun_operator.statusdraft import AttemptDraft, StatusDraft

# How soon to look again while waiting for something with no event of its own.
POLL_SECONDS = 1.0
# Grace given to the pod when the operator stops it after the cancellation grace
# period has passed: SIGTERM, then SIGKILL a second later.
HARD_STOP_GRACE_SECONDS = 1
# How often to try again to create an attempt's Job that is not visible yet.
CREATE_RETRY_SECONDS = 2.0
# Status text fields are bounded by the CRD schema; longer ones are cut, never rejected.
MAX_MESSAGE = 8192


class RecordAt(enum.StrEnum):
    """Where an engine record goes in the log stream (see contract/logrecord.py)."""

    QUEUED = "queued"  # id 0-1
    BEFORE_ATTEMPT = "before"  # id <attempt>-0
    AFTER_ATTEMPT = "after"  # the attempt's engine id space, after every runner line


@dataclass(frozen=True)
class CreateAttempt:
    """Create the request Secret and the Job of `attempt` (409 = already there)."""

    attempt: int


@dataclass(frozen=True)
class SetCancelKey:
    """Ask the runner to stop cooperatively (Redis `keys.cancel`)."""

    reason: str


@dataclass(frozen=True)
class SetPodDeadline:
    """Give the running pod its hard deadline, counted from the container's start."""

    name: str
    seconds: int


@dataclass(frozen=True)
class DeletePod:
    """Stop a pod now (after the cooperative grace period, or on a start failure)."""

    name: str
    grace_seconds: int


@dataclass(frozen=True)
class DeleteJob:
    """Delete an attempt's Job (background propagation)."""

    name: str


@dataclass(frozen=True)
class EngineRecord:
    """A line of the operator's own in the execution's log stream."""

    at: RecordAt
    attempt: int
    # queued | starting | logs_missing | timed_out | cancelled | retrying | failed | cache_hit
    kind: str
    message: str
    level: str = "INFO"


Action = CreateAttempt | SetCancelKey | SetPodDeadline | DeletePod | DeleteJob | EngineRecord


@dataclass(frozen=True)
class CachedResult:
    """A data provider's options found in the shared cache before any pod ran."""

    key: str
    value: Any


@dataclass(frozen=True)
class Observed:
    """The world as the caller saw it, for the current attempt."""

    now: float
    job: sm.JobView | None = None
    pod: sm.PodView | None = None
    admitted: bool = False
    queue_position: int | None = None
    run_result: outcome.RunResult | None = None
    result_checked: bool = False  # the caller asked Redis (run_result None = unavailable)
    cached: CachedResult | None = None  # the shared cache answered (see `cachehits`)
    # The API server refused the attempt's objects for good (its message; see `apierrors`).
    create_rejected: str | None = None
    # The runner's lines of the attempt found in the stream, read once its process was
    # gone (None: not read, or Redis did not answer); see `logaccounting`.
    stream: logaccounting.StreamSeen | None = None
    waiting_for: str | None = None  # the cache group's leader it waits for (see `stampede`)


@dataclass(frozen=True)
class Decision:
    """The next status and what to do to get there."""

    status: status.ExecutionStatus
    actions: tuple[Action, ...] = ()
    requeue_after: float | None = None


@dataclass
class _Draft:
    """What is being decided: the next status (typed, mutable: see `statusdraft`), the
    actions, and when to look again; frozen into a Decision at the end."""

    st: StatusDraft
    now: float
    generation: int | None = None
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None

    def requeue(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds


@dataclass(frozen=True)
class Target:
    """The Execution being reconciled."""

    name: str
    namespace: str
    uid: str
    generation: int | None = None


def reconcile(
    target: Target,
    execution: spec.ExecutionSpec | str,
    current: status.ExecutionStatus,
    observed: Observed,
    settings: Settings,
) -> Decision:
    """The next status and actions. `execution` is the parsed spec or why it did not parse."""
    if current.phase is not None and current.phase.terminal:
        return Decision(conditions.at_generation(current, target.generation, observed.now))
    now = observed.now
    draft = _Draft(st=StatusDraft.of(current), now=now, generation=target.generation)
    draft.st.observed_generation = target.generation
    if isinstance(execution, str):
        _finish(draft, now, Phase.FAILED, Reason.INVALID_REQUEST, execution, "InvalidSpec")
        return _freeze(draft)

    if current.phase is None:
        _set_phase(draft, Phase.PENDING, Reason.QUEUED, "waiting for a slot")
        _condition(draft, status.CONDITION_ADMITTED, False, "Queued", None, now)
        _condition(draft, status.CONDITION_FINISHED, False, "Pending", None, now)
        draft.actions.append(
            EngineRecord(RecordAt.QUEUED, 0, "queued", f"execution {target.name} queued")
        )

    phase, reason = draft.st.phase, draft.st.reason
    attempt = draft.st.attempt

    # Cancellation is level-triggered: spec.cancel is read on every pass.
    if execution.cancel and phase != Phase.CANCELLING:
        if attempt == 0 or reason == Reason.RETRYING:
            # Nothing runs: no pod to stop, end at once.
            _finish(draft, now, Phase.CANCELLED, Reason.CANCELLED, "cancelled before it ran", None)
            draft.actions.append(
                EngineRecord(RecordAt.AFTER_ATTEMPT, attempt, "cancelled", "cancelled by request")
            )
            return _freeze(draft)
        _set_phase(
            draft,
            Phase.CANCELLING,
            Reason.CANCELLED,
            f"cancelling: the runner has {execution.grace_period_seconds}s to stop",
        )
        draft.st.cancel_requested_at = sm.format_time(now)
        draft.actions.append(SetCancelKey("cancelled by request"))
        phase = Phase.CANCELLING

    if phase == Phase.PENDING and attempt == 0:
        if observed.cached is not None:
            _answer_from_cache(draft, observed.cached, settings, now)
            return _freeze(draft)
        if observed.waiting_for is not None:
            draft.st.reason = Reason.WAITING_FOR_CACHE
            draft.st.message = f"waiting for {observed.waiting_for} to compute the same result"
            draft.st.queue_position = None
        elif observed.admitted:
            _start_attempt(draft, target, execution, 1, now)
        else:
            if reason == Reason.WAITING_FOR_CACHE:  # its leader ended without an entry
                draft.st.reason, draft.st.message = Reason.QUEUED, "waiting for a slot"
            draft.st.queue_position = observed.queue_position
        return _freeze(draft)

    if phase == Phase.PENDING and reason == Reason.RETRYING:
        retry_at = sm.parse_time(draft.st.retry_at) or now
        if now >= retry_at:
            _start_attempt(draft, target, execution, attempt + 1, now)
        else:
            draft.requeue(retry_at - now)
        return _freeze(draft)

    _follow_attempt(draft, target, execution, observed, settings)
    return _freeze(draft)


def _answer_from_cache(draft: _Draft, cached: CachedResult, settings: Settings, now: float) -> None:
    """End as SUCCESS/CacheHit with the cached options: no Job, no pod."""
    size = len(json.dumps(cached.value, default=str).encode())
    if size <= settings.inline_result_max_bytes:
        draft.st.result, draft.st.result_ref = cached.value, None
    else:
        draft.st.result = None
        draft.st.result_ref = status.ResultRef(redis_key=cached.key, bytes=size)
    draft.st.result_available = True
    draft.st.cache = status.CacheStatus(hit=True)
    _finish(draft, now, Phase.SUCCESS, Reason.CACHE_HIT, "answered from the shared cache", None)
    draft.actions.append(
        EngineRecord(
            RecordAt.AFTER_ATTEMPT,
            0,
            "cache_hit",
            f"answered from the shared cache ({cached.key}); no pod was started",
        )
    )


def _start_attempt(
    draft: _Draft, target: Target, execution: spec.ExecutionSpec, attempt: int, now: float
) -> None:
    stamp = sm.format_time(now)
    _set_phase(draft, Phase.PENDING, Reason.STARTING, f"starting attempt {attempt}")
    draft.st.attempt = attempt
    draft.st.queue_position = None
    draft.st.retry_at = None
    if draft.st.admitted_at is None:
        draft.st.admitted_at = stamp
    draft.st.attempts.append(
        AttemptDraft(
            attempt=attempt, job_name=naming.job_name(target.name, attempt), created_at=stamp
        )
    )
    _condition(draft, status.CONDITION_ADMITTED, True, "Admitted", None, now)
    draft.actions.append(
        EngineRecord(
            RecordAt.BEFORE_ATTEMPT,
            attempt,
            "starting",
            f"starting attempt {attempt} of {_max_attempts(execution)}",
        )
    )
    draft.actions.append(CreateAttempt(attempt))


def _max_attempts(execution: spec.ExecutionSpec) -> int:
    return 1 + (execution.retry.limit if execution.retry else 0)


def _follow_attempt(
    draft: _Draft,
    target: Target,
    execution: spec.ExecutionSpec,
    observed: Observed,
    settings: Settings,
) -> None:
    """An attempt was started: mirror its pod, end it, retry or finish."""
    now = observed.now
    attempt = draft.st.attempt
    current = draft.st.current
    job, pod = observed.job, observed.pod
    cancelling = draft.st.phase == Phase.CANCELLING
    cancel_at = sm.parse_time(draft.st.cancel_requested_at)
    if observed.create_rejected is not None and draft.st.phase == Phase.PENDING:
        # A 4xx on create fails the same way on every retry: say why now.
        _fail_start(
            draft,
            observed,
            Reason.INVALID_REQUEST,
            f"the API server refused the attempt: {observed.create_rejected}",
        )
        return

    ended = sm.attempt_outcome(job, pod, observed.run_result)
    if ended is None and cancelling and cancel_at is not None:
        waited = now - cancel_at
        if waited >= execution.grace_period_seconds:
            stopped = pod is None or pod.deleting
            job_gone = job is None or job.deleting
            if stopped and job_gone:
                ended = sm.AttemptOutcome(Phase.CANCELLED, Reason.CANCELLED, "stopped by request")
            else:
                if pod is not None and not pod.deleting:
                    draft.actions.append(DeletePod(pod.name, HARD_STOP_GRACE_SECONDS))
                if job is not None and not job.deleting:
                    draft.actions.append(DeleteJob(job.name))
                draft.requeue(POLL_SECONDS)
        else:
            draft.requeue(execution.grace_period_seconds - waited)
        if ended is None:
            return

    if ended is None:
        if job is None and pod is None:
            created = sm.parse_time(current.created_at) or now
            if draft.st.phase == Phase.PENDING:
                # Never seen running: the Job may not exist yet (a crash between the status
                # and the create, or watch lag). Creating is safe: a 409 means it exists.
                _mirror_live(
                    draft, observed, execution, settings
                )  # the start deadline still applies
                if draft.st.phase == Phase.PENDING:
                    draft.actions.append(CreateAttempt(attempt))
                    draft.requeue(CREATE_RETRY_SECONDS)
                return
            if now - created < settings.missing_job_grace_seconds:
                draft.requeue(settings.missing_job_grace_seconds - (now - created))
                return
            ended = sm.AttemptOutcome(
                Phase.FAILED,
                Reason.JOB_DELETED,
                f"Job {current.job_name} was deleted without a cancel request",
                str(Reason.JOB_DELETED),
            )
        else:
            _mirror_live(draft, observed, execution, settings)
            return

    if not cancelling and not execution.cancel:
        # Only spec.cancel cancels: any other stop is a failure with its cause (retryable).
        ended = stopcauses.refine(ended, job, pod)
    elif ended.phase not in (Phase.SUCCESS, Phase.COMPLETED_WITH_ERRORS):
        ended = sm.AttemptOutcome(
            Phase.CANCELLED,
            Reason.CANCELLED,
            "cancelled by request",
            None,
            ended.exit_code,
            ended.summary,
            ended.finished_at,
        )
    _end_attempt(draft, target, execution, observed, settings, ended)


def _mirror_live(
    draft: _Draft, observed: Observed, execution: spec.ExecutionSpec, settings: Settings
) -> None:
    """The attempt is still going: RUNNING once the runner runs, its hard deadline set
    from the container's start; catch pods that never start."""
    now = observed.now
    pod = observed.pod
    current = draft.st.current
    phase = draft.st.phase
    if pod is not None and pod.state == "running":
        deadline = deadlines.pod_deadline(pod, hard_deadline_seconds(execution, settings))
        if deadline is not None:
            draft.actions.append(SetPodDeadline(pod.name, deadline))
        started = pod.started_at or now
        if current.start_time is None:
            current.start_time = sm.format_time(started)
        if draft.st.start_time is None:
            draft.st.start_time = sm.format_time(started)
        if phase == Phase.PENDING:
            _set_phase(draft, Phase.RUNNING, Reason.RUNNING, None)
            _condition(draft, status.CONDITION_RUNNING, True, "Running", None, now)
        return
    if phase != Phase.PENDING:
        return
    created = sm.parse_time(current.created_at) or now
    problem = sm.start_problem(pod) if pod is not None else None
    if problem is not None:
        since = pod.created_at if pod and pod.created_at else created
        if problem.reason == Reason.IMAGE_PULL_FAILED and (
            problem.fatal_now or now - since >= settings.image_pull_deadline_seconds
        ):
            _fail_start(draft, observed, problem.reason, problem.message)
            return
        draft.requeue(max(0.5, settings.image_pull_deadline_seconds - (now - since)))
    if now - created >= settings.start_deadline_seconds:
        message = problem.message if problem else "the pod did not start in time"
        _fail_start(
            draft,
            observed,
            Reason.START_TIMEOUT,
            f"{message} (after {settings.start_deadline_seconds}s)",
        )
        return
    draft.requeue(settings.start_deadline_seconds - (now - created))


def _fail_start(draft: _Draft, observed: Observed, reason: Reason, message: str) -> None:
    """A pod that cannot start: stop it and end as FAILED (no retry: it would not start either)."""
    if observed.job is not None:
        draft.actions.append(DeleteJob(observed.job.name))
    if observed.pod is not None:
        draft.actions.append(DeletePod(observed.pod.name, 0))
    current = draft.st.current
    current.phase, current.reason, current.message = Phase.FAILED, reason, message
    current.completion_time = sm.format_time(observed.now)
    _finish(draft, observed.now, Phase.FAILED, reason, message, str(reason))
    draft.actions.append(
        EngineRecord(RecordAt.AFTER_ATTEMPT, draft.st.attempt, "failed", message, "ERROR")
    )


def _end_attempt(
    draft: _Draft,
    target: Target,
    execution: spec.ExecutionSpec,
    observed: Observed,
    settings: Settings,
    ended: sm.AttemptOutcome,
) -> None:
    now = observed.now
    attempt = draft.st.attempt
    finished = ended.finished_at or now
    current = draft.st.current
    current.phase, current.reason, current.message = ended.phase, ended.reason, ended.message
    current.completion_time = sm.format_time(finished)
    current.exit_code = ended.exit_code
    if current.start_time is None and observed.pod is not None and observed.pod.started_at:
        current.start_time = sm.format_time(observed.pod.started_at)
    if draft.st.start_time is None and current.start_time is not None:
        draft.st.start_time = current.start_time
    _record_logs(draft, ended, observed)
    _record_result(draft, target, ended, observed, settings)

    if not execution.cancel and retrying.should_retry(execution.retry, ended.phase, attempt):
        assert execution.retry is not None
        delay = retrying.backoff_seconds(execution.retry, target.uid, attempt)
        text = f"attempt {attempt} ended {ended.phase} ({ended.reason}): retrying in {delay:.1f}s"
        _set_phase(draft, Phase.PENDING, Reason.RETRYING, text)
        draft.st.retry_at = sm.format_time(now + delay)
        draft.st.error = _error(ended)
        _condition(draft, status.CONDITION_RUNNING, False, "Retrying", text, now)
        draft.actions.append(
            EngineRecord(RecordAt.AFTER_ATTEMPT, attempt, "retrying", text, "WARNING")
        )
        draft.requeue(delay)
        return

    run_seconds = None
    if attempt == 1 and ended.summary is not None and ended.summary.duration_ms > 0:
        run_seconds = ended.summary.duration_ms / 1000  # the pod's clock has whole seconds only
    _finish(
        draft, finished, ended.phase, ended.reason, ended.message, ended.error_type, run_seconds
    )
    if ended.phase == Phase.TIMED_OUT:
        text = f"timed out after {execution.timeout_seconds}s"
        if ended.reason == Reason.DEADLINE_EXCEEDED and ended.summary is None:
            text += f" (hard deadline {hard_deadline_seconds(execution, settings)}s: pod stopped)"
        draft.actions.append(
            EngineRecord(RecordAt.AFTER_ATTEMPT, attempt, "timed_out", text, "ERROR")
        )
    elif ended.phase == Phase.CANCELLED:
        draft.actions.append(
            EngineRecord(
                RecordAt.AFTER_ATTEMPT, attempt, "cancelled", "cancelled by request", "WARNING"
            )
        )
    elif ended.summary is None and ended.phase == Phase.FAILED:
        draft.actions.append(
            EngineRecord(RecordAt.AFTER_ATTEMPT, attempt, "failed", ended.message or "", "ERROR")
        )


def _error(ended: sm.AttemptOutcome) -> status.ErrorStatus | None:
    if ended.phase == Phase.SUCCESS:
        return None
    return status.ErrorStatus(
        type=(ended.error_type or str(ended.reason))[:256],
        message=(ended.message or str(ended.reason))[:8192],
    )


def _record_logs(draft: _Draft, ended: sm.AttemptOutcome, observed: Observed) -> None:
    summary = ended.summary
    if summary is None and observed.run_result is not None:
        summary = observed.run_result.summary()
    logs = logaccounting.logs_status(
        observed.stream,
        summary.last_sequence if summary is not None else None,
        summary.dropped if summary is not None else 0,
    )
    if logs is not None:
        draft.st.logs = logs
        if observed.stream is not None:
            gaps = logaccounting.missing(observed.stream, logs.last_sequence)
            if gaps:
                attempt = draft.st.attempt
                draft.actions.append(
                    EngineRecord(
                        RecordAt.AFTER_ATTEMPT,
                        attempt,
                        "logs_missing",
                        logaccounting.missing_message(attempt, gaps),
                        "WARNING",
                    )
                )
    if summary is None:
        return
    if summary.cache_hit is not None:  # a data provider said where its options came from
        draft.st.cache = status.CacheStatus(hit=summary.cache_hit)


def _record_result(
    draft: _Draft,
    target: Target,
    ended: sm.AttemptOutcome,
    observed: Observed,
    settings: Settings,
) -> None:
    attempt = draft.st.attempt
    draft.st.result, draft.st.result_ref, draft.st.result_available = None, None, None
    run = observed.run_result
    if run is not None:
        encoded = json.dumps(run.result, default=str)
        size = len(encoded.encode())
        if size <= settings.inline_result_max_bytes:
            draft.st.result = run.result
        else:
            draft.st.result_ref = status.ResultRef(
                redis_key=keys.result(target.namespace, target.uid, attempt), bytes=size
            )
        draft.st.result_available = True
    elif observed.result_checked and ended.summary is not None:
        # The runner reported, but its full result could not be read (Redis down).
        draft.st.result_available = False


def _finish(
    draft: _Draft,
    at: float,
    phase: Phase,
    reason: Reason,
    message: str | None,
    error_type: str | None,
    run_seconds: float | None = None,
) -> None:
    """Enter a terminal phase with its conditions, times and error."""
    stamp = sm.format_time(at)
    _set_phase(draft, phase, reason, message)
    draft.st.completion_time = stamp
    draft.st.queue_position = None
    draft.st.retry_at = None
    if phase == Phase.SUCCESS:
        draft.st.error = None
    else:
        draft.st.error = status.ErrorStatus(
            type=(error_type or str(reason))[:256], message=(message or str(reason))[:8192]
        )
    started = sm.parse_time(draft.st.start_time)
    if run_seconds is None and started is not None:
        run_seconds = max(0.0, at - started)
    if run_seconds is not None:
        seconds = run_seconds
        draft.st.duration_seconds = round(seconds, 3)
        draft.st.duration = human_duration(seconds)
    _condition(draft, status.CONDITION_RUNNING, False, str(phase), None, at)
    _condition(draft, status.CONDITION_FINISHED, True, str(phase), message, at)
    _condition(draft, status.CONDITION_SUCCEEDED, phase == Phase.SUCCESS, str(phase), message, at)


def _condition(
    draft: _Draft, kind: str, value: bool, reason: str, message: str | None, now: float
) -> None:
    """Set a condition; its transition time moves only when its status changes."""
    draft.st.conditions = conditions.set_condition(
        draft.st.conditions, kind, value, reason, message, now, draft.generation
    )


def human_duration(seconds: float) -> str:
    """`850ms`, `12.3s`, `4m05s`, `2h03m` — what `kubectl get` shows."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _clip(text: str | None) -> str | None:
    if isinstance(text, str) and len(text) > MAX_MESSAGE:
        return text[: MAX_MESSAGE - 15] + "…[truncated]"
    return text


def _set_phase(draft: _Draft, phase: Phase, reason: Reason, message: str | None) -> None:
    draft.st.phase, draft.st.reason, draft.st.message = phase, reason, message


def _freeze(draft: _Draft) -> Decision:
    draft.st.message = _clip(draft.st.message)
    phase, reason = draft.st.phase, draft.st.reason
    draft.st.conditions = conditions.with_health(
        draft.st.conditions,
        Phase(phase) if phase is not None else None,
        str(reason) if reason is not None else None,
        draft.st.message,
        draft.now,
        draft.generation,
    )
    for attempt in draft.st.attempts:
        attempt.message = _clip(attempt.message)
    return Decision(
        status=draft.st.freeze(),
        actions=tuple(draft.actions),
        requeue_after=draft.requeue_after,
    )
