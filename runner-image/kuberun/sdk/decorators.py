"""`@workflow` and `@data_provider`: attach metadata, return the function unchanged.

The runtime finds entrypoints by this metadata (`ENTRYPOINT_ATTRIBUTE`); the
parameters (names, types, defaults, required) are inferred from the signature
when the decorator runs, and `@param` declarations (`kuberun.sdk.params`)
add labels, help texts and rules, so a listing of entrypoints
(`kuberun inspect`) can describe them to a form.

Both decorators take every argument bifrost's do, by keyword or (as older
bifrost versions allowed) name, description, category, ... by position. Arguments with an
engine meaning get it: `timeout_seconds` shortens the run's deadline,
`cache_ttl_seconds` is a data provider's cache lifetime, and `retry_policy`
and `timeout_seconds` are offered as defaults for the Execution's
`spec.retry`/`spec.timeoutSeconds` (`spec_defaults`). Any other keyword is
kept in `extra`, with one warning record naming them all, never an error: an
argument a newer bifrost added must not stop old code from importing.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from kuberun.sdk import params, signatures

ENTRYPOINT_ATTRIBUTE = "__kuberun_entrypoint__"
# Data-provider results are reused this long unless the decorator says otherwise:
# long enough to spare a form's dropdown a pod per keystroke, short enough to be fresh.
DEFAULT_CACHE_TTL_SECONDS = 300
DEFAULT_CATEGORY = "General"  # bifrost's
EXECUTION_MODES = ("sync", "async", "scheduled")
DEFAULT_ALLOWED_METHODS = ("POST",)

F = TypeVar("F", bound=Callable[..., Any])


class Kind(enum.StrEnum):
    """What an entrypoint is."""

    WORKFLOW = "workflow"
    DATA_PROVIDER = "data_provider"


@dataclass(frozen=True)
class EntrypointInfo:
    """What a decorator attached to a function."""

    kind: Kind
    name: str
    description: str | None
    parameters: tuple[signatures.ParameterInfo, ...]
    timeout_seconds: int | None = None
    cache_ttl_seconds: int | None = None
    category: str = DEFAULT_CATEGORY
    tags: tuple[str, ...] = ()
    execution_mode: str | None = None
    schedule: str | None = None
    retry_policy: dict[str, Any] | None = None
    endpoint_enabled: bool = False
    allowed_methods: tuple[str, ...] = DEFAULT_ALLOWED_METHODS
    public_endpoint: bool = False
    disable_global_key: bool = False
    params: tuple[params.Param, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def entrypoint_info(obj: object) -> EntrypointInfo | None:
    """The metadata of a decorated function, or None (also for objects whose getattr raises)."""
    try:
        info = getattr(obj, ENTRYPOINT_ATTRIBUTE, None)
    except Exception:
        return None
    return info if isinstance(info, EntrypointInfo) else None


def refresh_params(func: Callable[..., Any]) -> None:
    """Take in `@param`s applied after (written above) the entrypoint decorator."""
    info = entrypoint_info(func)
    if info is not None:
        merged = _merged(info.params, params.declared_params(func))
        setattr(func, ENTRYPOINT_ATTRIBUTE, dataclasses.replace(info, params=merged))


def _describe(func: Callable[..., Any], description: str | None) -> str | None:
    if description is not None:
        return description
    doc = (func.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else None


# Older bifrost versions took these by position, in this order.
_WORKFLOW_POSITIONAL = (
    "name",
    "description",
    "category",
    "tags",
    "execution_mode",
    "timeout_seconds",
)
_PROVIDER_POSITIONAL = ("name", "description", "category", "cache_ttl_seconds")


def _positional(
    decorator: str, args: tuple[Any, ...], order: tuple[str, ...]
) -> tuple[Callable[..., Any] | None, dict[str, Any]]:
    """(function, arguments by name) from `@d` or `@d("name", "description", ...)`."""
    if len(args) == 1 and callable(args[0]):
        return args[0], {}
    if len(args) > len(order):
        raise TypeError(
            f"@{decorator} takes at most {len(order)} arguments by position"
            f" ({', '.join(order)}), got {len(args)}"
        )
    for label, given in zip(order[:2], args, strict=False):
        if not isinstance(given, str):
            raise TypeError(
                f"@{decorator}: the {label} given by position must be a string,"
                f" got {type(given).__name__}"
            )
    return None, dict(zip(order, args, strict=False))


def _strings(decorator: str, argument: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TypeError(f"@{decorator}: {argument} must be a list of strings, got {value!r}")


def _seconds(decorator: str, argument: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise TypeError(f"@{decorator}: {argument} must be a number of seconds, got {value!r}")
    return int(value)


def _warn_extra(
    decorator: str, target: Callable[..., Any], name: str, extra: Mapping[str, Any]
) -> None:
    """One warning record for all unknown arguments, on the logger of the code's own module
    (the runner shows the code's warnings; it hides its own `kuberun.*` loggers)."""
    extra = {k: v for k, v in extra.items() if k not in _WITHOUT_WARNING}
    if extra:
        logging.getLogger(getattr(target, "__module__", None) or "workflow").warning(
            "@%s %r: argument(s) %s have no meaning in kuberun; kept as metadata",
            decorator,
            name,
            ", ".join(sorted(extra)),
        )


@overload
def workflow(func: F, /) -> F: ...


@overload
def workflow(
    name: str | None = None,
    description: str | None = None,
    category: str = DEFAULT_CATEGORY,
    tags: Sequence[str] | None = None,
    execution_mode: str | None = None,
    timeout_seconds: int | None = None,
    /,
    **kwargs: Any,
) -> Callable[[F], F]: ...


def workflow(
    *args: Any,
    name: str | None = None,
    description: str | None = None,
    category: str = DEFAULT_CATEGORY,
    tags: Sequence[str] | None = None,
    execution_mode: str | None = None,
    timeout_seconds: int | None = None,
    retry_policy: Mapping[str, Any] | None = None,
    schedule: str | None = None,
    endpoint_enabled: bool = False,
    allowed_methods: Sequence[str] | None = None,
    public_endpoint: bool = False,
    disable_global_key: bool = False,
    **extra: Any,
) -> Any:
    """Mark a function as a workflow; usable bare (`@workflow`) or with arguments."""
    func, by_position = _positional("workflow", args, _WORKFLOW_POSITIONAL)
    name = by_position.get("name", name)
    description = by_position.get("description", description)
    category = by_position.get("category", category)
    tags = by_position.get("tags", tags)
    execution_mode = by_position.get("execution_mode", execution_mode)
    timeout_seconds = by_position.get("timeout_seconds", timeout_seconds)
    if execution_mode is not None and execution_mode not in EXECUTION_MODES:
        raise ValueError(
            f"@workflow: execution_mode must be one of {', '.join(EXECUTION_MODES)},"
            f" got {execution_mode!r}"
        )
    if retry_policy is not None and not isinstance(retry_policy, Mapping):
        raise TypeError(f"@workflow: retry_policy must be a dict, got {retry_policy!r}")
    if schedule is not None and not isinstance(schedule, str):
        raise TypeError(f"@workflow: schedule must be a cron expression, got {schedule!r}")
    tag_list = _strings("workflow", "tags", tags)
    methods = tuple(m.upper() for m in _strings("workflow", "allowed_methods", allowed_methods))
    timeout = _seconds("workflow", "timeout_seconds", timeout_seconds)

    listed = _listed_params("workflow", extra.pop("parameters", None))

    def mark(target: F) -> F:
        info = EntrypointInfo(
            kind=Kind.WORKFLOW,
            name=name or target.__name__,
            description=_describe(target, description),
            parameters=signatures.input_parameters(target),
            timeout_seconds=timeout,
            category=category or DEFAULT_CATEGORY,
            tags=tag_list,
            # bifrost's default: endpoints answer synchronously, everything else runs async.
            execution_mode=execution_mode or ("sync" if endpoint_enabled else "async"),
            schedule=schedule,
            retry_policy=dict(retry_policy) if retry_policy is not None else None,
            endpoint_enabled=bool(endpoint_enabled),
            allowed_methods=methods or DEFAULT_ALLOWED_METHODS,
            public_endpoint=bool(public_endpoint),
            disable_global_key=bool(disable_global_key),
            params=_merged(listed, params.declared_params(target)),
            extra=dict(extra),
        )
        _warn_extra("workflow", target, info.name, extra)
        setattr(target, ENTRYPOINT_ATTRIBUTE, info)
        return target

    return mark(func) if func is not None else mark


def _listed_params(decorator: str, listed: Any) -> tuple[params.Param, ...]:
    """A bifrost version's `parameters=[{"name": ..., "type": ..., ...}]`, as `@param`s."""
    if listed is None:
        return ()
    if not isinstance(listed, Sequence) or isinstance(listed, str):
        raise TypeError(f"@{decorator}: parameters must be a list of dicts, got {listed!r}")
    found = []
    for item in listed:
        if not isinstance(item, Mapping) or "name" not in item:
            raise TypeError(f"@{decorator}: each of parameters needs a 'name', got {item!r}")
        known = {k: item[k] for k in params.PARAM_ARGUMENTS if k in item}
        found.append(params.make(**known))
    return tuple(found)


def _merged(
    listed: tuple[params.Param, ...], stacked: tuple[params.Param, ...]
) -> tuple[params.Param, ...]:
    names = {p.name for p in stacked}
    return (*stacked, *(p for p in listed if p.name not in names))


@overload
def tool(func: F, /) -> F: ...


@overload
def tool(
    name: str | None = None, description: str | None = None, /, **kwargs: Any
) -> Callable[[F], F]: ...


def tool(*args: Any, **kwargs: Any) -> Any:
    """bifrost's `@tool`: a workflow offered to AI agents (`is_tool` is kept as metadata)."""
    description = kwargs.get("description")
    kwargs.setdefault("is_tool", True)
    kwargs.setdefault("tool_description", description)
    return workflow(*args, **kwargs)


_WITHOUT_WARNING = frozenset({"is_tool", "tool_description"})


@overload
def data_provider(func: F, /) -> F: ...


@overload
def data_provider(
    name: str | None = None,
    description: str | None = None,
    category: str = DEFAULT_CATEGORY,
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS,
    /,
    **kwargs: Any,
) -> Callable[[F], F]: ...


def data_provider(
    *args: Any,
    name: str | None = None,
    description: str | None = None,
    category: str = DEFAULT_CATEGORY,
    tags: Sequence[str] | None = None,
    timeout_seconds: int | None = None,
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS,
    **extra: Any,
) -> Any:
    """Mark a function as a data provider: it returns options `{label, value, metadata?}`
    (or plain strings, each becoming `{label: s, value: s}`)."""
    func, by_position = _positional("data_provider", args, _PROVIDER_POSITIONAL)
    name = by_position.get("name", name)
    description = by_position.get("description", description)
    category = by_position.get("category", category)
    cache_ttl_seconds = by_position.get("cache_ttl_seconds", cache_ttl_seconds)
    tag_list = _strings("data_provider", "tags", tags)
    timeout = _seconds("data_provider", "timeout_seconds", timeout_seconds)
    ttl = _seconds("data_provider", "cache_ttl_seconds", cache_ttl_seconds)

    def mark(target: F) -> F:
        info = EntrypointInfo(
            kind=Kind.DATA_PROVIDER,
            name=name or target.__name__,
            description=_describe(target, description),
            parameters=signatures.input_parameters(target),
            timeout_seconds=timeout,
            cache_ttl_seconds=ttl,
            category=category or DEFAULT_CATEGORY,
            tags=tag_list,
            params=params.declared_params(target),
            extra=dict(extra),
        )
        _warn_extra("data_provider", target, info.name, extra)
        setattr(target, ENTRYPOINT_ATTRIBUTE, info)
        return target

    return mark(func) if func is not None else mark


def _retry_spec(policy: Mapping[str, Any]) -> dict[str, Any] | None:
    """bifrost's `retry_policy` as an Execution's `spec.retry`; None if it says nothing we know.

    `max_attempts` counts the first attempt (bifrost), `limit` does not (kuberun);
    `backoff`/`backoff_seconds` is the first delay, `max_backoff_seconds` the cap.
    """
    spec: dict[str, Any] = {}
    attempts = policy.get("max_attempts", policy.get("maxAttempts"))
    if isinstance(attempts, int) and not isinstance(attempts, bool):
        spec["limit"] = max(0, attempts - 1)
    limit = policy.get("limit", policy.get("max_retries"))
    if isinstance(limit, int) and not isinstance(limit, bool):
        spec["limit"] = max(0, limit)
    for key in ("backoff_seconds", "backoff", "initial_delay", "delay_seconds"):
        value = policy.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            spec["backoffSeconds"] = float(value)
            break
    for key in ("max_backoff_seconds", "max_delay", "max_backoff"):
        value = policy.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            spec["maxBackoffSeconds"] = float(value)
            break
    return spec or None


def spec_defaults(info: EntrypointInfo) -> dict[str, Any]:
    """What the decorator says an Execution's spec should default to (camelCase, as in YAML)."""
    defaults: dict[str, Any] = {}
    if info.timeout_seconds:
        defaults["timeoutSeconds"] = info.timeout_seconds
    if info.retry_policy:
        retry = _retry_spec(info.retry_policy)
        if retry is not None:
            defaults["retry"] = retry
    if info.kind is Kind.DATA_PROVIDER and info.cache_ttl_seconds is not None:
        defaults["cache"] = {"ttlSeconds": info.cache_ttl_seconds}
    return defaults
