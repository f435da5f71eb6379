"""`submit FILE|DIR`: inline for a small file, a ConfigMap (one key per file) otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuberun.cli import errors, sources

FLOW = "from kuberun import workflow\n\n@workflow\ndef greet(name: str):\n    return name\n"


def test_a_small_file_goes_inline_and_its_one_workflow_is_chosen(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    prepared = sources.prepare(str(tmp_path / "flow.py"), None)
    assert prepared.source == {"inline": FLOW} and prepared.entrypoint == "greet"
    assert not prepared.needs_config_map


def test_a_large_file_goes_into_a_config_map(tmp_path: Path) -> None:
    big = FLOW + "# " + "x" * sources.INLINE_LIMIT + "\n"
    (tmp_path / "big.py").write_text(big)
    prepared = sources.prepare(str(tmp_path / "big.py"), None, "cm")
    assert prepared.source == {"configMap": {"name": "cm", "key": "big.py"}}
    assert prepared.files == {"big.py": big} and prepared.entrypoint == "greet"


def test_a_directory_becomes_one_key_per_file(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text("import helpers\n" + FLOW)
    (tmp_path / "helpers.py").write_text("X = 1\n")
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "flows.cpython-311.pyc").write_bytes(b"\0")
    prepared = sources.prepare(str(tmp_path), "greet")
    assert set(prepared.files) == {"flows.py", "helpers.py", "data.csv"}
    assert prepared.source == {"configMap": {"name": "", "key": "flows.py"}}
    assert prepared.entrypoint == "greet"


@pytest.mark.parametrize(
    "files, entrypoint, key, chosen",
    [
        ({"main.py": "print(1)\n", "flows.py": FLOW}, None, "main.py", None),
        ({"flows.py": FLOW, "util.py": "X = 1\n"}, None, "flows.py", "greet"),
        ({"flows.py": FLOW}, "flows:greet", "flows.py", "greet"),
    ],
    ids=["main-script", "the-one-workflow", "module-colon-function"],
)
def test_the_entry_file_of_a_directory(
    tmp_path: Path, files: dict[str, str], entrypoint: str | None, key: str, chosen: str | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    prepared = sources.prepare(str(tmp_path), entrypoint)
    assert prepared.source["configMap"]["key"] == key and prepared.entrypoint == chosen


@pytest.mark.parametrize(
    "layout, entrypoint, words",
    [
        ({"pkg/mod.py": "X = 1\n", "flows.py": FLOW}, "greet", "must be flat"),
        ({"flows.py": FLOW, "more.py": FLOW.replace("greet", "other")}, None, "which entrypoint"),
        ({"flows.py": FLOW}, "missing", "declared in no file"),
        ({"bad name.py": FLOW}, "greet", "cannot be a ConfigMap key"),
    ],
    ids=["nested", "ambiguous", "unknown-entrypoint", "bad-key"],
)
def test_bad_workspaces_say_what_to_do(
    tmp_path: Path, layout: dict[str, str], entrypoint: str | None, words: str
) -> None:
    for name, text in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(errors.UsageError) as raised:
        sources.prepare(str(tmp_path), entrypoint)
    assert words in raised.value.render()
    assert raised.value.code == 2


def test_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(errors.UsageError, match="no such file"):
        sources.prepare(str(tmp_path / "nope.py"), None)
