"""Read Jobs and Pods into small views, and map an ended attempt to a phase and reason.

Pure: raw bodies in, frozen dataclasses out. `reconciling` uses the views to
decide; `handlers` only parses what the watch delivers. The mapping table (in
the order it is checked) is in `attempt_outcome` and in docs/operator.md.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from kuberun.contract import outcome
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import manifests

IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
# Not worth waiting for: the name itself is wrong.
IMAGE_PULL_FATAL = frozenset({"InvalidImageName", "ErrImageNeverPull"})
# Waiting reasons that mean the container can never start as configured.
CONFIG_ERROR_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})


def parse_time(text: str | None) -> float | None:
    """Unix seconds of an RFC 3339 timestamp, or None."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def format_time(seconds: float) -> str:
    """RFC 3339 in UTC with milliseconds, as stored in status."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class PodView:
    """What matters about an attempt's pod."""

    name: str
    phase: str = "Pending"
    reason: str | None = None  # pod-level, e.g. Evicted
    message: str | None = None
    created_at: float | None = None
    deleting: bool = False
    pod_started_at: float | None = None  # status.startTime: the kubelet took the pod
    deadline_seconds: int | None = None  # spec.activeDeadlineSeconds
    state: str | None = None  # container state: waiting | running | terminated
    waiting_reason: str | None = None
    waiting_message: str | None = None
    started_at: float | None = None
    exit_code: int | None = None
    terminated_reason: str | None = None
    termination_message: str | None = None
    finished_at: float | None = None
    # The reason of a True DisruptionTarget condition (EvictionByEvictionAPI,
    # PreemptionByScheduler, DeletionByTaintManager, TerminationByKubelet, ...).
    disruption: str | None = None

    @property
    def terminated(self) -> bool:
        """The runner process is gone (or the pod failed before it could start)."""
        return self.state == "terminated" or self.phase in ("Succeeded", "Failed")


@dataclass(frozen=True)
class JobView:
    """What matters about an attempt's Job."""

    name: str
    attempt: int
    complete: bool = False
    failed: bool = False
    failed_reason: str | None = None  # DeadlineExceeded, BackoffLimitExceeded, ...
    failed_message: str | None = None
    deleting: bool = False
    created_at: float | None = None


def pod_view(body: Mapping[str, Any]) -> PodView:
    """The view of a raw Pod body (as a watch delivers it)."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    view = PodView(
        name=str(meta.get("name", "")),
        phase=str(status.get("phase") or "Pending"),
        reason=status.get("reason"),
        message=status.get("message"),
        created_at=parse_time(meta.get("creationTimestamp")),
        deleting=meta.get("deletionTimestamp") is not None,
        pod_started_at=parse_time(status.get("startTime")),
        deadline_seconds=(body.get("spec") or {}).get("activeDeadlineSeconds"),
        disruption=next(
            (
                str(c.get("reason") or "DisruptionTarget")
                for c in status.get("conditions") or []
                if c.get("type") == "DisruptionTarget" and c.get("status") == "True"
            ),
            None,
        ),
    )
    containers = status.get("containerStatuses") or []
    runner = next(
        (c for c in containers if c.get("name") == manifests.RUNNER_CONTAINER),
        containers[0] if containers else None,
    )
    if not runner:
        return view
    state = runner.get("state") or {}
    if "terminated" in state:
        term = state["terminated"] or {}
        return _replace(
            view,
            state="terminated",
            exit_code=term.get("exitCode"),
            terminated_reason=term.get("reason"),
            termination_message=term.get("message"),
            started_at=parse_time(term.get("startedAt")),
            finished_at=parse_time(term.get("finishedAt")),
        )
    if "running" in state:
        return _replace(
            view,
            state="running",
            started_at=parse_time((state["running"] or {}).get("startedAt")),
        )
    if "waiting" in state:
        wait = state["waiting"] or {}
        return _replace(
            view,
            state="waiting",
            waiting_reason=wait.get("reason"),
            waiting_message=wait.get("message"),
        )
    return view


def _replace(view: PodView, **changes: Any) -> PodView:
    return dataclasses.replace(view, **changes)


def job_view(body: Mapping[str, Any], attempt: int) -> JobView:
    """The view of a raw Job body."""
    meta = body.get("metadata") or {}
    conditions = (body.get("status") or {}).get("conditions") or []
    complete = failed = False
    failed_reason = failed_message = None
    for cond in conditions:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            complete = True
        elif cond.get("type") == "Failed":
            failed = True
            failed_reason = cond.get("reason")
            failed_message = cond.get("message")
        elif cond.get("type") == "FailureTarget" and not failed:
            # Kubernetes ≥1.31 sets FailureTarget first (reason DeadlineExceeded) and
            # Failed only once the pods are gone; the reason is known already.
            failed_reason = failed_reason or cond.get("reason")
    return JobView(
        name=str(meta.get("name", "")),
        attempt=attempt,
        complete=complete,
        failed=failed,
        failed_reason=failed_reason,
        failed_message=failed_message,
        deleting=meta.get("deletionTimestamp") is not None,
        created_at=parse_time(meta.get("creationTimestamp")),
    )


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt ended, as the status will say it."""

    phase: Phase
    reason: Reason
    message: str | None = None
    error_type: str | None = None
    exit_code: int | None = None
    summary: outcome.TerminationSummary | None = None
    finished_at: float | None = None


