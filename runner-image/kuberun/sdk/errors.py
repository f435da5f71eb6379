"""Exceptions user code raises or sees.

    BaseException
    ├── ExecutionCancelled      raised into user code when the execution is cancelled
    │   └── ExecutionTimedOut   ... or its soft deadline (`timeoutSeconds`) has passed
    └── Exception
        └── UserError           raised by user code: the message is shown as is

`ExecutionCancelled` derives from `BaseException` (like `KeyboardInterrupt`
and `asyncio.CancelledError`) so that a broad `except Exception:` in user code
does not swallow a cancellation.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure: the execution ends FAILED with this message, without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExecutionCancelled(BaseException):
    """The execution was asked to stop; `reason` says who asked and why."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


class ExecutionTimedOut(ExecutionCancelled):
    """The soft deadline passed; the execution ends TIMED_OUT."""
