"""The execution context user code receives, and the `kuberun.context` proxy.

The runtime creates one `ExecutionContext` per execution and makes it current
with `activate()`: a context variable (so asyncio tasks inherit it) plus a
process-wide fallback (so threads the user starts see it too — the runner
process runs exactly one execution, so the fallback cannot leak between
executions).

Identity has bifrost's names: `organization` (`id`, `name`), `org_id`,
`org_name`, `scope` (`"GLOBAL"` without an organization), `user_id`, `email`,
`name` (the caller's display name), their `executed_by*` aliases,
`is_platform_admin` and `execution_id`. The Execution's own name is
`execution_name` (`name` meant that before bifrost's meaning took the word).
`parameters` holds the inputs the entrypoint's signature does not take (as in
bifrost); `inputs` holds all of them.

Cancellation state lives in `Cancellation`, shared with the runtime's watcher
thread: the watcher calls `request()`, user code calls `check_cancelled()`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kuberun.sdk import awaiting, configuration, errors, integrations
from kuberun.sdk.resources import Resources

GLOBAL_SCOPE = "GLOBAL"


class Cancellation:
    """A thread-safe, set-once stop request with a reason; `timed_out` for the soft deadline."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.timed_out = False
        self.terminated = False  # stopped by a SIGTERM nobody asked for (not a cancel)

    def request(self, reason: str, *, timed_out: bool = False, terminated: bool = False) -> bool:
        """Ask the execution to stop; returns False if it was already asked (first reason wins)."""
        with self._lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self.timed_out = timed_out
            self.terminated = terminated
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


@dataclass(frozen=True)
class Organization:
    """The organization an execution belongs to (bifrost's `Organization`)."""

    id: str
    name: str
    is_active: bool = True

    @property
    def org_id(self) -> str:
        return self.id


@dataclass(frozen=True)
class Caller:
    """Who started the execution (bifrost's `Caller`); empty strings when unknown."""

    user_id: str = ""
    email: str = ""
    name: str = ""
    is_platform_admin: bool = False


def _organization(value: Organization | str | None) -> Organization | None:
    if value is None or isinstance(value, Organization):
        return value
    return Organization(id=value, name=value)


def _caller(value: Caller | str | None) -> Caller:
    if value is None:
        return Caller()
    if isinstance(value, Caller):
        return value
    return Caller(user_id=value, name=value)


class ExecutionContext:
    """What user code knows about the execution it runs in."""

    def __init__(
        self,
        *,
        execution_id: str,
        execution_name: str = "",
        namespace: str = "",
        attempt: int = 1,
        organization: Organization | str | None = None,
        caller: Caller | str | None = None,
        parameters: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
        logger: logging.Logger | None = None,
        deadline: float | None = None,
        cancellation: Cancellation | None = None,
        resources: Resources | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.execution_name = execution_name
        self.namespace = namespace
        self.attempt = attempt
        self.organization = _organization(organization)
        self.caller = _caller(caller)
        # All inputs; `parameters` narrows to the extras once the entrypoint is bound.
        self.inputs: dict[str, Any] = dict(inputs if inputs is not None else parameters or {})
        self.parameters: dict[str, Any] = dict(parameters or {})
        self.logger = logger or logging.getLogger("workflow")
        self.resources = resources or Resources()
        self.checkpoints: list[dict[str, Any]] = []
        self.variables: dict[str, Any] = {}
        self._deadline = deadline  # time.monotonic() value, or None
        self._cancellation = cancellation or Cancellation()

    # --- identity (bifrost's names) -------------------------------------------

    @property
    def org_id(self) -> str | None:
        """The organization's id; None in the GLOBAL scope."""
        return self.organization.id if self.organization else None

    @property
    def org_name(self) -> str | None:
        """The organization's display name; None in the GLOBAL scope."""
        return self.organization.name if self.organization else None

    @property
    def scope(self) -> str:
        """The organization's id, or `"GLOBAL"` for an execution of no organization."""
        return self.organization.id if self.organization else GLOBAL_SCOPE

    @property
    def is_global_scope(self) -> bool:
        return self.organization is None

    @property
    def user_id(self) -> str:
        return self.caller.user_id

    @property
    def email(self) -> str:
        return self.caller.email

    @property
    def name(self) -> str:
        """The caller's display name (bifrost's meaning); the Execution's is `execution_name`."""
        return self.caller.name

    @property
    def is_platform_admin(self) -> bool:
        return self.caller.is_platform_admin

    @property
    def executed_by(self) -> str:
        return self.caller.user_id

    @property
    def executed_by_email(self) -> str:
        return self.caller.email

    @property
    def executed_by_name(self) -> str:
        return self.caller.name

    @property
    def org(self) -> Organization | None:
        """bifrost's older name of `organization`."""
        return self.organization

    # --- configuration, secrets, connections ------------------------------------

    def get_config_sync(self, key: str, default: Any = configuration.MISSING) -> Any:
        """A configuration value (ConfigMap or Secret); KeyError when missing without default."""
        return self.resources.config.get(key, default)

    # `await context.get_config(k)` (bifrost's current form) and `context.get_config(k)`
    # (its older one) both work: see kuberun.sdk.awaiting.
    get_config = awaiting.dual(get_config_sync)

    def has_config(self, key: str) -> bool:
        return self.resources.config.has(key)

    def _get_secret(self, key: str) -> str:
        store = self.resources.config
        if key not in store.secret_keys:
            raise KeyError(f"secret {key!r} is not set (looked in {store.where})")
        return str(store.get(key))

    get_secret = awaiting.dual(_get_secret)
    """A value of the namespace's Secret only; KeyError when it has no such key."""

    def _get_oauth_connection(self, connection_name: str) -> integrations.OAuthCredentials:
        return integrations.credentials(connection_name)

    get_oauth_connection = awaiting.dual(_get_oauth_connection)
    """An integration's OAuth credentials (bifrost's older API); IntegrationError if none."""

    # --- bifrost's logging and state helpers -------------------------------------

    def log(self, level: str | int, message: str, data: Mapping[str, Any] | None = None) -> None:
        """`context.log("info", "text", {"k": v})`: a record on the execution's logger."""
        number = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
        if not isinstance(number, int):
            number = logging.INFO
        text = message if not data else f"{message} {json.dumps(data, default=str)}"
        self.logger.log(number, "%s", text, stacklevel=2)

    def debug(self, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.log(logging.DEBUG, message, data)

    def info(self, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.log(logging.INFO, message, data)

    def warning(self, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.log(logging.WARNING, message, data)

    def error(self, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.log(logging.ERROR, message, data)

    def save_checkpoint(self, name: str, data: Mapping[str, Any]) -> None:
        """Record a named state in the log (bifrost kept it with the execution record)."""
        self.checkpoints.append({"name": name, "data": dict(data)})
        self.log(logging.INFO, f"checkpoint {name}", data)

    def set_variable(self, key: str, value: Any) -> None:
        self.variables[key] = value

    def get_variable(self, key: str, default: Any = None) -> Any:
        return self.variables.get(key, default)

    # --- cancellation and deadline ---------------------------------------------

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
        return (
            f"ExecutionContext(execution_id={self.execution_id!r},"
            f" execution_name={self.execution_name!r}, scope={self.scope!r},"
            f" user_id={self.user_id!r})"
        )


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
        if name.startswith("__") and name.endswith("__"):
            # Protocol probes (copy, pickle, an entrypoint search's getattr) are not context
            # attributes; answering them outside an execution must not raise RuntimeError.
            raise AttributeError(name)
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

# bifrost's older name of the context's type.
OrganizationContext = ExecutionContext
