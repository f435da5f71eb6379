"""Why an attempt was stopped when nobody set `spec.cancel`.

Pure. Only `spec.cancel` (or the Execution's deletion) may end an Execution
CANCELLED. The runner cannot tell a cancel's SIGTERM from any other: it
reports FAILED/Terminated when it saw no cancel key (an older runner reported
CANCELLED). The operator knows whether it asked, so it judges here, from what
the cluster shows about the attempt's Job and pod:

    the Job is gone or being deleted                   → FAILED/JobDeleted
    the pod has DisruptionTarget (Eviction API, drain, preemption,
    taint eviction) or was evicted by the kubelet      → FAILED/Evicted
    anything else (the pod deleted directly, a kill)   → FAILED/RunnerDied

Each is an ordinary FAILED, so `spec.retry` retries it (a node drain must not
silently end work).
"""

from __future__ import annotations

from kuberun.contract.phases import Phase, Reason
from kuberun_operator import statusmapping as sm

# Outcomes that only say "stopped from outside": refined by the cause when not cancelling.
UNREQUESTED = frozenset({Reason.TERMINATED, Reason.RUNNER_KILLED, Reason.RUNNER_DIED})


def refine(
    ended: sm.AttemptOutcome, job: sm.JobView | None, pod: sm.PodView | None
) -> sm.AttemptOutcome:
    """`ended` with the real cause of a stop nobody asked for (call only when not cancelling).

    A runner verdict of the code's own (SUCCESS, an exception, a timeout) is kept:
    the code ended before the stop mattered.
    """
    if ended.phase == Phase.CANCELLED:
        pass  # an older runner's verdict on any SIGTERM
    elif ended.phase != Phase.FAILED or ended.reason not in UNREQUESTED:
        return ended
    cause = _cause(job, pod)
    if cause is None:
        if ended.reason in (Reason.RUNNER_KILLED, Reason.RUNNER_DIED):
            return ended
        cause = (
            Reason.RUNNER_DIED,
            "the runner was stopped (SIGTERM) without a cancel request",
        )
    reason, message = cause
    detail = ended.message
    if detail and "without a cancel request" not in detail:  # the runner's words add nothing
        message = f"{message} ({detail})"
    return sm.AttemptOutcome(
        Phase.FAILED,
        reason,
        message,
        str(reason),
        ended.exit_code,
        ended.summary,
        ended.finished_at,
    )


def _cause(job: sm.JobView | None, pod: sm.PodView | None) -> tuple[Reason, str] | None:
    # The Job first: its pods may then be disrupted as a consequence of its deletion.
    if job is None or job.deleting:
        return Reason.JOB_DELETED, "the attempt's Job was deleted without a cancel request"
    if pod is not None and (pod.disruption is not None or pod.reason == "Evicted"):
        why = pod.disruption or pod.reason
        return Reason.EVICTED, f"the pod was evicted ({why}) without a cancel request"
    return None
