"""Turn a user's result into plain JSON data, or say exactly what is not JSON.

Converted: datetimes/dates/times (ISO 8601), UUIDs, Decimals (as strings, no
precision lost — what pydantic does), sets/frozensets (sorted when possible),
tuples, pydantic models, dataclasses, enums (their value) and paths. Anything
else raises `NotJSON` naming the type and where it sits (`result["a"][2]`).
Pure; no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import pathlib
import sys
from typing import Any

# Deeper than this is almost surely a cycle the id check missed, or a bug.
MAX_DEPTH = 200


class NotJSON(ValueError):
    """A value has no JSON form."""


def _where(path: str) -> str:
    return path or "result"


def to_json(value: Any, path: str = "result") -> Any:
    """A JSON-compatible copy of `value` (dicts, lists, str, int, float, bool, None)."""
    return _convert(value, path, set(), 0)


def _convert(value: Any, path: str, seen: set[int], depth: int) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and not isinstance(value, enum.Enum):
        return int(value)
    if isinstance(value, float) and not isinstance(value, enum.Enum):
        if not math.isfinite(value):
            raise NotJSON(f"{_where(path)} is {value!r}, which JSON cannot represent")
        return float(value)
    if depth > MAX_DEPTH:
        raise NotJSON(f"{_where(path)} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, enum.Enum):
        return _convert(value.value, path, seen, depth + 1)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, pathlib.PurePath):
        return str(value)
    # A UUID or a Decimal can only exist once its module was imported: the runner's start
    # does not pay for either (uuid alone costs a few ms).
    uuid, decimal = sys.modules.get("uuid"), sys.modules.get("decimal")
    if uuid is not None and isinstance(value, uuid.UUID):
        return str(value)
    if decimal is not None and isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise NotJSON(f"{_where(path)} is Decimal({str(value)!r}), which JSON cannot represent")
        return str(value)
    pydantic = sys.modules.get("pydantic")  # a model exists only if pydantic was imported
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return _convert(value.model_dump(mode="json"), path, seen, depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _convert(
            {f.name: getattr(value, f.name) for f in dataclasses.fields(value)},
            path,
            seen,
            depth + 1,
        )
    marker = id(value)
    if isinstance(value, dict):
        if marker in seen:
            raise NotJSON(f"{_where(path)} contains itself (a reference cycle)")
        seen.add(marker)
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[_key(key, path)] = _convert(item, f"{path}[{key!r}]", seen, depth + 1)
        seen.discard(marker)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        if marker in seen:
            raise NotJSON(f"{_where(path)} contains itself (a reference cycle)")
        seen.add(marker)
        items: Any = value
        if isinstance(value, set | frozenset):
            try:
                items = sorted(value)
            except TypeError:
                items = list(value)
        out_list = [_convert(item, f"{path}[{i}]", seen, depth + 1) for i, item in enumerate(items)]
        seen.discard(marker)
        return out_list
    kind = type(value)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    raise NotJSON(f"{_where(path)} is of type {name}, which is not JSON serializable")


def _key(key: Any, path: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int | float | enum.Enum):
        return str(key.value if isinstance(key, enum.Enum) else key)
    uuid, decimal = sys.modules.get("uuid"), sys.modules.get("decimal")
    if (uuid is not None and isinstance(key, uuid.UUID)) or (
        decimal is not None and isinstance(key, decimal.Decimal)
    ):
        return str(key)
    raise NotJSON(
        f"{_where(path)} has a key of type {type(key).__name__} ({key!r}); JSON keys are strings"
    )
