"""Exceptions user code raises or sees.

    BaseException
    ├── ExecutionCancelled          raised into user code when the execution is cancelled
    │   └── ExecutionTimedOut       ... or its soft deadline (`timeoutSeconds`) has passed
    └── Exception
        ├── UserError               an expected failure: the message is shown as is
        └── WorkflowError           bifrost's family of failures, each shown as is
            ├── ValidationError     the inputs are wrong (reason InvalidParameters)
            ├── IntegrationError    an integration is missing or its service failed
            └── ConfigurationError  a configuration value is missing or wrong

Every error below `Exception` here ends the execution FAILED with its message
and no traceback (the message is written for the user; the traceback is the
author's business); `status.error.type` names the class. They have bifrost's
names, so bifrost code raises and catches them unchanged.

`ExecutionCancelled` derives from `BaseException` (like `KeyboardInterrupt`
and `asyncio.CancelledError`) so that a broad `except Exception:` in user code
does not swallow a cancellation.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure: the execution ends FAILED with this message, without a traceback."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class WorkflowError(Exception):
    """Base of bifrost's workflow failures: FAILED with this message, without a traceback."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class ValidationError(WorkflowError):
    """The inputs do not pass the workflow's own checks: FAILED/InvalidParameters."""


class IntegrationError(WorkflowError):
    """An integration is not configured, or the service behind it failed."""


class ConfigurationError(WorkflowError):
    """A configuration value the code needs is missing or unusable."""


class ExecutionCancelled(BaseException):
    """The execution was asked to stop; `reason` says who asked and why."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


class ExecutionTimedOut(ExecutionCancelled):
    """The soft deadline passed; the execution ends TIMED_OUT."""