def decode_summary(message: str | None) -> outcome.TerminationSummary | None:
    """The runner's verdict from a termination message, or None if there is none."""
    if not message:
        return None
    try:
        return outcome.TerminationSummary.decode(message)
    except (pydantic.ValidationError, ValueError):
        return None


def _from_summary(
    summary: outcome.TerminationSummary, exit_code: int | None, finished_at: float | None
) -> AttemptOutcome:
    return AttemptOutcome(
        phase=summary.status,
        reason=summary.reason,
        message=summary.message,
        error_type=summary.error_type,
        exit_code=exit_code,
        summary=summary,
        finished_at=finished_at,
    )


def attempt_outcome(
    job: JobView | None,
    pod: PodView | None,
    run_result: outcome.RunResult | None = None,
) -> AttemptOutcome | None:
    """The outcome of an attempt that has ended, or None while it has not.

    Checked in this order (the first that applies wins):

    1. container OOMKilled → FAILED/OOMKilled (the runner could not report);
    2. pod Evicted → FAILED/Evicted;
    3. the runner's termination message → its own verdict;
    4. the runner's RunResult from Redis (a message lost, e.g. pod deleted) → its verdict;
    5. pod or Job DeadlineExceeded, once the pod has ended → TIMED_OUT/DeadlineExceeded
       (a hung runner was killed);
    6. one of the runner's exit codes without a message → that verdict;
    7. killed by a signal (exit > 128) → FAILED/RunnerKilled; any other exit → FAILED/RunnerDied;
    8. Job failed or complete with no pod left to ask → FAILED/RunnerDied.
    """
    pod_ended = pod is not None and pod.terminated
    job_ended = job is not None and (job.complete or job.failed)
    # The pod's own deadline (set at the container's start) or the Job's backstop. The
    # attempt ends with the pod, not before: a Job shows FailureTarget while its pod is
    # still stopping, and the runner may still be writing its last lines.
    deadline = (
        (pod is not None and pod.reason == "DeadlineExceeded")
        or (job is not None and job.failed_reason == "DeadlineExceeded")
    ) and (pod is None or pod.terminated)
    if not pod_ended and not job_ended and not deadline:
        return None
    exit_code = pod.exit_code if pod else None
    finished_at = pod.finished_at if pod else None
    if pod is not None and pod.terminated_reason == "OOMKilled":
        return AttemptOutcome(
            Phase.FAILED,
            Reason.OOM_KILLED,
            "the runner exceeded its memory limit and was killed",
            "OOMKilled",
            exit_code,
            finished_at=finished_at,
        )
    if pod is not None and pod.reason == "Evicted":
        return AttemptOutcome(
            Phase.FAILED,
            Reason.EVICTED,
            pod.message or "the pod was evicted",
            "Evicted",
            exit_code,
            finished_at=finished_at,
        )
    summary = decode_summary(pod.termination_message) if pod else None
    if summary is not None:
        return _from_summary(summary, exit_code, finished_at)
    if run_result is not None:
        return _from_summary(run_result.summary(), exit_code, finished_at)
    if deadline:
        return AttemptOutcome(
            Phase.TIMED_OUT,
            Reason.DEADLINE_EXCEEDED,
            "the hard deadline passed and the pod was stopped",
            "DeadlineExceeded",
            exit_code,
            finished_at=finished_at,
        )
    if pod_ended and exit_code is not None:
        verdict = outcome.phase_for_exit_code(exit_code)
        if verdict is not None:
            reason = _REASON_FOR_VERDICT[verdict]
            if exit_code == outcome.ExitCode.INVALID_REQUEST:
                reason = Reason.INVALID_REQUEST
            return AttemptOutcome(
                verdict,
                reason,
                f"the runner exited with {exit_code} and left no termination message",
                None,
                exit_code,
                finished_at=finished_at,
            )
        if exit_code > 128:
            return AttemptOutcome(
                Phase.FAILED,
                Reason.RUNNER_KILLED,
                f"the runner was killed by signal {exit_code - 128} without a verdict",
                "RunnerKilled",
                exit_code,
                finished_at=finished_at,
            )
        return AttemptOutcome(
            Phase.FAILED,
            Reason.RUNNER_DIED,
            f"the runner exited with code {exit_code} without a verdict",
            "RunnerDied",
            exit_code,
            finished_at=finished_at,
        )
    if pod_ended:
        return AttemptOutcome(
            Phase.FAILED,
            Reason.RUNNER_DIED,
            pod.message if pod and pod.message else "the pod failed without a verdict",
            "RunnerDied",
            exit_code,
            finished_at=finished_at,
        )
    if job is not None and job.failed:
        return AttemptOutcome(
            Phase.FAILED,
            Reason.RUNNER_DIED,
            job.failed_message or f"the Job failed ({job.failed_reason}) without a verdict",
            "RunnerDied",
        )
    if job is not None and job.complete and pod is None:
        # Complete means exit 0 = the runner's SUCCESS; its details went with the pod.
        return AttemptOutcome(
            Phase.SUCCESS, Reason.COMPLETED, "the pod is gone; the Job reports success"
        )
    return None


