"""The execution context user code receives, and the `kuberun.context` proxy.

The runtime creates one `ExecutionContext` per execution and makes it current
with `activate()`: a context variable (so asyncio tasks inherit it) plus a
process-wide fallback (so threads the user starts see it too — the runner
process runs exactly one execution, so the fallback cannot leak between
executions).

Cancellation state lives in `Cancellation`, shared with the runtime's watcher
thread: the watcher calls `request()`, user code calls `check_cancelled()`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from kuberun.sdk import errors


class Cancellation:
    """A thread-safe, set-once stop request with a reason; `timed_out` for the soft deadline."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.timed_out = False

    def request(self, reason: str, *, timed_out: bool = False) -> bool:
        """Ask the execution to stop; returns False if it was already asked (first reason wins)."""
        with self._lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self.timed_out = timed_out
            self._event.set()
            return True

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def exception(self) -> errors.ExecutionCancelled:
        """The exception that stops user code for this request."""
        reason = self.reason or "cancelled"
        if self.timed_out:
            return errors.ExecutionTimedOut(reason)
        return errors.ExecutionCancelled(reason)


class ExecutionContext:
    """What user code knows about the execution it runs in."""

    def __init__(
        self,
        *,
        execution_id: str,
        name: str = "",
        namespace: str = "",
        attempt: int = 1,
        organization: str | None = None,
        caller: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        logger: logging.Logger | None = None,
        deadline: float | None = None,
        cancellation: Cancellation | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.name = name
        self.namespace = namespace
        self.attempt = attempt
        self.organization = organization
        self.caller = caller
        self.parameters: dict[str, Any] = dict(parameters or {})
        self.logger = logger or logging.getLogger("workflow")
        self._deadline = deadline  # time.monotonic() value, or None
        self._cancellation = cancellation or Cancellation()

    @property
    def cancelled(self) -> bool:
        """True once cancellation (or the soft deadline) was requested."""
        return self._cancellation.requested

    @property
    def cancel_reason(self) -> str | None:
        return self._cancellation.reason

    def check_cancelled(self) -> None:
        """Raise `ExecutionCancelled` (or `ExecutionTimedOut`) if the execution should stop."""
        if self._cancellation.requested:
            raise self._cancellation.exception()

    def time_remaining(self) -> float | None:
        """Seconds until the soft deadline (never negative), or None without one."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def __repr__(self) -> str:
        return f"ExecutionContext(execution_id={self.execution_id!r}, name={self.name!r})"


_current: contextvars.ContextVar[ExecutionContext] = contextvars.ContextVar("kuberun_context")
_process_context: ExecutionContext | None = None


def activate(ctx: ExecutionContext) -> None:
    """Make `ctx` the current execution for this context and for the whole process."""
    global _process_context
    _process_context = ctx
    _current.set(ctx)


def current() -> ExecutionContext:
    """The current execution's context; RuntimeError outside an execution."""
    ctx = _current.get(None) or _process_context
    if ctx is None:
        raise RuntimeError("kuberun.context is only available while an execution runs")
    return ctx


class _ContextProxy:
    """Forwards attribute access to `current()`; what `kuberun.context` is."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(current(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(current(), name, value)

    def __repr__(self) -> str:
        try:
            return f"<kuberun.context for {current()!r}>"
        except RuntimeError:
            return "<kuberun.context (no execution)>"


# Typed as the real class so user code gets completion and mypy checks its use.
context: ExecutionContext = _ContextProxy()  # type: ignore[assignment]
