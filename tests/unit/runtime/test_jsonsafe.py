"""Results become JSON, or the error names the type and where it is."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Any

import pydantic
import pytest

from kuberun.runtime import jsonsafe


class Color(enum.Enum):
    RED = "red"


class Model(pydantic.BaseModel):
    when: datetime.date
    amount: decimal.Decimal


@dataclasses.dataclass
class Pair:
    a: int
    b: tuple[int, int]


UID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    "value, expected",
    [
        (datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (UID, str(UID)),
        (decimal.Decimal("1.10"), "1.10"),
        ({3, 1, 2}, [1, 2, 3]),
        ((1, "a"), [1, "a"]),
        (
            Model(when=datetime.date(2024, 1, 2), amount=decimal.Decimal("2.5")),
            {"when": "2024-01-02", "amount": "2.5"},
        ),
        (Pair(1, (2, 3)), {"a": 1, "b": [2, 3]}),
        (Color.RED, "red"),
        ({1: "a", None: "b"}, {"1": "a", "null": "b"}),
        ({"nested": [{"t": datetime.time(1, 2)}]}, {"nested": [{"t": "01:02:00"}]}),
    ],
    ids=[
        "datetime",
        "uuid",
        "decimal",
        "set",
        "tuple",
        "pydantic",
        "dataclass",
        "enum",
        "keys",
        "nested",
    ],
)
def test_conversions(value: Any, expected: Any) -> None:
    converted = jsonsafe.to_json(value)
    assert converted == expected
    json.dumps(converted)


class Opaque:
    pass


@pytest.mark.parametrize(
    "value, message",
    [
        ({"a": [1, Opaque()]}, "result['a'][1] is of type tests.unit.runtime.test_jsonsafe.Opaque"),
        ({"f": float("nan")}, "result['f'] is nan"),
        (b"bytes", "result is of type bytes"),
        ({(1, 2): 3}, "has a key of type tuple"),
    ],
    ids=["object", "nan", "bytes", "tuple-key"],
)
def test_not_json_names_the_type_and_place(value: Any, message: str) -> None:
    with pytest.raises(jsonsafe.NotJSON) as raised:
        jsonsafe.to_json(value)
    assert message in str(raised.value)


def test_a_cycle_is_an_error_not_a_crash() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(jsonsafe.NotJSON, match="contains itself"):
        jsonsafe.to_json(loop)
