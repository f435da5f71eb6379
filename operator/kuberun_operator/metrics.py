"""Prometheus metrics of the operator, in a registry of its own (no import-time globals).

Created by `__main__` and served by `health` at /metrics. Names are
`kuberun_*`; the labels are small fixed sets (phase, reason), never names or uids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kuberun.contract.statuses import Phase, Reason

DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class Metrics:
    """Every metric the operator exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.executions = Counter(
            "kuberun_executions_total",
            "Executions that reached a terminal phase.",
            ["phase", "reason"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "kuberun_execution_duration_seconds",
            "Runner start to terminal phase.",
            ["phase"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.time_to_terminal = Histogram(
            "kuberun_execution_create_to_terminal_seconds",
            "Execution creation to terminal phase (queueing and pod start included).",
            ["phase"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "kuberun_queue_length", "Executions waiting for admission.", registry=self.registry
        )
        self.running = Gauge(
            "kuberun_running_executions",
            "Executions holding an admission slot (a Job exists or is being created).",
            registry=self.registry,
        )
        self.timeouts = Counter(
            "kuberun_timeouts_total", "Executions that ended TIMED_OUT.", registry=self.registry
        )
        self.cancellations = Counter(
            "kuberun_cancellations_total",
            "Executions that ended CANCELLED.",
            registry=self.registry,
        )
        self.retries = Counter(
            "kuberun_retries_total", "Attempts started after a failed one.", registry=self.registry
        )
        self.reconcile_errors = Counter(
            "kuberun_reconcile_errors_total",
            "Reconcile passes that raised (they are retried).",
            registry=self.registry,
        )

    def finished(
        self, phase: Phase, reason: Reason | None, run: float | None, total: float | None
    ) -> None:
        """Record an execution entering a terminal phase."""
        self.executions.labels(phase=phase.value, reason=(reason.value if reason else "")).inc()
        if run is not None:
            self.duration.labels(phase=phase.value).observe(run)
        if total is not None:
            self.time_to_terminal.labels(phase=phase.value).observe(total)
        if phase == Phase.TIMED_OUT:
            self.timeouts.inc()
        elif phase == Phase.CANCELLED:
            self.cancellations.inc()
