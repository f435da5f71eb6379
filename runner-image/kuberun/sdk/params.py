"""`@param`: what a form needs to know about one input, and the rules the runner enforces.

Stacked on a workflow (or data provider), above or below its `@workflow`
decorator, in bifrost's order and with bifrost's arguments::

    @workflow(name="onboard", category="Users")
    @param("email", "email", label="Work email", required=True, help_text="Their new address")
    @param("seats", "int", default_value=1, validation={"min": 1, "max": 50})
    async def onboard(context, email, seats): ...

The decorator only records a `Param`; the runner validates and coerces the
inputs against these records before the code runs (`kuberun.runtime.validating`)
and `kuberun inspect` exports them (`form_fields`) so a form can be rendered.
A wrong declaration (an unknown type, a validation that is not a dict, the
same name twice) is a ValueError when the module is imported: the author sees
it at once, not the first user who submits the form.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kuberun.sdk import signatures

PARAMS_ATTRIBUTE = "__kuberun_params__"

# bifrost's seven types, then the names other bifrost versions and form builders use.
PARAM_TYPES = ("string", "int", "float", "bool", "email", "json", "list")
_TYPE_ALIASES = {
    "str": "string",
    "text": "string",
    "select": "string",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "dict": "json",
    "object": "json",
    "array": "list",
    "multi_select": "list",
}
# Rules `validation` may hold; others are kept (a form may use them) but not enforced.
VALIDATION_RULES = ("min", "max", "min_length", "max_length", "pattern", "options")
# What a signature's annotation means as a form type, when no @param says otherwise.
_ANNOTATION_TYPES = {
    "str": "string",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "list": "list",
    "tuple": "list",
    "set": "list",
    "dict": "json",
}

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """One declared input: its type, how a form shows it, and the rules it must pass."""

    name: str
    type: str
    label: str
    required: bool = False
    validation: dict[str, Any] = field(default_factory=dict)
    data_provider: str | None = None
    default_value: Any = None
    help_text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "required": self.required,
            "validation": dict(self.validation),
            "dataProvider": self.data_provider,
            "defaultValue": self.default_value,
            "helpText": self.help_text,
        }


def normalize_type(type_name: str) -> str:
    """One of `PARAM_TYPES` for a type name or alias; ValueError lists the valid ones."""
    if not isinstance(type_name, str):
        raise ValueError(f"a parameter type must be a string, got {type(type_name).__name__}")
    key = type_name.strip().lower()
    key = _TYPE_ALIASES.get(key, key)
    if key not in PARAM_TYPES:
        raise ValueError(
            f"invalid parameter type {type_name!r}; must be one of: {', '.join(PARAM_TYPES)}"
        )
    return key


def default_label(name: str) -> str:
    """`first_name` → `First Name`, as bifrost labels a parameter without one."""
    return name.replace("_", " ").strip().title() or name


PARAM_ARGUMENTS = (
    "name",
    "type",
    "label",
    "required",
    "validation",
    "data_provider",
    "default_value",
    "help_text",
)


def make(
    name: str,
    type: str = "string",
    label: str | None = None,
    required: bool = False,
    validation: Mapping[str, Any] | None = None,
    data_provider: str | None = None,
    default_value: Any = None,
    help_text: str | None = None,
) -> Param:
    """A checked `Param`; ValueError for an unknown type or a validation that is not a dict."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"@param needs a parameter name, got {name!r}")
    kind = normalize_type(type)
    if validation is not None and not isinstance(validation, Mapping):
        raise ValueError(
            f"@param {name!r}: validation must be a dict such as"
            f" {{'min': 0, 'max': 10, 'pattern': '...'}}, got {validation.__class__.__name__}"
        )
    return Param(
        name=name,
        type=kind,
        label=label or default_label(name),
        required=bool(required),
        validation=dict(validation or {}),
        data_provider=data_provider,
        default_value=default_value,
        help_text=help_text,
    )


def param(
    name: str,
    type: str = "string",
    label: str | None = None,
    required: bool = False,
    validation: Mapping[str, Any] | None = None,
    data_provider: str | None = None,
    default_value: Any = None,
    help_text: str | None = None,
) -> Callable[[F], F]:
    """Declare an input of the decorated workflow; returns the function unchanged."""
    declared = make(
        name, type, label, required, validation, data_provider, default_value, help_text
    )

    def mark(target: F) -> F:
        existing: list[Param] = list(getattr(target, PARAMS_ATTRIBUTE, ()))
        if any(p.name == name for p in existing):
            raise ValueError(f"@param {name!r} is declared twice on {target.__name__}")
        # Decorators apply bottom-up: the one applied now is written above the others.
        existing.insert(0, declared)
        setattr(target, PARAMS_ATTRIBUTE, tuple(existing))
        from kuberun.sdk import decorators  # the entrypoint may already be marked (@param on top)

        decorators.refresh_params(target)
        return target

    return mark


def declared_params(func: Callable[..., Any]) -> tuple[Param, ...]:
    """The `@param` declarations of a function, top to bottom."""
    return tuple(getattr(func, PARAMS_ATTRIBUTE, ()))


def _annotation_type(annotation: str | None) -> str:
    if annotation is None:
        return "string"
    base = annotation.split("[", 1)[0].strip().lower()
    return _ANNOTATION_TYPES.get(base, "json" if "[" in annotation else "string")


def form_fields(func: Callable[..., Any], params: tuple[Param, ...]) -> list[dict[str, Any]]:
    """Every input a form should show: the declared ones first, then the rest of the signature."""
    by_signature = {p.name: p for p in signatures.input_parameters(func)}
    fields = []
    for declared in params:
        entry = declared.to_dict()
        inferred = by_signature.get(declared.name)
        entry["inSignature"] = inferred is not None
        if declared.default_value is None and inferred is not None and not inferred.required:
            entry["defaultValue"] = _json_default(inferred.default)
        fields.append(entry)
    names = {p.name for p in params}
    for info in by_signature.values():
        if info.name in names:
            continue
        fields.append(
            {
                "name": info.name,
                "type": _annotation_type(info.type),
                "label": default_label(info.name),
                "required": info.required,
                "validation": {},
                "dataProvider": None,
                "defaultValue": None if info.required else _json_default(info.default),
                "helpText": None,
                "inSignature": True,
            }
        )
    return fields


def _json_default(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple | dict):
        return value if isinstance(value, dict) else list(value)
    if value is inspect.Parameter.empty:
        return None
    return repr(value)
