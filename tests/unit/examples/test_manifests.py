"""Every example manifest is an `Execution` the operator accepts (spec per the contract)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberun.contract import spec

EXECUTIONS = Path(__file__).resolve().parents[3] / "examples" / "executions"
MANIFESTS = sorted(EXECUTIONS.glob("*.yaml"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def test_there_are_examples() -> None:
    names = {path.stem for path in MANIFESTS}
    assert {"hello", "workflow-parameters", "timeout", "cancel"} <= names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_a_valid_execution(path: Path) -> None:
    executions = [doc for doc in _documents(path) if doc.get("kind") == spec.KIND]
    assert executions, f"{path.name} holds no {spec.KIND}"
    for doc in executions:
        assert doc["apiVersion"] == spec.API_VERSION
        assert doc["metadata"]["name"]
        parsed = spec.ExecutionSpec.model_validate(doc["spec"])
        # camelCase on the wire: a snake_case key would have been rejected above,
        # and nothing the manifest says is lost in the round trip
        assert parsed.model_dump(by_alias=True, exclude_unset=True) == doc["spec"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_inline_code_compiles(path: Path) -> None:
    for doc in _documents(path):
        inline = doc.get("spec", {}).get("source", {}).get("inline")
        if inline is not None:
            compile(inline, path.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
