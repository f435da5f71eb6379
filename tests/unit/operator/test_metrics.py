"""The operator's metrics carry namespace and phase, and the per-phase gauge follows events."""

from __future__ import annotations

from prometheus_client import generate_latest

from kuberun.contract.phases import Phase, Reason
from kuberun_operator.metrics import Metrics


def body(namespace: str, phase: str | None) -> dict[str, object]:
    return {"metadata": {"namespace": namespace}, "status": {"phase": phase} if phase else {}}


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    value = metrics.registry.get_sample_value(name, labels)
    return value


def test_phase_gauge_moves_with_each_execution() -> None:
    m = Metrics()
    m.observe_phase("a", body("team", None))
    m.observe_phase("b", body("team", "RUNNING"))
    m.observe_phase("a", body("team", "RUNNING"))
    assert sample(m, "kuberun_executions_by_phase", namespace="team", phase="RUNNING") == 2
    assert sample(m, "kuberun_executions_by_phase", namespace="team", phase="NONE") == 0
    m.observe_phase("a", body("team", "SUCCESS"))
    m.observe_phase("b", body("team", "RUNNING"), deleted=True)
    assert sample(m, "kuberun_executions_by_phase", namespace="team", phase="RUNNING") == 0
    assert sample(m, "kuberun_executions_by_phase", namespace="team", phase="SUCCESS") == 1


def test_finished_counts_by_namespace_phase_and_reason() -> None:
    m = Metrics()
    m.finished("team", Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED, 3.0, 4.0)
    labels = {"namespace": "team", "phase": "TIMED_OUT", "reason": "DeadlineExceeded"}
    assert sample(m, "kuberun_executions_total", **labels) == 1
    assert sample(m, "kuberun_timeouts_total", namespace="team") == 1
    assert sample(m, "kuberun_execution_duration_seconds_count", namespace="team",
                  phase="TIMED_OUT") == 1  # fmt: skip


def test_build_info_and_error_counters_are_exported() -> None:
    m = Metrics()
    m.api_errors.labels(status="403").inc()
    m.redis_errors.labels(operation="cancel").inc()
    text = generate_latest(m.registry).decode()
    assert 'kuberun_build_info{python="' in text and 'version="' in text
    assert 'kuberun_api_errors_total{status="403"} 1.0' in text
    assert 'kuberun_redis_errors_total{operation="cancel"} 1.0' in text
    for name in ("kuberun_queue_wait_seconds", "kuberun_dropped_log_lines_total"):
        assert f"# TYPE {name}" in text
