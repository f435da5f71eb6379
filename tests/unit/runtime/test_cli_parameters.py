"""`kuberun run` parameters: -p KEY=VALUE, -p KEY:=JSON, --params-file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kuberun.cli import parameters


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name=World", ("name", "World")),
        ("expr=a=b", ("expr", "a=b")),
        ("count:=3", ("count", 3)),
        ('tags:=[1, "a"]', ("tags", [1, "a"])),
        ("empty=", ("empty", "")),
    ],
)
def test_pairs(text: str, expected: tuple[str, Any]) -> None:
    assert parameters.parse_pair(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [("novalue", "KEY=VALUE"), ("n:={oops", "not valid JSON"), ("=1", "empty name")],
)
def test_bad_pairs(text: str, message: str) -> None:
    with pytest.raises(parameters.ParameterError, match=message):
        parameters.parse_pair(text)


def test_file_then_pairs_override(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"a": 1, "b": [2]}')
    assert parameters.collect(["a=x"], [str(path)]) == {"a": "x", "b": [2]}
    path.write_text("[1]")
    with pytest.raises(parameters.ParameterError, match="must hold a JSON object"):
        parameters.load_file(str(path))
