"""Prometheus metrics of the operator, in a registry of its own (no import-time globals).

Created by `__main__` and served by `health` at /metrics. Names are
`kuberun_*`; labels are small sets — namespace, phase, reason, an HTTP
status or a Redis operation — never Execution names or uids. The chart's
Grafana dashboard and alert rules (helm/kuberun/files/) read these names;
renaming one breaks them.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kuberun.contract.phases import Phase, Reason

DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
# Queue waits are short when there is room and long when a namespace is at its limit.
QUEUE_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
NO_PHASE = "NONE"  # created, not yet seen by the operator


def version() -> str:
    """The installed kuberun distribution's version (what build_info reports)."""
    try:
        return metadata.version("kuberun")
    except metadata.PackageNotFoundError:
        return "unknown"


class Metrics:
    """Every metric the operator exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.executions = Counter(
            "kuberun_executions_total",
            "Executions that reached a terminal phase.",
            ["namespace", "phase", "reason"],
            registry=self.registry,
        )
        self.by_phase = Gauge(
            "kuberun_executions_by_phase",
            "Executions that exist now, by namespace and phase (terminal ones until deleted).",
            ["namespace", "phase"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "kuberun_execution_duration_seconds",
            "Runner start to terminal phase.",
            ["namespace", "phase"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.time_to_terminal = Histogram(
            "kuberun_execution_create_to_terminal_seconds",
            "Execution creation to terminal phase (queueing and pod start included).",
            ["namespace", "phase"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "kuberun_queue_wait_seconds",
            "Execution creation to admission (its first Job asked for).",
            ["namespace"],
            buckets=QUEUE_BUCKETS,
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
            "kuberun_timeouts_total",
            "Executions that ended TIMED_OUT.",
            ["namespace"],
            registry=self.registry,
        )
        self.cancellations = Counter(
            "kuberun_cancellations_total",
            "Executions that ended CANCELLED.",
            ["namespace"],
            registry=self.registry,
        )
        self.retries = Counter(
            "kuberun_retries_total",
            "Attempts started after a failed one.",
            ["namespace"],
            registry=self.registry,
        )
        self.dropped_log_lines = Counter(
            "kuberun_dropped_log_lines_total",
            "Log records runners reported they could not deliver (status.logs.dropped).",
            ["namespace"],
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            "kuberun_reconcile_errors_total",
            "Reconcile passes that raised (they are retried).",
            registry=self.registry,
        )
        self.api_errors = Counter(
            "kuberun_api_errors_total",
            "Kubernetes API calls that failed, by HTTP status (0: no answer; 404 and 409 are"
            " expected answers of idempotent deletes and creates).",
            ["status"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "kuberun_redis_errors_total",
            "Redis calls that failed, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.missing_log_lines = Counter(
            "kuberun_missing_log_lines_total",
            "Runner log lines missing from the stream when an attempt ended (status.logs.missing:"
            " lost in Redis, or never delivered).",
            ["namespace"],
            registry=self.registry,
        )
        self.engine_records_lost = Counter(
            "kuberun_engine_records_lost_total",
            "Engine records never written: their place in the stream was taken by a later"
            " attempt before Redis answered.",
            registry=self.registry,
        )
        self.results_unavailable = Counter(
            "kuberun_results_unavailable_total",
            "Attempts that ended with their full result unreadable (Redis did not answer"
            " within the settle window: status.resultAvailable false).",
            registry=self.registry,
        )
        self.backlog_pending = Gauge(
            "kuberun_backlog_pending",
            "Ended Executions with work still to do (engine records, archive rows and logs),"
            " waiting to be retried.",
            registry=self.registry,
        )
        self.backlog_retries = Counter(
            "kuberun_backlog_retries_total",
            "Tries of post-execution work that did not succeed yet and will be retried, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.build_info = Gauge(
            "kuberun_build_info",
            "Always 1; the labels say which operator build runs.",
            ["version", "python"],
            registry=self.registry,
        )
        self.build_info.labels(version=version(), python=platform.python_version()).set(1)
        self._phases: dict[str, tuple[str, str]] = {}

    def observe_phase(self, uid: str, body: Mapping[str, Any], deleted: bool = False) -> None:
        """Keep `kuberun_executions_by_phase` current from an Execution's event."""
        namespace = str((body.get("metadata") or {}).get("namespace", ""))
        phase = str((body.get("status") or {}).get("phase") or NO_PHASE)
        old = self._phases.pop(uid, None)
        if old is not None:
            self.by_phase.labels(namespace=old[0], phase=old[1]).dec()
        if not deleted:
            self._phases[uid] = (namespace, phase)
            self.by_phase.labels(namespace=namespace, phase=phase).inc()

    def finished(
        self,
        namespace: str,
        phase: Phase,
        reason: Reason | None,
        run: float | None,
        total: float | None,
    ) -> None:
        """Record an execution entering a terminal phase."""
        self.executions.labels(
            namespace=namespace, phase=phase.value, reason=(reason.value if reason else "")
        ).inc()
        if run is not None:
            self.duration.labels(namespace=namespace, phase=phase.value).observe(run)
        if total is not None:
            self.time_to_terminal.labels(namespace=namespace, phase=phase.value).observe(total)
        if phase == Phase.TIMED_OUT:
            self.timeouts.labels(namespace=namespace).inc()
        elif phase == Phase.CANCELLED:
            self.cancellations.labels(namespace=namespace).inc()
