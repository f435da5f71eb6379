"""Ending an attempt accounts for its log lines: status.logs and the engine records after it."""

from __future__ import annotations

from kuberun.contract.phases import Phase, Reason
from kuberun_operator import logaccounting as la
from kuberun_operator import reconciling as rc
from tests.unit.operator import factories as f
from tests.unit.operator.test_reconciling import decide, make_spec, started, summary


def records(decision: rc.Decision) -> list[tuple[rc.RecordAt, int, str]]:
    return [(a.at, a.attempt, a.kind) for a in decision.actions if isinstance(a, rc.EngineRecord)]


def test_a_hard_deadline_stop_fills_logs_from_the_stream() -> None:
    """No report from a killed runner: the stream's lines 1..N are its log."""
    pod = f.pod(phase="Failed", reason="DeadlineExceeded", state=f.terminated(137))
    got = decide(
        started(),
        job=f.job(failed_reason="DeadlineExceeded"),
        pod=pod,
        stream=la.StreamSeen.of(range(1, 31)),
    )
    assert (got.status.phase, got.status.reason) == (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED)
    assert got.status.logs is not None
    assert (got.status.logs.last_sequence, got.status.logs.complete) == (30, True)
    assert records(got) == [(rc.RecordAt.AFTER_ATTEMPT, 1, "timed_out")]


def test_lines_lost_in_redis_are_reported_before_the_verdict_record() -> None:
    message = summary(Phase.SUCCESS, Reason.COMPLETED, last_sequence=60)
    pod = f.pod(phase="Succeeded", state=f.terminated(0, reason="Completed", message=message))
    got = decide(
        started(), job=f.job(complete=True), pod=pod, stream=la.StreamSeen.of(range(41, 61))
    )
    logs = got.status.logs
    assert logs is not None
    assert (logs.last_sequence, logs.complete, logs.missing) == (60, False, [[1, 40]])
    [record] = [a for a in got.actions if isinstance(a, rc.EngineRecord)]
    assert (record.kind, record.level) == ("logs_missing", "WARNING")
    assert "40 log line(s) of attempt 1" in record.message


def test_missing_lines_come_before_the_retry_record() -> None:
    message = summary(Phase.FAILED, Reason.EXCEPTION, last_sequence=5)
    pod = f.pod(phase="Failed", state=f.terminated(11, message=message))
    got = decide(
        started(),
        execution=make_spec(retry={"limit": 1}),
        job=f.job(failed_reason="BackoffLimitExceeded"),
        pod=pod,
        stream=la.StreamSeen.of([1, 2, 3]),
    )
    assert got.status.reason == Reason.RETRYING
    assert [kind for _, _, kind in records(got)] == ["logs_missing", "retrying"]
    assert got.status.logs is not None and got.status.logs.missing == [[4, 5]]


def test_an_unread_stream_leaves_the_runner_counts() -> None:
    message = summary(Phase.SUCCESS, Reason.COMPLETED, last_sequence=9, dropped=2)
    pod = f.pod(phase="Succeeded", state=f.terminated(0, reason="Completed", message=message))
    got = decide(started(), job=f.job(complete=True), pod=pod)
    logs = got.status.logs
    assert logs is not None and (logs.last_sequence, logs.dropped, logs.complete) == (9, 2, False)
    assert records(got) == []
