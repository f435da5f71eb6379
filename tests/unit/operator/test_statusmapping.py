"""How an ended attempt maps to a phase and reason: the table in docs/operator.md."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.contract import outcome
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import statusmapping as sm
from tests.unit.operator import factories as f


def summary(phase: Phase, reason: Reason, **extra: Any) -> str:
    return outcome.TerminationSummary(status=phase, reason=reason, **extra).encode().decode()


CASES = [
    ("running", f.job(), f.pod(state=f.running()), None),
    ("pending-no-pod", f.job(), None, None),
    (
        "success",
        f.job(complete=True),
        f.pod(
            phase="Succeeded",
            state=f.terminated(
                0, reason="Completed", message=summary(Phase.SUCCESS, Reason.COMPLETED)
            ),
        ),
        (Phase.SUCCESS, Reason.COMPLETED),
    ),
    (
        "completed-with-errors",
        f.job(failed_reason="BackoffLimitExceeded"),
        f.pod(
            phase="Failed",
            state=f.terminated(
                10, message=summary(Phase.COMPLETED_WITH_ERRORS, Reason.COMPLETED_WITH_ERRORS)
            ),
        ),
        (Phase.COMPLETED_WITH_ERRORS, Reason.COMPLETED_WITH_ERRORS),
    ),
    (
        "user-error",
        f.job(failed_reason="BackoffLimitExceeded"),
        f.pod(
            phase="Failed",
            state=f.terminated(
                11,
                message=summary(
                    Phase.FAILED, Reason.USER_ERROR, error_type="UserError", message="bad input"
                ),
            ),
        ),
        (Phase.FAILED, Reason.USER_ERROR),
    ),
    (
        "runner-soft-timeout",
        f.job(failed_reason="BackoffLimitExceeded"),
        f.pod(
            phase="Failed",
            state=f.terminated(12, message=summary(Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED)),
        ),
        (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED),
    ),
    (
        "hard-deadline-pod-gone",
        f.job(failed_reason="DeadlineExceeded"),
        None,
        (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED),
    ),
    (
        "hard-deadline-killed",
        f.job(failed_reason="DeadlineExceeded"),
        f.pod(phase="Failed", state=f.terminated(137)),
        (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED),
    ),
    (
        "job-deadline-pod-still-stopping",  # FailureTarget comes first: wait for the pod
        f.job(failure_target="DeadlineExceeded"),
        f.pod(phase="Running", state=f.running()),
        None,
    ),
    (
        "job-deadline-pod-stopped",
        f.job(failure_target="DeadlineExceeded"),
        f.pod(phase="Failed", state=f.terminated(137)),
        (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED),
    ),
    (
        "pod-deadline-killed",
        f.job(),
        f.pod(phase="Failed", reason="DeadlineExceeded", state=f.terminated(137)),
        (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED),
    ),
    (
        "pod-deadline-still-stopping",
        f.job(),
        f.pod(phase="Running", reason="DeadlineExceeded", state=f.running()),
        None,
    ),
    (
        "oom-beats-everything",
        f.job(failed_reason="BackoffLimitExceeded"),
        f.pod(phase="Failed", state=f.terminated(137, reason="OOMKilled")),
        (Phase.FAILED, Reason.OOM_KILLED),
    ),
    (
        "evicted",
        f.job(),
        f.pod(phase="Failed", reason="Evicted", message="node low on memory"),
        (Phase.FAILED, Reason.EVICTED),
    ),
    (
        "exit-code-without-message",
        f.job(failed_reason="BackoffLimitExceeded"),
        f.pod(phase="Failed", state=f.terminated(13)),
        (Phase.CANCELLED, Reason.CANCELLED),
    ),
    (
        "invalid-request-exit",
        f.job(failed_reason="BackoffLimitExceeded"),
        f.pod(phase="Failed", state=f.terminated(14)),
        (Phase.FAILED, Reason.INVALID_REQUEST),
    ),
    (
        "killed-by-signal",
        f.job(),
        f.pod(phase="Failed", state=f.terminated(137)),
        (Phase.FAILED, Reason.RUNNER_KILLED),
    ),
    (
        "crashed",
        f.job(),
        f.pod(phase="Failed", state=f.terminated(1)),
        (Phase.FAILED, Reason.RUNNER_DIED),
    ),
    (
        "garbage-message",
        f.job(),
        f.pod(phase="Failed", state=f.terminated(1, message="Traceback: not json")),
        (Phase.FAILED, Reason.RUNNER_DIED),
    ),
    (
        "job-failed-no-pod",
        f.job(failed_reason="BackoffLimitExceeded"),
        None,
        (Phase.FAILED, Reason.RUNNER_DIED),
    ),
    ("job-complete-no-pod", f.job(complete=True), None, (Phase.SUCCESS, Reason.COMPLETED)),
]


@pytest.mark.parametrize("job, pod, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_attempt_outcome(
    job: dict[str, Any], pod: dict[str, Any] | None, expected: tuple[Phase, Reason] | None
) -> None:
    got = sm.attempt_outcome(sm.job_view(job, 1), sm.pod_view(pod) if pod else None)
    assert ((got.phase, got.reason) if got else None) == expected


def test_redis_result_is_used_when_the_message_is_lost() -> None:
    result = outcome.RunResult(status=Phase.FAILED, reason=Reason.USER_ERROR, last_sequence=4)
    got = sm.attempt_outcome(
        sm.job_view(f.job(failed_reason="BackoffLimitExceeded"), 1), None, result
    )
    assert got is not None and (got.phase, got.reason) == (Phase.FAILED, Reason.USER_ERROR)


def test_user_error_message_reaches_the_outcome() -> None:
    pod = f.pod(
        phase="Failed",
        state=f.terminated(
            11,
            message=summary(
                Phase.FAILED,
                Reason.USER_ERROR,
                error_type="UserError",
                message="amount must be > 0",
            ),
        ),
    )
    got = sm.attempt_outcome(sm.job_view(f.job(), 1), sm.pod_view(pod))
    assert got is not None
    assert (got.error_type, got.message) == ("UserError", "amount must be > 0")


@pytest.mark.parametrize(
    "reason, fatal",
    [("ErrImagePull", False), ("ImagePullBackOff", False), ("InvalidImageName", True)],
)
def test_image_pull_problems(reason: str, fatal: bool) -> None:
    problem = sm.start_problem(sm.pod_view(f.pod(phase="Pending", state=f.waiting(reason))))
    assert problem is not None
    assert (problem.reason, problem.fatal_now) == (Reason.IMAGE_PULL_FAILED, fatal)


def test_container_creating_is_not_a_problem() -> None:
    view = sm.pod_view(f.pod(phase="Pending", state=f.waiting("ContainerCreating")))
    assert sm.start_problem(view) is None


def test_time_round_trip() -> None:
    assert sm.parse_time(sm.format_time(f.T0 + 0.25)) == pytest.approx(f.T0 + 0.25)
