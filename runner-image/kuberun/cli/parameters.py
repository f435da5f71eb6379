"""Parameters from the command line: `-p KEY=VALUE` (a string), `-p KEY:=JSON` (typed), and
`--params-file FILE` (a JSON object). Pure; `ParameterError` says what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class ParameterError(ValueError):
    """A parameter argument or file that cannot be used."""


def parse_pair(text: str) -> tuple[str, Any]:
    """`key=value` → ("key", "value"); `key:=json` → ("key", parsed JSON)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ParameterError(f"parameter {text!r} must look like KEY=VALUE or KEY:=JSON")
    if key.endswith(":"):
        key = key[:-1]
        try:
            parsed: Any = json.loads(value)
        except ValueError as exc:
            raise ParameterError(
                f"parameter {key!r}: {value!r} is not valid JSON ({exc})"
            ) from None
    else:
        parsed = value
    if not key:
        raise ParameterError(f"parameter {text!r} has an empty name")
    return key, parsed


def load_file(path: str) -> dict[str, Any]:
    """A JSON object of parameters."""
    try:
        data = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ParameterError(f"cannot read parameters file {path}: {exc}") from None
    except ValueError as exc:
        raise ParameterError(f"parameters file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(
            f"parameters file {path} must hold a JSON object, not {type(data).__name__}"
        )
    return data


def collect(pairs: Iterable[str], files: Iterable[str]) -> dict[str, Any]:
    """Files first (in order), then `-p` pairs, later ones overriding earlier ones."""
    params: dict[str, Any] = {}
    for path in files:
        params.update(load_file(path))
    for pair in pairs:
        key, value = parse_pair(pair)
        params[key] = value
    return params
