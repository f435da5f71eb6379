"""The CRD in crds/ is the one the contract models generate, and it says what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from kuberun.contract import spec, status
from kuberun.contract.statuses import Phase
from kuberun_operator import crdschema

CRD_FILE = Path(__file__).parents[3] / "crds" / "executions.kuberun.dev.yaml"


def test_crd_file_is_generated_from_the_models() -> None:
    assert CRD_FILE.read_text() == crdschema.render(), (
        "crds/ is stale: python -m kuberun_operator.crdschema > crds/executions.kuberun.dev.yaml"
    )


def test_every_model_field_is_in_the_schema() -> None:
    schema = crdschema.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec_props = schema["properties"]["spec"]["properties"]
    assert set(spec_props) == {f.alias for f in spec.ExecutionSpec.model_fields.values()}
    status_props = schema["properties"]["status"]["properties"]
    assert set(status_props) == {f.alias for f in status.ExecutionStatus.model_fields.values()}
    assert status_props["phase"]["enum"] == [p.value for p in Phase]


def test_retry_on_enum_matches_the_validator() -> None:
    allowed = []
    for phase in Phase:
        try:
            spec.Retry.model_validate({"on": [phase.value]})
            allowed.append(phase.value)
        except pydantic.ValidationError:
            pass
    assert sorted(allowed) == sorted(crdschema.RETRYABLE)


def test_schema_is_structural() -> None:
    """Every node has a type, or preserves unknown fields: what the API server demands."""

    def walk(node: dict[str, Any], path: str) -> None:
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert "$ref" not in node and "anyOf" not in node, path
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    walk(
        yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"], ""
    )


@pytest.mark.parametrize("column", ["Phase", "Reason", "Attempt", "Duration", "Age"])
def test_printer_columns(column: str) -> None:
    assert column in {c["name"] for c in crdschema.PRINTER_COLUMNS}
