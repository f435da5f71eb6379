"""The `Execution` status (`status` of `kuberun.dev/v1alpha1`): what the operator reports.

Written only by the operator; read by `kubectl`, the CLI and anything that
scripts against executions. The CRD's status schema is generated from these
models (with the spec's), so the stored object and the models never disagree.
Times are RFC 3339 strings in UTC, as everywhere else in Kubernetes.
"""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic import Field

from kuberun.contract.phases import Phase, Reason
from kuberun.contract.spec import Model

# Condition types set on every execution, so `kubectl wait --for=condition=X` works.
CONDITION_ADMITTED = "Admitted"  # the execution left the queue (a pod was asked for)
CONDITION_RUNNING = "Running"  # the runner process is running
CONDITION_FINISHED = "Finished"  # a terminal phase was reached (reason = the phase)
CONDITION_SUCCEEDED = "Succeeded"  # True on SUCCESS, False on any other terminal phase
# The kstatus conditions (Reconciling, Stalled, Ready) are the operator's: see
# kuberun_operator.conditions. The patterns are metav1.Condition's own.
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class ErrorStatus(Model):
    """Why the execution did not succeed, for humans and scripts."""

    type: str = Field(max_length=256)
    message: str = Field(max_length=8192)


class LogsStatus(Model):
    """Where the log stream stands."""

    last_sequence: int = Field(default=0, ge=0, description="Runner's last record sequence.")
    complete: bool = Field(
        default=False,
        description="True when no record was dropped and the stream holds every line 1..last.",
    )
    dropped: int = Field(default=0, ge=0)
    missing: list[list[int]] = Field(
        default_factory=list,
        max_length=50,
        description=(
            "Inclusive [from, to] sequence ranges of the last attempt that the log stream"
            " does not hold (lost in Redis, or never delivered)."
        ),
    )


class ResultRef(Model):
    """Where a result too large for the status lives."""

    redis_key: str = Field(max_length=1024)
    bytes: int = Field(ge=0)


class CacheStatus(Model):
    """Whether the result came from the data-provider cache."""

    hit: bool = False


class Condition(Model):
    """A condition in the `metav1.Condition` shape that kstatus, Flux and Argo CD expect."""

    type: str = Field(max_length=316, pattern=CONDITION_TYPE_PATTERN)
    status: str = Field(pattern=r"^(True|False|Unknown)$")
    reason: str = Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    message: str = Field(default="", max_length=32768)
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was set for."
    )

    @pydantic.field_validator("message", mode="before")
    @classmethod
    def _no_null_message(cls, value: Any) -> Any:
        """Conditions written before the metav1 shape had `message: null`; read it as empty."""
        return "" if value is None else value


class AttemptStatus(Model):
    """One attempt: one Job, one pod."""

    attempt: int = Field(ge=1)
    job_name: str = Field(max_length=63)
    phase: Phase | None = None
    reason: Reason | None = None
    message: str | None = Field(default=None, max_length=8192)
    created_at: str | None = Field(default=None, description="When its Job was created.")
    start_time: str | None = None
    completion_time: str | None = None
    exit_code: int | None = None


class ExecutionStatus(Model):
    """Everything the operator knows about an execution."""

    phase: Phase | None = None
    reason: Reason | None = None
    message: str | None = Field(default=None, max_length=8192)
    attempt: int = Field(default=0, ge=0, description="Current attempt; 0 while queued.")
    attempts: list[AttemptStatus] = Field(default_factory=list, max_length=16)
    queue_position: int | None = Field(default=None, ge=1, description="1 = next to start.")
    admitted_at: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    duration: str | None = Field(default=None, description="Human-readable, for kubectl get.")
    duration_seconds: float | None = None
    cancel_requested_at: str | None = None
    retry_at: str | None = None
    result: Any = None
    result_ref: ResultRef | None = None
    result_available: bool | None = Field(
        default=None, description="False when the result could not be read (Redis down)."
    )
    error: ErrorStatus | None = None
    logs: LogsStatus | None = None
    cache: CacheStatus | None = None
    conditions: list[Condition] = Field(default_factory=list, max_length=16)
    observed_generation: int | None = None
