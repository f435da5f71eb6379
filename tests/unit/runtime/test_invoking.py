"""Binding inputs to a user function by signature, with coercion and clear errors."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from kuberun import ExecutionContext
from kuberun.runtime import errors, invoking

CTX = object()


class Point(pydantic.BaseModel):
    x: int
    y: int


def with_context(ctx: ExecutionContext, count: int, label: str = "x") -> None: ...
def named_context(context, count: int) -> None: ...
def kwargs_sink(count: int, **kwargs: Any) -> None: ...
def typed(
    items: list[int], flag: bool, ratio: float, point: Point, anything: Any = None
) -> None: ...
def positional(a: int, /, b: int) -> None: ...


def test_context_by_annotation_and_parameters_by_name() -> None:
    call = invoking.bind(with_context, {"count": "3", "extra": 1}, CTX)
    assert call.args == ()
    assert call.kwargs == {"ctx": CTX, "count": 3}


def test_context_by_name() -> None:
    assert invoking.bind(named_context, {"count": 1}, CTX).kwargs == {"context": CTX, "count": 1}


def test_extras_go_to_kwargs_when_the_function_has_them() -> None:
    call = invoking.bind(kwargs_sink, {"count": 1, "region": "eu", "tags": [1]}, CTX)
    assert call.kwargs == {"count": 1, "region": "eu", "tags": [1]}


def test_positional_only_parameters() -> None:
    call = invoking.bind(positional, {"a": "1", "b": 2}, CTX)
    assert (call.args, call.kwargs) == ((1,), {"b": 2})


@pytest.mark.parametrize(
    "inputs, expected",
    [
        (
            {"items": "[1, 2]", "flag": "true", "ratio": "0.5", "point": {"x": 1, "y": "2"}},
            {"items": [1, 2], "flag": True, "ratio": 0.5, "point": Point(x=1, y=2)},
        ),
        (
            {
                "items": [3],
                "flag": False,
                "ratio": 2,
                "point": '{"x": 1, "y": 2}',
                "anything": b"?",
            },
            {"items": [3], "flag": False, "ratio": 2.0, "point": Point(x=1, y=2), "anything": b"?"},
        ),
    ],
    ids=["from-strings", "native"],
)
def test_coercion(inputs: dict[str, Any], expected: dict[str, Any]) -> None:
    assert invoking.bind(typed, inputs, CTX).kwargs == expected


def test_missing_required_parameters_are_all_named() -> None:
    with pytest.raises(errors.InvalidParameters) as raised:
        invoking.bind(typed, {"flag": True}, CTX)
    message = str(raised.value)
    assert "missing required parameters 'items', 'ratio', 'point'" in message
    assert "items: list[int]" in message


@pytest.mark.parametrize(
    "func, inputs, expected",
    [
        (with_context, {"count": "abc"}, "parameter 'count' expects int, got str 'abc'"),
        (with_context, {"count": 1, "label": 5}, "parameter 'label' expects str, got int 5"),
        (typed, {"items": "[1, 'a']", "flag": 1, "ratio": 1, "point": {}}, "parameter 'items'"),
        (with_context, {"count": 1.5}, "parameter 'count' expects int, got float 1.5"),
    ],
    ids=["not-a-number", "int-for-str", "bad-list", "fraction-for-int"],
)
def test_wrong_types_name_the_parameter(func: Any, inputs: dict[str, Any], expected: str) -> None:
    with pytest.raises(errors.InvalidParameters, match=expected.replace("[", r"\[")):
        invoking.bind(func, inputs, CTX)


def test_extras_are_what_the_signature_does_not_name() -> None:
    def flow(context: ExecutionContext, name: str, **rest: Any) -> None: ...

    call = invoking.bind(flow, {"name": "Ada", "ticket": "T-1", "not an identifier": 1}, "ctx")
    assert call.extras == {"ticket": "T-1", "not an identifier": 1}
    assert call.kwargs == {"context": "ctx", "name": "Ada", "ticket": "T-1"}

    def strict(name: str) -> None: ...

    assert invoking.bind(strict, {"name": "Ada", "x": 1}, None).extras == {"x": 1}
