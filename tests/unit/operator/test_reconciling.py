"""The reconcile decision, one scenario per row: status in, next status and actions out."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.contract import outcome, spec, status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import reconciling as rc
from kuberun_operator import statusmapping as sm
from kuberun_operator.settings import Settings
from tests.unit.operator import factories as f

TARGET = rc.Target(name="run", namespace="team", uid="uid-1", generation=1)
SETTINGS = Settings(image_pull_deadline_seconds=30, start_deadline_seconds=600)


def make_spec(**extra: Any) -> spec.ExecutionSpec:
    return spec.ExecutionSpec.model_validate({"source": {"inline": "print(1)"}, **extra})


def decide(
    current: status.ExecutionStatus,
    *,
    execution: spec.ExecutionSpec | None = None,
    job: dict[str, Any] | None = None,
    pod: dict[str, Any] | None = None,
    now: float = f.T0 + 10,
    **observed: Any,
) -> rc.Decision:
    obs = rc.Observed(
        now=now,
        job=sm.job_view(job, current.attempt) if job else None,
        pod=sm.pod_view(pod) if pod else None,
        **observed,
    )
    return rc.reconcile(TARGET, execution or make_spec(), current, obs, SETTINGS)


def started(attempt: int = 1, phase: Phase = Phase.RUNNING, **extra: Any) -> status.ExecutionStatus:
    attempts = [
        status.AttemptStatus(
            attempt=n,
            job_name=f"run-{n}",
            created_at=f.stamp(f.T0),
            phase=None if n == attempt else Phase.FAILED,
        )
        for n in range(1, attempt + 1)
    ]
    reason = Reason.RUNNING if phase == Phase.RUNNING else Reason.STARTING
    return status.ExecutionStatus(
        phase=phase, reason=reason, attempt=attempt, attempts=attempts, **extra
    )


def kinds(decision: rc.Decision) -> list[str]:
    return [type(a).__name__ for a in decision.actions]


def summary(phase: Phase, reason: Reason, **extra: Any) -> str:
    return outcome.TerminationSummary(status=phase, reason=reason, **extra).encode().decode()


def test_new_execution_is_queued_with_a_record() -> None:
    got = decide(status.ExecutionStatus(), queue_position=3)
    assert (got.status.phase, got.status.reason, got.status.queue_position) == (
        Phase.PENDING,
        Reason.QUEUED,
        3,
    )
    assert got.actions[0] == rc.EngineRecord(
        rc.RecordAt.QUEUED, 0, "queued", "execution run queued"
    )


def test_admitted_execution_starts_attempt_one() -> None:
    got = decide(status.ExecutionStatus(), admitted=True)
    assert (got.status.phase, got.status.reason, got.status.attempt) == (
        Phase.PENDING,
        Reason.STARTING,
        1,
    )
    assert got.status.attempts[0].job_name == "run-1"
    assert rc.CreateAttempt(1) in got.actions
    assert kinds(got) == ["EngineRecord", "EngineRecord", "CreateAttempt"]


def test_created_job_not_yet_seen_is_created_again_idempotently() -> None:
    got = decide(started(phase=Phase.PENDING), now=f.T0 + 1)
    assert got.actions == (rc.CreateAttempt(1),)
    assert got.status.phase == Phase.PENDING


def test_starting_attempt_without_job_after_a_long_outage_is_created_not_failed() -> None:
    got = decide(started(phase=Phase.PENDING), now=f.T0 + 300)
    assert got.status.phase == Phase.PENDING
    assert got.actions == (rc.CreateAttempt(1),)


def test_starting_attempt_without_job_past_the_start_deadline_fails_without_creating() -> None:
    got = decide(started(phase=Phase.PENDING), now=f.T0 + 601)
    assert (got.status.phase, got.status.reason) == (Phase.FAILED, Reason.START_TIMEOUT)
    assert not any(isinstance(a, rc.CreateAttempt) for a in got.actions)


def test_long_messages_are_cut_to_the_schema_bound() -> None:
    pod = f.pod(phase="Failed", reason="Evicted", message="x" * 20000)
    got = decide(started(), job=f.job(), pod=pod)
    assert got.status.message is not None and len(got.status.message) <= rc.MAX_MESSAGE


def test_job_gone_for_long_was_deleted() -> None:
    got = decide(started(), now=f.T0 + 60)
    assert (got.status.phase, got.status.reason) == (Phase.FAILED, Reason.JOB_DELETED)


def test_running_pod_makes_running() -> None:
    got = decide(started(phase=Phase.PENDING), job=f.job(), pod=f.pod(state=f.running()))
    assert (got.status.phase, got.status.reason) == (Phase.RUNNING, Reason.RUNNING)
    assert got.status.start_time == f.stamp(f.T0 + 1)
    assert got.actions == ()


def test_running_pod_gets_its_hard_deadline_from_the_container_start() -> None:
    execution = make_spec(timeoutSeconds=10, gracePeriodSeconds=2)
    slow = f.pod(started=f.T0, state=f.running(f.T0 + 30))  # 30 s of pulling and starting

    got = decide(started(phase=Phase.PENDING), execution=execution, job=f.job(), pod=slow)

    run = 10 + 2 + SETTINGS.deadline_slack_seconds
    assert got.actions == (rc.SetPodDeadline(slow["metadata"]["name"], 30 + run),)
    already = f.pod(started=f.T0, state=f.running(f.T0 + 30), deadline=30 + run)
    assert decide(started(), execution=execution, job=f.job(), pod=already).actions == ()


TERMINAL = [
    (
        "success",
        0,
        "Completed",
        summary(Phase.SUCCESS, Reason.COMPLETED, last_sequence=7),
        None,
        Phase.SUCCESS,
        Reason.COMPLETED,
    ),
    (
        "user-error",
        11,
        "Error",
        summary(Phase.FAILED, Reason.USER_ERROR, error_type="UserError", message="no"),
        None,
        Phase.FAILED,
        Reason.USER_ERROR,
    ),
    ("oom", 137, "OOMKilled", None, None, Phase.FAILED, Reason.OOM_KILLED),
    (
        "hard-deadline",
        137,
        "Error",
        None,
        "DeadlineExceeded",
        Phase.TIMED_OUT,
        Reason.DEADLINE_EXCEEDED,
    ),
]


@pytest.mark.parametrize(
    "code, term_reason, message, job_failure, phase, reason",
    [t[1:] for t in TERMINAL],
    ids=[t[0] for t in TERMINAL],
)
def test_terminal_outcomes(
    code: int,
    term_reason: str,
    message: str | None,
    job_failure: str | None,
    phase: Phase,
    reason: Reason,
) -> None:
    pod = f.pod(phase="Failed", state=f.terminated(code, reason=term_reason, message=message))
    got = decide(started(), job=f.job(failed_reason=job_failure), pod=pod)
    assert (got.status.phase, got.status.reason) == (phase, reason)
    assert got.status.completion_time == f.stamp(f.T0 + 5)
    assert got.status.duration == "4.0s"
    cond = {c.type: c.status for c in got.status.conditions}
    assert cond[status.CONDITION_FINISHED] == "True"
    assert cond[status.CONDITION_SUCCEEDED] == ("True" if phase == Phase.SUCCESS else "False")
    assert got.status.attempts[-1].phase == phase


def test_user_error_fills_error() -> None:
    pod = f.pod(
        phase="Failed",
        state=f.terminated(
            11,
            message=summary(
                Phase.FAILED, Reason.USER_ERROR, error_type="UserError", message="amount < 0"
            ),
        ),
    )
    got = decide(started(), job=f.job(), pod=pod)
    assert got.status.error == status.ErrorStatus(type="UserError", message="amount < 0")


def test_result_inline_and_logs() -> None:
    pod = f.pod(
        phase="Succeeded",
        state=f.terminated(
            0, reason="Completed", message=summary(Phase.SUCCESS, Reason.COMPLETED, last_sequence=3)
        ),
    )
    run = outcome.RunResult(
        status=Phase.SUCCESS, reason=Reason.COMPLETED, result={"x": 1}, last_sequence=3
    )
    got = decide(started(), job=f.job(complete=True), pod=pod, run_result=run, result_checked=True)
    assert got.status.result == {"x": 1}
    assert got.status.result_available is True
    assert got.status.logs == status.LogsStatus(last_sequence=3, complete=True)


def test_large_result_is_referenced() -> None:
    pod = f.pod(
        phase="Succeeded",
        state=f.terminated(0, reason="Completed", message=summary(Phase.SUCCESS, Reason.COMPLETED)),
    )
    run = outcome.RunResult(status=Phase.SUCCESS, reason=Reason.COMPLETED, result="x" * 20000)
    got = decide(started(), job=f.job(complete=True), pod=pod, run_result=run, result_checked=True)
    assert got.status.result is None
    assert got.status.result_ref is not None
    assert got.status.result_ref.redis_key == "kuberun:{team:uid-1}:result:1"


def test_redis_down_marks_result_unavailable() -> None:
    pod = f.pod(
        phase="Succeeded",
        state=f.terminated(0, reason="Completed", message=summary(Phase.SUCCESS, Reason.COMPLETED)),
    )
    got = decide(started(), job=f.job(complete=True), pod=pod, result_checked=True)
    assert (got.status.phase, got.status.result_available) == (Phase.SUCCESS, False)


def test_cancel_while_queued_ends_without_a_pod() -> None:
    queued = status.ExecutionStatus(phase=Phase.PENDING, reason=Reason.QUEUED)
    got = decide(queued, execution=make_spec(cancel=True), admitted=True)
    assert (got.status.phase, got.status.reason) == (Phase.CANCELLED, Reason.CANCELLED)
    assert not any(isinstance(a, rc.CreateAttempt) for a in got.actions)


def test_cancel_running_sets_key_then_waits_grace() -> None:
    got = decide(
        started(),
        execution=make_spec(cancel=True, gracePeriodSeconds=5),
        job=f.job(),
        pod=f.pod(state=f.running()),
    )
    assert got.status.phase == Phase.CANCELLING
    assert got.actions == (rc.SetCancelKey("cancelled by request"),)
    assert got.requeue_after == pytest.approx(5)


def test_cancel_after_grace_deletes_the_pod() -> None:
    cancelling = started(phase=Phase.CANCELLING, cancel_requested_at=f.stamp(f.T0 + 2))
    got = decide(
        cancelling,
        execution=make_spec(cancel=True, gracePeriodSeconds=5),
        job=f.job(),
        pod=f.pod(state=f.running()),
        now=f.T0 + 7.5,
    )
    assert rc.DeletePod("run-1-abcde", rc.HARD_STOP_GRACE_SECONDS) in got.actions
    assert got.status.phase == Phase.CANCELLING


def test_cancelled_pod_gone_is_cancelled() -> None:
    cancelling = started(phase=Phase.CANCELLING, cancel_requested_at=f.stamp(f.T0 + 2))
    got = decide(
        cancelling,
        execution=make_spec(cancel=True, gracePeriodSeconds=5),
        job=f.job(deleting=True),
        pod=None,
        now=f.T0 + 8,
    )
    assert (got.status.phase, got.status.reason) == (Phase.CANCELLED, Reason.CANCELLED)
    assert not any(isinstance(a, rc.CreateAttempt) for a in got.actions)


def test_cooperative_cancel_verdict() -> None:
    cancelling = started(phase=Phase.CANCELLING, cancel_requested_at=f.stamp(f.T0 + 2))
    pod = f.pod(
        phase="Failed", state=f.terminated(13, message=summary(Phase.CANCELLED, Reason.CANCELLED))
    )
    got = decide(cancelling, execution=make_spec(cancel=True), job=f.job(), pod=pod, now=f.T0 + 3)
    assert got.status.phase == Phase.CANCELLED
    assert any(isinstance(a, rc.EngineRecord) and a.kind == "cancelled" for a in got.actions)


def test_cancel_lost_to_a_finished_success_keeps_success() -> None:
    cancelling = started(phase=Phase.CANCELLING, cancel_requested_at=f.stamp(f.T0 + 2))
    pod = f.pod(
        phase="Succeeded",
        state=f.terminated(0, reason="Completed", message=summary(Phase.SUCCESS, Reason.COMPLETED)),
    )
    got = decide(cancelling, execution=make_spec(cancel=True), job=f.job(complete=True), pod=pod)
    assert got.status.phase == Phase.SUCCESS


def test_failure_with_retry_waits_then_starts_attempt_two() -> None:
    execution = make_spec(retry={"limit": 2, "backoffSeconds": 4})
    pod = f.pod(
        phase="Failed", state=f.terminated(11, message=summary(Phase.FAILED, Reason.EXCEPTION))
    )
    got = decide(started(), execution=execution, job=f.job(), pod=pod)
    assert (got.status.phase, got.status.reason) == (Phase.PENDING, Reason.RETRYING)
    assert got.requeue_after is not None and 2 <= got.requeue_after <= 4
    assert any(isinstance(a, rc.EngineRecord) and a.kind == "retrying" for a in got.actions)
    later = decide(got.status, execution=execution, now=f.T0 + 10 + got.requeue_after)
    assert (later.status.phase, later.status.attempt) == (Phase.PENDING, 2)
    assert rc.CreateAttempt(2) in later.actions
    assert [a.attempt for a in later.status.attempts] == [1, 2]


def test_retry_limit_reached_is_terminal() -> None:
    execution = make_spec(retry={"limit": 1})
    pod = f.pod(
        phase="Failed", state=f.terminated(11, message=summary(Phase.FAILED, Reason.EXCEPTION))
    )
    got = decide(started(attempt=2), execution=execution, job=f.job(name="run-2"), pod=pod)
    assert got.status.phase == Phase.FAILED


def test_outcome_not_in_retry_on_is_terminal() -> None:
    execution = make_spec(retry={"limit": 3, "on": ["TIMED_OUT"]})
    pod = f.pod(
        phase="Failed", state=f.terminated(11, message=summary(Phase.FAILED, Reason.EXCEPTION))
    )
    assert decide(started(), execution=execution, job=f.job(), pod=pod).status.phase == (
        Phase.FAILED
    )


def test_image_pull_fails_after_its_deadline() -> None:
    pod = f.pod(phase="Pending", state=f.waiting("ImagePullBackOff", "no such image"))
    early = decide(started(phase=Phase.PENDING), job=f.job(), pod=pod, now=f.T0 + 5)
    assert early.status.phase == Phase.PENDING
    late = decide(started(phase=Phase.PENDING), job=f.job(), pod=pod, now=f.T0 + 31)
    assert (late.status.phase, late.status.reason) == (Phase.FAILED, Reason.IMAGE_PULL_FAILED)
    assert rc.DeleteJob("run-1") in late.actions


def test_pod_never_starting_times_out_its_start() -> None:
    pod = f.pod(phase="Pending", state=f.waiting("ContainerCreating"))
    got = decide(started(phase=Phase.PENDING), job=f.job(), pod=pod, now=f.T0 + 601)
    assert (got.status.phase, got.status.reason) == (Phase.FAILED, Reason.START_TIMEOUT)


def test_terminal_is_final() -> None:
    done = status.ExecutionStatus(phase=Phase.SUCCESS, reason=Reason.COMPLETED, attempt=1)
    got = decide(done, execution=make_spec(cancel=True), job=f.job(complete=True))
    assert (got.status.phase, got.status.reason, got.status.attempt) == (
        Phase.SUCCESS,
        Reason.COMPLETED,
        1,
    )
    assert got.actions == () and got.requeue_after is None
    again = decide(got.status, execution=make_spec(cancel=True), job=f.job(complete=True))
    assert again.status == got.status  # only the generation and its conditions were brought up


def test_invalid_spec_fails_with_its_reason() -> None:
    got = rc.reconcile(
        TARGET,
        "source must set exactly one",
        status.ExecutionStatus(),
        rc.Observed(now=f.T0),
        SETTINGS,
    )
    assert (got.status.phase, got.status.reason) == (Phase.FAILED, Reason.INVALID_REQUEST)


def test_reconcile_is_stable_on_repeat() -> None:
    """Level-triggered: the same world twice gives no new actions the second time."""
    first = decide(started(phase=Phase.PENDING), job=f.job(), pod=f.pod(state=f.running()))
    second = decide(first.status, job=f.job(), pod=f.pod(state=f.running()))
    assert second.status == first.status and second.actions == ()


@pytest.mark.parametrize(
    "seconds, text",
    [(0.25, "250ms"), (4, "4.0s"), (65, "1m05s"), (7300, "2h01m")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert rc.human_duration(seconds) == text


@pytest.mark.parametrize("hit", [True, False, None], ids=["hit", "miss", "not-a-provider"])
def test_cache_status_comes_from_the_runner_summary(hit: bool | None) -> None:
    pod = f.pod(
        phase="Succeeded",
        state=f.terminated(
            0, reason="Completed", message=summary(Phase.SUCCESS, Reason.COMPLETED, cache_hit=hit)
        ),
    )
    got = decide(started(), job=f.job(complete=True), pod=pod)
    assert got.status.cache == (None if hit is None else status.CacheStatus(hit=hit))


# --- stops nobody asked for (spec.cancel unset) ---------------------------------------

TERMINATED = summary(
    Phase.FAILED,
    Reason.TERMINATED,
    error_type="Terminated",
    message="terminated (SIGTERM) without a cancel request",
)


@pytest.mark.parametrize(
    ("job", "pod", "reason"),
    [
        (
            None,
            f.pod(phase="Failed", deleting=True, state=f.terminated(11, message=TERMINATED)),
            Reason.JOB_DELETED,
        ),
        (
            f.job(deleting=True),
            f.pod(phase="Failed", deleting=True, state=f.terminated(11, message=TERMINATED)),
            Reason.JOB_DELETED,
        ),
        (
            f.job(),
            f.pod(
                phase="Failed",
                deleting=True,
                disruption="EvictionByEvictionAPI",
                state=f.terminated(11, message=TERMINATED),
            ),
            Reason.EVICTED,
        ),
        (
            f.job(),
            f.pod(phase="Failed", deleting=True, state=f.terminated(11, message=TERMINATED)),
            Reason.RUNNER_DIED,
        ),
        (  # an older runner said CANCELLED on any SIGTERM
            f.job(),
            f.pod(
                phase="Failed",
                disruption="EvictionByEvictionAPI",
                state=f.terminated(13, message=summary(Phase.CANCELLED, Reason.CANCELLED)),
            ),
            Reason.EVICTED,
        ),
        (  # killed without a verdict while its Job was being deleted
            f.job(deleting=True),
            f.pod(phase="Failed", deleting=True, state=f.terminated(137)),
            Reason.JOB_DELETED,
        ),
    ],
    ids=["job-deleted", "job-foreground", "evicted", "pod-deleted", "old-runner", "killed"],
)
def test_a_stop_nobody_asked_for_is_failed_with_its_cause(
    job: dict[str, Any] | None, pod: dict[str, Any], reason: Reason
) -> None:
    got = decide(started(), job=job, pod=pod)
    assert (got.status.phase, got.status.reason) == (Phase.FAILED, reason)
    assert got.status.error is not None and got.status.error.type == str(reason)
    assert "without a cancel request" in (got.status.message or "")


def test_a_stop_nobody_asked_for_is_retried_under_the_retry_policy() -> None:
    pod = f.pod(
        phase="Failed",
        deleting=True,
        disruption="EvictionByEvictionAPI",
        state=f.terminated(11, message=TERMINATED),
    )
    got = decide(started(), execution=make_spec(retry={"limit": 1}), job=f.job(), pod=pod)
    assert (got.status.phase, got.status.reason) == (Phase.PENDING, Reason.RETRYING)
    assert got.status.attempts[-1].reason == Reason.EVICTED


def test_the_codes_own_verdict_survives_a_later_job_deletion() -> None:
    pod = f.pod(
        phase="Succeeded", state=f.terminated(0, message=summary(Phase.SUCCESS, Reason.COMPLETED))
    )
    got = decide(started(), job=None, pod=pod)
    assert (got.status.phase, got.status.reason) == (Phase.SUCCESS, Reason.COMPLETED)


def test_a_terminated_runner_under_spec_cancel_is_cancelled() -> None:
    cancelling = started(phase=Phase.CANCELLING, cancel_requested_at=f.stamp(f.T0 + 2))
    pod = f.pod(phase="Failed", deleting=True, state=f.terminated(11, message=TERMINATED))
    got = decide(cancelling, execution=make_spec(cancel=True), job=f.job(), pod=pod, now=f.T0 + 3)
    assert (got.status.phase, got.status.reason) == (Phase.CANCELLED, Reason.CANCELLED)


# --- objects the API server refuses ---------------------------------------------------


def test_a_refused_create_fails_at_once_with_the_servers_message() -> None:
    message = (
        'Job.batch "run-1" is invalid: spec.template...: must be less than or equal to memory limit'
    )
    got = decide(started(phase=Phase.PENDING), now=f.T0 + 1, create_rejected=message)
    assert (got.status.phase, got.status.reason) == (Phase.FAILED, Reason.INVALID_REQUEST)
    assert message in (got.status.message or "")
    assert not any(isinstance(a, rc.CreateAttempt) for a in got.actions)
    assert got.status.error is not None and got.status.error.type == "InvalidRequest"


def test_a_refused_create_is_never_retried() -> None:
    got = decide(
        started(phase=Phase.PENDING),
        execution=make_spec(retry={"limit": 3}),
        now=f.T0 + 1,
        create_rejected="422 invalid",
    )
    assert got.status.phase == Phase.FAILED


def test_the_cause_is_said_once() -> None:
    pod = f.pod(phase="Failed", deleting=True, state=f.terminated(11, message=TERMINATED))
    got = decide(started(), job=None, pod=pod)
    assert got.status.message == "the attempt's Job was deleted without a cancel request"
