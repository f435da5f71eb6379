"""Decide the verdict of an attempt from what the code returned or raised. Pure.

- a JSON-safe result → SUCCESS, or COMPLETED_WITH_ERRORS for a dict with
  `"success": false`; a result that is not JSON → FAILED/InvalidResult;
- a data provider's result must be a list of options `{label, value, metadata?}`;
  a plain string in that list is the option `{label: s, value: s}` (bifrost's short form);
- `UserError` → FAILED/UserError with its message as is, no traceback;
- bifrost's `ValidationError` → FAILED/InvalidParameters, and the rest of its
  `WorkflowError` family (`IntegrationError`, `ConfigurationError`, ...) →
  FAILED/UserError: the message as is, no traceback, the class as `error.type`;
- `ExecutionTimedOut` → TIMED_OUT/DeadlineExceeded; a requested cancellation
  (`ExecutionCancelled`, `asyncio.CancelledError`, `KeyboardInterrupt`) →
  CANCELLED/Cancelled; the same stop after a SIGTERM nobody asked for (no cancel
  key) → FAILED/Terminated (the pod was deleted, evicted or drained);
- `SystemExit(0)` → SUCCESS; other `SystemExit` and any exception →
  FAILED/Exception with type, message and traceback.
"""

from __future__ import annotations

import asyncio
import json
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuberun.contract.outcome import ErrorInfo
from kuberun.contract.phases import Phase, Reason
from kuberun.runtime import errors, jsonsafe
from kuberun.sdk import errors as sdk_errors
from kuberun.sdk.context import Cancellation

_RUNTIME_DIR = str(Path(__file__).resolve().parent)
# Frames of the runtime and of the asyncio machinery say nothing about the user's bug.
_PLUMBING_DIRS = (_RUNTIME_DIR, str(Path(asyncio.__file__).resolve().parent))
_OPTION_KEYS = {"label", "value", "metadata"}


@dataclass(frozen=True)
class Verdict:
    """Status, reason, the JSON result (if any) and its encoded size, the error (if any)."""

    status: Phase
    reason: Reason
    result: Any = None
    result_bytes: int = 0
    error: ErrorInfo | None = None


def qualified_name(kind: type) -> str:
    module = kind.__module__
    return (
        kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"
    )


def check_options(options: Any) -> None:
    """A data provider's result: a list of `{label: str, value, metadata?: dict}`."""
    if not isinstance(options, list):
        raise errors.InvalidResult(
            "a data provider must return a list of options {label, value, metadata?}, got"
            f" {type(options).__name__}"
        )
    for index, option in enumerate(options):
        if not isinstance(option, dict):
            raise errors.InvalidResult(
                f"option {index} must be a string or a dict {{label, value, metadata?}}, got"
                f" {type(option).__name__}"
            )
        missing = sorted({"label", "value"} - option.keys())
        if missing:
            raise errors.InvalidResult(f"option {index} is missing {', '.join(missing)}")
        extra = sorted(option.keys() - _OPTION_KEYS)
        if extra:
            raise errors.InvalidResult(
                f"option {index} has unexpected key(s) {', '.join(extra)}"
                " (allowed: label, value, metadata)"
            )
        if not isinstance(option["label"], str):
            raise errors.InvalidResult(
                f"option {index}: label must be a string, got {type(option['label']).__name__}"
            )
        if "metadata" in option and not isinstance(option["metadata"], dict | type(None)):
            raise errors.InvalidResult(
                f"option {index}: metadata must be a dict, got {type(option['metadata']).__name__}"
            )


def expand_options(options: Any) -> Any:
    """A data provider's list with each plain string `s` made the option `{label: s, value: s}`."""
    if not isinstance(options, list):
        return options
    return [{"label": o, "value": o} if isinstance(o, str) else o for o in options]


def from_result(value: Any, *, data_provider: bool = False) -> Verdict:
    """The verdict for a normal return."""
    try:
        result = jsonsafe.to_json(value)
        if data_provider:
            result = expand_options(result)
            check_options(result)
    except (jsonsafe.NotJSON, errors.InvalidResult) as exc:
        return Verdict(
            Phase.FAILED,
            Reason.INVALID_RESULT,
            error=ErrorInfo(type="InvalidResult", message=str(exc)),
        )
    size = len(json.dumps(result, separators=(",", ":")).encode())
    if isinstance(result, dict) and result.get("success") is False:
        message = result.get("error") or result.get("message")
        return Verdict(
            Phase.COMPLETED_WITH_ERRORS,
            Reason.COMPLETED_WITH_ERRORS,
            result,
            size,
            ErrorInfo(type="CompletedWithErrors", message=str(message))
            if message is not None
            else None,
        )
    return Verdict(Phase.SUCCESS, Reason.COMPLETED, result, size)


def user_traceback(exc: BaseException) -> str:
    """The traceback without the leading frames of the runtime and asyncio."""
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PLUMBING_DIRS):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def terminated_verdict(message: str) -> Verdict:
    """Stopped by a SIGTERM nobody asked for: FAILED/Terminated (the operator refines it)."""
    return Verdict(
        Phase.FAILED, Reason.TERMINATED, error=ErrorInfo(type="Terminated", message=message)
    )


def from_exception(exc: BaseException, cancellation: Cancellation) -> Verdict:
    """The verdict for an exception out of user code (or out of loading it)."""
    if isinstance(exc, errors.RunnerError):
        return Verdict(
            Phase.FAILED, exc.reason, error=ErrorInfo(type=type(exc).__name__, message=exc.message)
        )
    if isinstance(exc, sdk_errors.UserError | sdk_errors.WorkflowError):
        failure = (
            Reason.INVALID_PARAMETERS
            if isinstance(exc, sdk_errors.ValidationError)
            else Reason.USER_ERROR
        )
        text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return Verdict(
            Phase.FAILED, failure, error=ErrorInfo(type=type(exc).__name__, message=str(text))
        )
    stopped = isinstance(
        exc, sdk_errors.ExecutionCancelled | asyncio.CancelledError | KeyboardInterrupt
    )
    if stopped and (cancellation.requested or isinstance(exc, sdk_errors.ExecutionCancelled)):
        timed_out = cancellation.timed_out or isinstance(exc, sdk_errors.ExecutionTimedOut)
        reason = cancellation.reason or getattr(exc, "reason", None) or "cancelled"
        if cancellation.terminated:
            return terminated_verdict(reason)
        if timed_out:
            return Verdict(
                Phase.TIMED_OUT,
                Reason.DEADLINE_EXCEEDED,
                error=ErrorInfo(type="ExecutionTimedOut", message=reason),
            )
        return Verdict(
            Phase.CANCELLED,
            Reason.CANCELLED,
            error=ErrorInfo(type="ExecutionCancelled", message=reason),
        )
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        return from_result(None)
    message = str(exc)
    if isinstance(exc, SystemExit):
        message = f"exit code {exc.code}"
    return Verdict(
        Phase.FAILED,
        Reason.EXCEPTION,
        error=ErrorInfo(
            type=qualified_name(type(exc)), message=message, traceback=user_traceback(exc)
        ),
    )
