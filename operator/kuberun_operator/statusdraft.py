"""The next status while `reconciling.reconcile` decides it: a typed, mutable working copy.

Pure. `ExecutionStatus` and `AttemptStatus` are frozen wire models (see the
contract); deciding edits a status field by field, so `reconcile` works on a
`StatusDraft` — the same fields, typed, mutable — and freezes it back into a
validated `ExecutionStatus` once (`StatusDraft.freeze`), where the CRD's bounds
are checked. Conditions stay as `conditions`' model dumps, the form that module
computes on.

Every field of `ExecutionStatus` has its twin here (a unit test holds the two
lists equal), so a field added to the contract cannot be dropped on the way
through the decision.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kuberun.contract import status
from kuberun.contract.phases import Phase, Reason


@dataclass
class AttemptDraft:
    """One attempt's status (`status.AttemptStatus`), being decided."""

    attempt: int
    job_name: str
    phase: Phase | None = None
    reason: Reason | None = None
    message: str | None = None
    created_at: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    exit_code: int | None = None

    @classmethod
    def of(cls, frozen: status.AttemptStatus) -> AttemptDraft:
        return cls(**{name: getattr(frozen, name) for name in _names(cls)})


@dataclass
class StatusDraft:
    """An Execution's status (`status.ExecutionStatus`), being decided."""

    phase: Phase | None = None
    reason: Reason | None = None
    message: str | None = None
    attempt: int = 0
    attempts: list[AttemptDraft] = field(default_factory=list)
    queue_position: int | None = None
    admitted_at: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    duration: str | None = None
    duration_seconds: float | None = None
    cancel_requested_at: str | None = None
    retry_at: str | None = None
    result: Any = None
    result_ref: status.ResultRef | None = None
    result_available: bool | None = None
    error: status.ErrorStatus | None = None
    logs: status.LogsStatus | None = None
    cache: status.CacheStatus | None = None
    conditions: list[dict[str, Any]] = field(default_factory=list)
    observed_generation: int | None = None

    @classmethod
    def of(cls, frozen: status.ExecutionStatus) -> StatusDraft:
        """A working copy of `frozen` (which is left as it is)."""
        values = {name: getattr(frozen, name) for name in _names(cls)}
        values["attempts"] = [AttemptDraft.of(a) for a in frozen.attempts]
        values["conditions"] = [c.model_dump() for c in frozen.conditions]
        return cls(**values)

    @property
    def current(self) -> AttemptDraft:
        """The attempt being followed (the last one)."""
        return self.attempts[-1]

    def freeze(self) -> status.ExecutionStatus:
        """The validated status (raises pydantic.ValidationError past the CRD's bounds)."""
        values = {name: getattr(self, name) for name in _names(StatusDraft)}
        values["attempts"] = [dataclasses.asdict(a) for a in self.attempts]
        values["conditions"] = [dict(c) for c in self.conditions]
        return status.ExecutionStatus.model_validate(values)


def _names(kind: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(kind)]
