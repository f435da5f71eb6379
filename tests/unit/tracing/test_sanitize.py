"""The pure half of variable capture: JSON-safe, size-capped, redacted."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import os
import uuid
from typing import Any

import pydantic
import pytest

from kuberun.runtime import tracing


def _json(value: Any) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


@pytest.mark.parametrize(
    "name",
    [
        "password", "db_password", "PASSWD", "pwd", "passphrase", "client_secret",
        "SECRET", "token", "access_token", "refreshToken", "api_key", "apiKey", "API-KEY",
        "apikey", "credentials", "private_key", "privateKey", "ssh_key", "aws_secret_access_key",
        "auth", "auth_header", "oauth", "Authorization", "authorisation", "cookie",
        "session_id", "bearer", "signature", "dsn", "connection_string",
    ],
)  # fmt: skip
def test_secret_names(name: str) -> None:
    assert tracing.is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["author", "authors", "key", "keys", "count", "result", "user", "username", "items",
     "monkey", "path"],
)  # fmt: skip
def test_ordinary_names(name: str) -> None:
    assert not tracing.is_secret_name(name)


def test_secret_names_redacted_at_any_depth() -> None:
    captured = tracing.sanitize_variables(
        {
            "password": "hunter2",
            "config": {"host": "db", "db_password": "hunter2", "nested": [{"token": "t"}]},
            "user": "alice",
        }
    )
    assert captured == {
        "password": "***",
        "config": {"host": "db", "db_password": "***", "nested": [{"token": "***"}]},
        "user": "alice",
    }
    assert "hunter2" not in _json(captured)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
        ("see postgresql://app:hunter2@db/app now", "see postgresql://app:***@db/app now"),
        ("https://example.com/path", "https://example.com/path"),
        (
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nend",
            "key:\n***\nend",
        ),
    ],
    ids=["redis-url", "url-in-text", "url-without-credentials", "pem"],
)
def test_secret_values_masked(value: str, expected: str) -> None:
    assert tracing.sanitize_variables({"text": value}) == {"text": expected}


def test_code_is_left_out() -> None:
    class Thing:
        pass

    captured = tracing.sanitize_variables(
        {
            "__name__": "__main__",
            "__builtins__": {},
            "os": os,
            "Thing": Thing,
            "helper": lambda: 1,
            "method": "x".upper,
            "length": len,
            "kept": 1,
            "_private": 2,
        }
    )
    assert captured == {"kept": 1, "_private": 2}


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: int
    secret: str = "s"


class Order(pydantic.BaseModel):
    id: int
    api_key: str
    when: datetime.date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (3, 3),
        (1.5, 1.5),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (2**300, "<int of 301 bits>"),
        ("text", "text"),
        (b"\x00ab", "b'\\x00ab'"),
        ((1, "a"), [1, "a"]),
        ({1: "one", (2, 3): "pair"}, {"1": "one", "(2, 3)": "pair"}),
        (frozenset({7}), [7]),
        (Colour.RED, "red"),
        (Level.HIGH, 3),
        (datetime.datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05"),
        (datetime.timedelta(seconds=90), 90.0),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (Point(1, 2), {"x": 1, "y": 2, "secret": "***"}),
        (
            Order(id=1, api_key="k", when=datetime.date(2026, 1, 2)),
            {"id": 1, "api_key": "***", "when": "2026-01-02"},
        ),
        (ValueError("bad"), "ValueError('bad')"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_json_safe_values(value: Any, expected: Any) -> None:
    captured = tracing.sanitize_variables({"v": value})
    assert captured == {"v": expected}
    _json(captured)


def test_unknown_objects_by_repr() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque 42>"

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("nope")

    captured = tracing.sanitize_variables({"o": Opaque(), "b": Broken()})
    assert captured["o"] == "<Opaque 42>"
    assert (
        captured["b"]
        == "<test_unknown_objects_by_repr.<locals>.Broken (repr failed: RuntimeError)>"
    )


def test_cycles_and_depth() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    deep: Any = "bottom"
    for _ in range(20):
        deep = [deep]
    captured = tracing.sanitize_variables({"loop": loop, "deep": deep})
    assert captured["loop"] == [1, "<cycle>"]
    level = captured["deep"]
    for _ in range(tracing.MAX_DEPTH):
        level = level[0]
    assert isinstance(level, str) and level.startswith("[[[")
    _json(captured)


def test_long_containers_summarised() -> None:
    captured = tracing.sanitize_variables(
        {"items": list(range(1000)), "table": {f"k{i}": i for i in range(1000)}},
        max_value_bytes=1_000_000,
    )
    assert captured["items"][: tracing.MAX_ITEMS] == list(range(tracing.MAX_ITEMS))
    assert captured["items"][-1] == f"…[{1000 - tracing.MAX_ITEMS} more items]"
    assert len(captured["table"]) == tracing.MAX_ITEMS + 1


@pytest.mark.parametrize(
    "value",
    ["x" * 100_000, "é" * 50_000, '"\\' * 20_000, ["abcdefghij" * 5] * 500, {"a": "b" * 50_000}],
    ids=["ascii", "multibyte", "escapes", "list", "dict"],
)
def test_each_value_capped(value: Any) -> None:
    cap = 1024
    captured = tracing.sanitize_variables({"v": value}, max_value_bytes=cap)
    assert len(_json(captured["v"]).encode()) <= cap
    assert captured["v"].endswith("…[truncated]")


def test_total_capped_in_definition_order() -> None:
    namespace = {f"v{i}": "x" * 900 for i in range(100)}
    captured = tracing.sanitize_variables(namespace, max_value_bytes=1000, max_total_bytes=10_000)
    assert len(_json(captured).encode()) <= 10_000
    kept = [name for name in captured if name != tracing.OMITTED_KEY]
    assert kept == [f"v{i}" for i in range(len(kept))]
    assert captured[tracing.OMITTED_KEY] == 100 - len(kept)
    assert len(kept) >= 9


def test_default_total_cap() -> None:
    namespace = {f"v{i}": "y" * 100_000 for i in range(50)}
    captured = tracing.sanitize_variables(namespace)
    assert len(_json(captured).encode()) <= tracing.MAX_TOTAL_BYTES
    assert captured[tracing.OMITTED_KEY] > 0
