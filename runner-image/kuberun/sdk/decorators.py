"""`@workflow` and `@data_provider`: attach metadata, return the function unchanged.

The runtime finds entrypoints by this metadata (`ENTRYPOINT_ATTRIBUTE`); the
parameters (names, types, defaults, required) are inferred from the signature
when the decorator runs, so a listing of entrypoints can describe them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from kuberun.sdk import signatures

ENTRYPOINT_ATTRIBUTE = "__kuberun_entrypoint__"
# Data-provider results are reused this long unless the decorator says otherwise:
# long enough to spare a form's dropdown a pod per keystroke, short enough to be fresh.
DEFAULT_CACHE_TTL_SECONDS = 300

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


def entrypoint_info(obj: object) -> EntrypointInfo | None:
    """The metadata of a decorated function, or None."""
    info = getattr(obj, ENTRYPOINT_ATTRIBUTE, None)
    return info if isinstance(info, EntrypointInfo) else None


def _describe(func: Callable[..., Any], description: str | None) -> str | None:
    if description is not None:
        return description
    doc = (func.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else None


@overload
def workflow(func: F, /) -> F: ...


@overload
def workflow(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_seconds: int | None = None,
) -> Callable[[F], F]: ...


def workflow(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_seconds: int | None = None,
) -> F | Callable[[F], F]:
    """Mark a function as a workflow; usable bare (`@workflow`) or with arguments."""

    def mark(target: F) -> F:
        info = EntrypointInfo(
            kind=Kind.WORKFLOW,
            name=name or target.__name__,
            description=_describe(target, description),
            parameters=signatures.input_parameters(target),
            timeout_seconds=timeout_seconds,
        )
        setattr(target, ENTRYPOINT_ATTRIBUTE, info)
        return target

    return mark(func) if func is not None else mark


@overload
def data_provider(func: F, /) -> F: ...


@overload
def data_provider(
    *,
    name: str | None = None,
    description: str | None = None,
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS,
) -> Callable[[F], F]: ...


def data_provider(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS,
) -> F | Callable[[F], F]:
    """Mark a function as a data provider: it returns options `{label, value, metadata?}`."""

    def mark(target: F) -> F:
        info = EntrypointInfo(
            kind=Kind.DATA_PROVIDER,
            name=name or target.__name__,
            description=_describe(target, description),
            parameters=signatures.input_parameters(target),
            cache_ttl_seconds=cache_ttl_seconds,
        )
        setattr(target, ENTRYPOINT_ATTRIBUTE, info)
        return target

    return mark(func) if func is not None else mark