_REASON_FOR_VERDICT: dict[Phase, Reason] = {
    Phase.SUCCESS: Reason.COMPLETED,
    Phase.COMPLETED_WITH_ERRORS: Reason.COMPLETED_WITH_ERRORS,
    Phase.FAILED: Reason.EXCEPTION,
    Phase.TIMED_OUT: Reason.DEADLINE_EXCEEDED,
    Phase.CANCELLED: Reason.CANCELLED,
}


@dataclass(frozen=True)
class StartProblem:
    """A pod that will not start: why, and since when the problem counts."""

    reason: Reason
    message: str
    fatal_now: bool


def start_problem(pod: PodView) -> StartProblem | None:
    """An image-pull or configuration problem keeping the runner from starting."""
    if pod.state != "waiting" or pod.waiting_reason is None:
        return None
    detail = pod.waiting_message or pod.waiting_reason
    if pod.waiting_reason in IMAGE_PULL_REASONS:
        return StartProblem(
            Reason.IMAGE_PULL_FAILED,
            f"{pod.waiting_reason}: {detail}",
            pod.waiting_reason in IMAGE_PULL_FATAL,
        )
    if pod.waiting_reason in CONFIG_ERROR_REASONS:
        return StartProblem(Reason.START_TIMEOUT, f"{pod.waiting_reason}: {detail}", False)
    return None
