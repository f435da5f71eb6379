"""Bind inputs to a user function by its signature, coercing where unambiguous.

Pure: `bind()` returns the call's args and kwargs or raises
`InvalidParameters` naming every missing input and the first mistyped one.

Rules: the first parameter gets the context when annotated
`ExecutionContext` or named `context`; other parameters take the input of the
same name (validated against their annotation with pydantic's lax mode, so
`"42"` becomes `42` for an `int` and a JSON string becomes a list for
`list[int]`; `5` stays an error for `str`); inputs the signature does not
name go to `**kwargs` when there is one, and are the call's `extras`
(what `context.parameters` holds, as in bifrost; `context.inputs` has all).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kuberun.runtime import errors
from kuberun.sdk import signatures

_JSON_SHAPED = (list, dict, tuple, set, frozenset)


@dataclass(frozen=True)
class Call:
    """Arguments for one call of a user function."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_shaped(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    if origin in _JSON_SHAPED:
        return True
    import pydantic

    return isinstance(origin, type) and issubclass(origin, pydantic.BaseModel)


def coerce(name: str, value: Any, annotation: Any) -> Any:
    """`value` validated as `annotation`; InvalidParameters names the parameter if it is not."""
    if annotation is inspect.Parameter.empty or annotation is Any or isinstance(annotation, str):
        return value
    import pydantic  # only a call with annotated inputs needs it: a script's start does not

    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
    except Exception:  # not a type pydantic understands: pass the value as is
        return value
    try:
        return adapter.validate_python(value)
    except pydantic.ValidationError as exc:
        if isinstance(value, str) and _json_shaped(annotation):
            try:
                return adapter.validate_json(value)
            except pydantic.ValidationError:
                pass
        problem = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise errors.InvalidParameters(
            f"parameter {name!r} expects {signatures.type_name(annotation)}, got"
            f" {type(value).__name__} {_short(value)}: {problem}"
        ) from None


def describe(func: Callable[..., Any]) -> str:
    """`a: int, b: str = 'x'` — the inputs a function takes, for error messages."""
    parts = []
    for info in signatures.input_parameters(func):
        text = info.name + (f": {info.type}" if info.type else "")
        if not info.required:
            text += f" = {_short(info.default, 30)}"
        parts.append(text)
    return ", ".join(parts) or "no parameters"


def bind(func: Callable[..., Any], inputs: Mapping[str, Any], context: Any) -> Call:
    """The call of `func` for these inputs (see the module docstring for the rules)."""
    signature = inspect.signature(func)
    hints = signatures.resolved_hints(func)
    context_name = signatures.context_parameter(func)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    missing: list[str] = []
    named: set[str] = set()
    var_keyword = False
    positional_gap = False
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
            continue
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        named.add(param.name)
        if param.name == context_name:
            value: Any = context
        elif param.name in inputs:
            value = coerce(param.name, inputs[param.name], hints.get(param.name, param.annotation))
        elif param.default is inspect.Parameter.empty:
            missing.append(param.name)
            continue
        else:
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                positional_gap = True
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            if positional_gap:
                raise errors.InvalidParameters(
                    f"cannot pass {param.name!r}: an earlier positional-only parameter has no value"
                )
            args.append(value)
        else:
            kwargs[param.name] = value
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise errors.InvalidParameters(
            f"missing required parameter{'s' if len(missing) > 1 else ''} {names}"
            f" ({getattr(func, '__name__', 'the function')} takes: {describe(func)})"
        )
    extras = {key: value for key, value in inputs.items() if key not in named}
    if var_keyword:
        for key, value in extras.items():
            if key.isidentifier():
                kwargs[key] = value
    return Call(tuple(args), kwargs, extras)
