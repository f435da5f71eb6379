"""Inputs checked and coerced against @param declarations before the code runs."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.runtime import errors, validating
from kuberun.sdk.params import Param


def p(name: str = "x", type: str = "string", **kwargs: Any) -> Param:
    return Param(name=name, type=type, label=kwargs.pop("label", name), **kwargs)


@pytest.mark.parametrize(
    "kind, given, expected",
    [
        ("string", "abc", "abc"),
        ("int", "42", 42),
        ("int", 7, 7),
        ("int", 3.0, 3),
        ("int", " -5 ", -5),
        ("float", "2.5", 2.5),
        ("float", 3, 3.0),
        ("bool", "true", True),
        ("bool", "No", False),
        ("bool", 1, True),
        ("bool", False, False),
        ("email", " ada@example.com ", "ada@example.com"),
        ("json", '{"a": [1]}', {"a": [1]}),
        ("json", {"a": 1}, {"a": 1}),
        ("list", ["a"], ["a"]),
        ("list", '["a", 2]', ["a", 2]),
        ("list", "a, b,,c", ["a", "b", "c"]),
    ],
)
def test_coercion(kind: str, given: Any, expected: Any) -> None:
    assert validating.coerce(p(type=kind), given) == expected


@pytest.mark.parametrize(
    "kind, given, problem",
    [
        ("string", 5, "expects text, got int 5"),
        ("int", "4.5", "expects an integer"),
        ("int", True, "got a boolean"),
        ("float", "lots", "expects a number"),
        ("float", "nan", "finite"),
        ("bool", "maybe", "expects true or false"),
        ("email", "ada", "is not an email address"),
        ("json", "{nope", "is not valid JSON"),
        ("list", 5, "expects a list"),
    ],
)
def test_wrong_values_name_the_field(kind: str, given: Any, problem: str) -> None:
    with pytest.raises(errors.InvalidParameters, match=problem) as raised:
        validating.coerce(p(name="field", type=kind, label="The Field"), given)
    assert raised.value.message.startswith("parameter 'field' (The Field): ")


@pytest.mark.parametrize(
    "kind, rules, value, problem",
    [
        ("int", {"min": 1, "max": 5}, "0", "must be at least 1"),
        ("int", {"min": 1, "max": 5}, "6", "must be at most 5"),
        ("int", {"min": 1, "max": 5}, "5", None),
        ("string", {"min": 2}, "a", "must have a length at least 2"),
        ("string", {"max_length": 3}, "abcd", "length of at most 3"),
        ("string", {"pattern": r"^[A-Z]{3}-\d+$"}, "OPS-42", None),
        ("string", {"pattern": r"^[A-Z]{3}-\d+$"}, "ops", "does not match the pattern"),
        ("string", {"options": ["E3", "E5"]}, "E1", "'E1' is not one of 'E3', 'E5'"),
        ("list", {"options": [{"label": "A", "value": "a"}]}, "a", None),
        ("string", {"pattern": "("}, "x", "pattern '\\(' is invalid"),
        ("int", {"min": "one"}, "3", "must be a number"),
        ("string", {"placeholder": "kept, not enforced"}, "x", None),
    ],
)
def test_validation_rules(
    kind: str, rules: dict[str, Any], value: Any, problem: str | None
) -> None:
    declared = p(type=kind, validation=rules)
    if problem is None:
        validating.coerce(declared, value)
        return
    with pytest.raises(errors.InvalidParameters, match=problem):
        validating.coerce(declared, value)


def test_apply_required_defaults_and_optional() -> None:
    declared = (
        p("first", required=True, label="First Name"),
        p("seats", "int", default_value=1),
        p("note"),
        p("region"),
    )
    out = validating.apply(
        declared, {"first": "Ada", "extra": "kept"}, signature_defaults=["region"]
    )
    assert out == {"first": "Ada", "seats": 1, "note": None, "extra": "kept"}


def test_apply_lists_every_missing_required_field() -> None:
    declared = (p("a", required=True, label="A field"), p("b", required=True), p("c"))
    with pytest.raises(errors.InvalidParameters) as raised:
        validating.apply(declared, {"b": "  "})
    assert raised.value.message == "missing required parameters: 'a' (A field), 'b'"
