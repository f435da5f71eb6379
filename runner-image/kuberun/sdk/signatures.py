"""Reading a user function's signature: which parameter takes the context, which take inputs.

Pure functions over `inspect.Signature`, shared by the decorators (which
describe parameters) and the runtime (which binds inputs to them).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONTEXT_PARAMETER_NAME = "context"
# `OrganizationContext` is bifrost's older name of the same class.
_CONTEXT_TYPE_NAMES = frozenset({"ExecutionContext", "OrganizationContext"})


@dataclass(frozen=True)
class ParameterInfo:
    """One input of a workflow or data provider, as inferred from its signature."""

    name: str
    type: str | None
    required: bool
    default: Any = None


def resolved_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Type hints with string annotations resolved where possible (raw annotations otherwise)."""
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return dict(getattr(func, "__annotations__", {}))


def is_context_annotation(annotation: Any) -> bool:
    """True for `ExecutionContext` itself, or a string naming it (postponed annotations)."""
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1].strip("'\"") in _CONTEXT_TYPE_NAMES
    return getattr(annotation, "__name__", None) in _CONTEXT_TYPE_NAMES and (
        getattr(annotation, "__module__", "").startswith("kuberun")
    )


def context_parameter(func: Callable[..., Any]) -> str | None:
    """The name of the parameter that receives the context, if any.

    Only the first parameter qualifies: annotated `ExecutionContext` (any
    name), or named `context`.
    """
    params = list(inspect.signature(func).parameters.values())
    if not params:
        return None
    first = params[0]
    if first.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        return None
    hints = resolved_hints(func)
    annotation = hints.get(first.name, first.annotation)
    if is_context_annotation(annotation) or first.name == CONTEXT_PARAMETER_NAME:
        return first.name
    return None


def type_name(annotation: Any) -> str | None:
    """A short, readable name for an annotation (`int`, `list[str]`, `Optional[int]`)."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def input_parameters(func: Callable[..., Any]) -> tuple[ParameterInfo, ...]:
    """Inputs by signature: everything but the context parameter, `*args` and `**kwargs`."""
    skip = context_parameter(func)
    hints = resolved_hints(func)
    infos = []
    for param in inspect.signature(func).parameters.values():
        if param.name == skip or param.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        required = param.default is inspect.Parameter.empty
        infos.append(
            ParameterInfo(
                name=param.name,
                type=type_name(hints.get(param.name, param.annotation)),
                required=required,
                default=None if required else param.default,
            )
        )
    return tuple(infos)


def accepts_var_keyword(func: Callable[..., Any]) -> bool:
    """True when the function has `**kwargs`."""
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(func).parameters.values()
    )
