"""How `kuberun run` shows records and the outcome (text for people, JSON for programs). Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kuberun.runtime.records import format_text

if TYPE_CHECKING:
    from kuberun.contract import logrecord, outcome


def record_text(record: logrecord.LogRecord) -> str:
    """The record as a line; an error whose traceback ends with its message says it once:
    the header line carries the traceback, whose last line is the error."""
    exception = (record.exception or "").rstrip()
    if exception and exception.splitlines()[-1].strip() == record.message.strip():
        lines = exception.splitlines()
        return format_text(
            record.model_copy(update={"message": lines[0], "exception": "\n".join(lines[1:])})
        )
    return format_text(record)


def record_json(record: logrecord.LogRecord) -> str:
    data = {
        "sequence": record.sequence,
        "timestamp": record.timestamp,
        "level": record.level,
        "logger": record.logger,
        "source": record.source.value,
        "message": record.message,
        "attempt": record.attempt,
    }
    if record.exception is not None:
        data["exception"] = record.exception
    return json.dumps(data, ensure_ascii=False)


def final_object(result: outcome.RunResult) -> dict[str, Any]:
    """The one JSON object `--output json` ends with."""
    error = result.error.model_dump(mode="json", exclude_none=True) if result.error else None
    data: dict[str, Any] = {
        "status": result.status.value,
        "reason": result.reason.value,
        "result": result.result,
        "error": error,
        "durationMs": result.duration_ms,
        "logLines": result.log_lines,
        "lastSequence": result.last_sequence,
        "dropped": result.dropped,
    }
    if result.variables is not None:  # only with --trace
        data["variables"] = result.variables
    return data


def final_json(result: outcome.RunResult) -> str:
    return json.dumps(final_object(result), ensure_ascii=False)


def final_text(result: outcome.RunResult, shown_errors: Iterable[str] = ()) -> str:
    """A status line, then the result, and the error unless a record already showed it."""
    lines = [
        f"── {result.status.value} ({result.reason.value}) in {result.duration_ms} ms ·"
        f" {result.log_lines} log line(s) · {result.dropped} dropped"
    ]
    if result.error is not None and (
        f"{result.error.type}: {result.error.message}".strip()
        not in {text.strip() for text in shown_errors}
    ):
        lines.append(f"error: {result.error.type}: {result.error.message}")
    if result.result is not None:
        lines.append("result: " + json.dumps(result.result, ensure_ascii=False, indent=2))
    if result.variables is not None:
        lines.append("variables: " + json.dumps(result.variables, ensure_ascii=False, indent=2))
    return "\n".join(lines)
