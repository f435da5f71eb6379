"""The `ScheduledExecution` resource (`kuberun.dev/v1alpha1`): Executions on a cron schedule.

What CronJob is to Jobs, a ScheduledExecution is to Executions: a template, a
schedule in a time zone, a concurrency policy, a starting deadline, history
limits and `suspend`, with CronJob's status (`lastScheduleTime`,
`lastSuccessfulTime`, `active`). The same models generate the CRD schema
(`kuberun_operator.crdschema`) and are what `kuberun schedules` writes, so the
manifests the CLI emits are the ones the API server accepts.

The cron expression itself is checked by the operator (it has the cron
library; this package, which the runner image carries, does not): a bad one is
a `Stalled` condition and a Warning event on the resource, never a crash.
"""

from __future__ import annotations

import enum

from pydantic import Field

from kuberun.contract.spec import (
    NAME_PATTERN,
    ExecutionSpec,
    LabelKey,
    LabelValue,
    Model,
)
from kuberun.contract.status import Condition

KIND = "ScheduledExecution"
PLURAL = "scheduledexecutions"
SINGULAR = "scheduledexecution"
SHORT_NAMES = ("kxs", "kxcron")

# Labels and annotations the operator puts on every Execution it creates.
SCHEDULE_LABEL = "kuberun.dev/scheduled-execution"
SCHEDULED_AT_ANNOTATION = "kuberun.dev/scheduled-at"

# CronJob's defaults: three successful runs kept, one failed.
DEFAULT_SUCCESSFUL_HISTORY = 3
DEFAULT_FAILED_HISTORY = 1
MAX_HISTORY = 100
# Execution names are `<name>-<minutes since the epoch>` (8 digits until the year
# 2160): a name of at most 52 characters leaves the whole within 63, as CronJob's.
MAX_NAME_LENGTH = 52


class ConcurrencyPolicy(enum.StrEnum):
    """What to do when a run is due while an earlier one is still running (CronJob's)."""

    ALLOW = "Allow"  # start it anyway
    FORBID = "Forbid"  # do not start it while one is active
    REPLACE = "Replace"  # cancel the active ones, then start it


class TemplateMetadata(Model):
    """Labels and annotations copied onto every Execution created from the template."""

    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    annotations: dict[LabelKey, str] = Field(default_factory=dict, max_length=64)


class ExecutionTemplate(Model):
    """The Execution each scheduled time creates."""

    metadata: TemplateMetadata | None = None
    spec: ExecutionSpec


class ScheduledExecutionSpec(Model):
    """When to create Executions, and how many to keep."""

    schedule: str = Field(
        min_length=1,
        max_length=256,
        description=(
            "Standard cron (five fields: minute hour day-of-month month day-of-week)"
            " or @hourly, @daily, @weekly, @monthly, @yearly."
        ),
    )
    time_zone: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="IANA time zone of the schedule (e.g. Europe/Berlin); UTC when absent.",
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        default=ConcurrencyPolicy.ALLOW,
        description="Allow, Forbid (skip while one is active) or Replace (cancel it).",
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=0,
        description=(
            "A run that could not start within this many seconds of its time is missed;"
            " absent: a late run is still started (at most one catch-up run)."
        ),
    )
    successful_executions_history_limit: int = Field(
        default=DEFAULT_SUCCESSFUL_HISTORY,
        ge=0,
        le=MAX_HISTORY,
        description="Successful Executions to keep; older ones are deleted.",
    )
    failed_executions_history_limit: int = Field(
        default=DEFAULT_FAILED_HISTORY,
        ge=0,
        le=MAX_HISTORY,
        description="Failed (or cancelled, timed out) Executions to keep.",
    )
    suspend: bool = Field(default=False, description="True stops new runs; running ones go on.")
    execution_template: ExecutionTemplate


class ExecutionReference(Model):
    """An Execution this schedule created (CronJob's `active` ObjectReference)."""

    api_version: str = Field(max_length=253)
    kind: str = Field(max_length=63)
    namespace: str = Field(pattern=NAME_PATTERN, max_length=63)
    name: str = Field(max_length=253)
    uid: str | None = Field(default=None, max_length=64)


class ScheduledExecutionStatus(Model):
    """What the operator reports of a schedule."""

    active: list[ExecutionReference] = Field(
        default_factory=list, max_length=MAX_HISTORY, description="Executions still running."
    )
    last_schedule_time: str | None = Field(
        default=None, description="The scheduled time of the last Execution created (RFC 3339)."
    )
    last_successful_time: str | None = Field(
        default=None, description="When the last successful Execution finished (RFC 3339)."
    )
    next_schedule_time: str | None = Field(
        default=None, description="The next time an Execution is due (RFC 3339); none if suspended."
    )
    conditions: list[Condition] = Field(default_factory=list, max_length=16)
    observed_generation: int | None = None
