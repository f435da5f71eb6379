"""Check and coerce inputs against a workflow's `@param` declarations, before the code runs. Pure.

`apply(params, inputs, signature_names)` returns the inputs with every
declared parameter coerced to its type, defaults filled in, and rules
(`validation`) checked; `InvalidParameters` names the field (and its label)
and says what is wrong, so the execution ends FAILED/InvalidParameters
without the code having started. Undeclared inputs pass through untouched
(the signature's annotations still coerce them, see `invoking`).

Coercion is a form's: the text `"42"` is an int, `"yes"` a bool, a JSON text
a json/list value, `"a, b"` a list of two strings. Nothing is guessed beyond
that: `"4.5"` is not an int and `5` is not an email.

An optional parameter that is neither given nor defaulted is passed as None
when the function has no default for it, as bifrost's forms do.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from kuberun.runtime import errors
from kuberun.sdk.params import Param

# Deliberately simple (one @, a dot in the domain, no spaces): the mail server is the
# judge of an address; this catches typos and values of the wrong field.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def _named(declared: Param) -> str:
    if declared.label and declared.label != declared.name:
        return f"{declared.name!r} ({declared.label})"
    return repr(declared.name)


def _field(declared: Param) -> str:
    return f"parameter {_named(declared)}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _invalid(declared: Param, problem: str) -> errors.InvalidParameters:
    return errors.InvalidParameters(f"{_field(declared)}: {problem}")


def _to_int(declared: Param, value: Any) -> int:
    if isinstance(value, bool):
        raise _invalid(declared, f"expects an integer, got a boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise _invalid(declared, f"expects an integer, got {type(value).__name__} {_short(value)}")


def _to_float(declared: Param, value: Any) -> float:
    if isinstance(value, bool):
        raise _invalid(declared, f"expects a number, got a boolean {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _invalid(declared, f"expects a number, got {_short(value)}") from None
    else:
        raise _invalid(declared, f"expects a number, got {type(value).__name__} {_short(value)}")
    if not math.isfinite(number):
        raise _invalid(declared, f"expects a finite number, got {_short(value)}")
    return number


def _to_bool(declared: Param, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _invalid(declared, f"expects true or false, got {type(value).__name__} {_short(value)}")


def _to_string(declared: Param, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _invalid(declared, f"expects text, got {type(value).__name__} {_short(value)}")


def _to_email(declared: Param, value: Any) -> str:
    text = _to_string(declared, value).strip()
    if not EMAIL_PATTERN.match(text):
        raise _invalid(declared, f"{_short(text)} is not an email address")
    return text


def _to_json(declared: Param, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _invalid(declared, f"is not valid JSON ({exc})") from None
    return value


def _to_list(declared: Param, value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = _to_json(declared, text)
            if isinstance(parsed, list):
                return parsed
        return [part.strip() for part in text.split(",") if part.strip()] if text else []
    raise _invalid(declared, f"expects a list, got {type(value).__name__} {_short(value)}")


_COERCE = {
    "string": _to_string,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "email": _to_email,
    "json": _to_json,
    "list": _to_list,
}


def coerce(declared: Param, value: Any) -> Any:
    """`value` as the declared type, its rules checked; InvalidParameters names the field."""
    converted = _COERCE[declared.type](declared, value)
    check_rules(declared, converted)
    return converted


def _number(declared: Param, rule: str, bound: Any) -> float:
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        raise _invalid(declared, f"its validation {rule!r} must be a number, got {bound!r}")
    return float(bound)


def check_rules(declared: Param, value: Any) -> None:
    """`min`/`max` (a number's value, or a text's or list's length), `min_length`/`max_length`,
    `pattern` (a regular expression the text must match), `options` (allowed values)."""
    rules = declared.validation
    if not rules or value is None:
        return
    sized = isinstance(value, str | list)
    measure: float | None
    if isinstance(value, int | float) and not isinstance(value, bool):
        measure, what = float(value), "be"
    elif sized:
        measure, what = float(len(value)), "have a length"
    else:
        measure, what = None, ""
    for rule, limit_name in (("min", "at least"), ("max", "at most")):
        if rule in rules and measure is not None:
            bound = _number(declared, rule, rules[rule])
            if (rule == "min" and measure < bound) or (rule == "max" and measure > bound):
                raise _invalid(
                    declared, f"must {what} {limit_name} {rules[rule]}, got {_short(value)}"
                )
    for rule, limit_name in (("min_length", "at least"), ("max_length", "at most")):
        if rule in rules and sized:
            bound = _number(declared, rule, rules[rule])
            length = len(value)
            if (rule == "min_length" and length < bound) or (
                rule == "max_length" and length > bound
            ):
                raise _invalid(
                    declared, f"must have a length of {limit_name} {rules[rule]}, got {length}"
                )
    pattern = rules.get("pattern")
    if pattern is not None and isinstance(value, str):
        try:
            matched = re.search(str(pattern), value) is not None
        except re.error as exc:
            raise _invalid(
                declared, f"its validation pattern {pattern!r} is invalid: {exc}"
            ) from None
        if not matched:
            raise _invalid(declared, f"{_short(value)} does not match the pattern {pattern!r}")
    options = rules.get("options")
    if isinstance(options, Collection) and not isinstance(options, str | Mapping):
        allowed = [o.get("value") if isinstance(o, Mapping) else o for o in options]
        items = value if isinstance(value, list) else [value]
        bad = [item for item in items if item not in allowed]
        if bad:
            raise _invalid(
                declared, f"{_short(bad[0])} is not one of {', '.join(map(repr, allowed))}"
            )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def apply(
    params: tuple[Param, ...],
    inputs: Mapping[str, Any],
    signature_defaults: Collection[str] = (),
) -> dict[str, Any]:
    """The inputs after checking every declared parameter (see the module docstring).

    `signature_defaults`: parameters that have a default in the function's
    signature (left out when not given, so that default applies).
    """
    result = dict(inputs)
    missing: list[str] = []
    for declared in params:
        given = declared.name in inputs and not _blank(inputs[declared.name])
        if not given:
            if declared.default_value is not None:
                result[declared.name] = coerce(declared, declared.default_value)
            elif declared.required:
                missing.append(_named(declared))
            elif declared.name in signature_defaults:
                result.pop(declared.name, None)
            else:
                result[declared.name] = None
            continue
        result[declared.name] = coerce(declared, inputs[declared.name])
    if missing:
        raise errors.InvalidParameters(
            f"missing required {'parameters' if len(missing) > 1 else 'parameter'}:"
            f" {', '.join(missing)}"
        )
    return result
