"""What the runner reports when an attempt ends.

Two forms, because the operator must know the outcome even when Redis is down:

- `RunResult`: everything, including the full JSON result, written to Redis
  under `keys.result(...)` (and printed by `kuberun run --output json`).
- `TerminationSummary`: a short JSON object of at most `SUMMARY_MAX_BYTES`
  written to the container's termination-message file, which the kubelet
  copies into the pod status. `encode()` guarantees the size bound by
  shortening the message, never by producing invalid JSON.

The exit code tells the same story to anything that only sees the process.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from pydantic import Field

from kuberun.contract.phases import Phase, Reason
from kuberun.contract.spec import Model

# The kubelet keeps at most 4096 bytes of a termination message.
SUMMARY_MAX_BYTES = 4096


class ExitCode(enum.IntEnum):
    """Runner process exit codes; 0 only for SUCCESS.

    Codes 1 and 2 are left to Python itself (uncaught exception, usage), and
    128+N to signals, so a runner that died without a verdict is recognisable.
    """

    SUCCESS = 0
    COMPLETED_WITH_ERRORS = 10
    FAILED = 11
    TIMED_OUT = 12
    CANCELLED = 13
    INVALID_REQUEST = 14

    @classmethod
    def for_phase(cls, phase: Phase) -> ExitCode:
        """The exit code of a phase alone (prefer `for_verdict`, which knows the reason)."""
        return _EXIT_BY_PHASE.get(phase, cls.FAILED)

    @classmethod
    def for_verdict(cls, phase: Phase, reason: Reason | None) -> ExitCode:
        """The one mapping from a verdict to the process exit code.

        Used by the runner (its own exit) and by `kuberun run` (the CLI's exit), so the
        same source gives the same code in a pod and on a laptop: a request the runner
        cannot use (`InvalidRequest`) is 14, every other verdict the code of its phase.
        """
        if reason == Reason.INVALID_REQUEST:
            return cls.INVALID_REQUEST
        return cls.for_phase(phase)


_EXIT_BY_PHASE: dict[Phase, ExitCode] = {
    Phase.SUCCESS: ExitCode.SUCCESS,
    Phase.COMPLETED_WITH_ERRORS: ExitCode.COMPLETED_WITH_ERRORS,
    Phase.FAILED: ExitCode.FAILED,
    Phase.TIMED_OUT: ExitCode.TIMED_OUT,
    Phase.CANCELLED: ExitCode.CANCELLED,
}


def phase_for_exit_code(code: int) -> Phase | None:
    """The runner verdict an exit code stands for, or None if it is not one of ours."""
    for phase, exit_code in _EXIT_BY_PHASE.items():
        if exit_code == code:
            return phase
    if code == ExitCode.INVALID_REQUEST:
        return Phase.FAILED
    return None


class ErrorInfo(Model):
    """Why an execution failed: an exception type and a message for humans."""

    type: str
    message: str
    traceback: str | None = None


class RunResult(Model):
    """The full outcome of one attempt."""

    status: Phase
    reason: Reason
    result: Any = None
    error: ErrorInfo | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: int = 0
    log_lines: int = Field(default=0, description="Records emitted, including dropped ones.")
    last_sequence: int = 0
    dropped: int = Field(
        default=0, description="Records not delivered (limits, buffer, Redis gone)."
    )
    result_bytes: int = 0
    variables: dict[str, Any] | None = Field(default=None, description="Captured when tracing.")
    cache_hit: bool | None = Field(
        default=None, description="Data providers: True when the result came from the shared cache."
    )

    def summary(self) -> TerminationSummary:
        """The short form for the termination message."""
        return TerminationSummary(
            status=self.status,
            reason=self.reason,
            error_type=self.error.type if self.error else None,
            message=self.error.message if self.error else None,
            last_sequence=self.last_sequence,
            dropped=self.dropped,
            result_bytes=self.result_bytes,
            duration_ms=self.duration_ms,
            cache_hit=self.cache_hit,
        )


class TerminationSummary(Model):
    """At most 4096 bytes of JSON: the verdict as the operator sees it."""

    status: Phase
    reason: Reason
    error_type: str | None = None
    message: str | None = None
    last_sequence: int = 0
    dropped: int = 0
    result_bytes: int = 0
    duration_ms: int = 0
    cache_hit: bool | None = None

    def encode(self, limit: int = SUMMARY_MAX_BYTES) -> bytes:
        """JSON of at most `limit` bytes; the message (then error type) is shortened to fit."""
        data = self.model_dump(by_alias=True, mode="json", exclude_none=True)
        raw = _dump(data)
        if len(raw) <= limit:
            return raw
        for field in ("message", "errorType"):
            text = data.get(field)
            if not isinstance(text, str):
                continue
            data[field] = ""
            room = limit - len(_dump(data))
            data[field] = _shorten(text, room)
            raw = _dump(data)
            if len(raw) <= limit:
                return raw
        raise ValueError("termination summary cannot fit its limit")  # pragma: no cover

    @classmethod
    def decode(cls, raw: str | bytes) -> TerminationSummary:
        """Parse a termination message; raises pydantic.ValidationError if it is not one."""
        return cls.model_validate_json(raw)


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode()


def _shorten(text: str, room: int) -> str:
    """Cut `text` so its JSON encoding (escapes included) takes at most `room` bytes."""
    marker = "…[truncated]"
    if room <= 0:
        return ""
    encoded_len = len(json.dumps(text, ensure_ascii=True)) - 2
    if encoded_len <= room:
        return text
    budget = room - len(json.dumps(marker, ensure_ascii=True)) + 2
    low, high = 0, len(text)
    while low < high:  # longest prefix whose escaped form fits the budget
        mid = (low + high + 1) // 2
        if len(json.dumps(text[:mid], ensure_ascii=True)) - 2 <= budget:
            low = mid
        else:
            high = mid - 1
    return text[:low] + marker if budget > 0 else ""
