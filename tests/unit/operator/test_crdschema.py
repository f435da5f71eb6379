"""The CRD in crds/ is the one the contract models generate, and it says what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from kuberun.contract import spec, status
from kuberun.contract.phases import Phase
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
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}")
        assert "patternProperties" not in node and "propertyNames" not in node, path

    walk(
        yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"], ""
    )


@pytest.mark.parametrize("column", ["Phase", "Reason", "Attempt", "Duration", "Age"])
def test_printer_columns(column: str) -> None:
    assert column in {c["name"] for c in crdschema.PRINTER_COLUMNS}


def spec_node() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    node: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    return node


def test_every_spec_field_but_cancel_is_immutable() -> None:
    rules = spec_node()["x-kubernetes-validations"]
    guarded = {r["fieldPath"].lstrip(".") for r in rules}
    fields = {f.alias for f in spec.ExecutionSpec.model_fields.values()}
    assert guarded == fields - {"cancel"}
    for rule in rules:
        name = rule["fieldPath"].lstrip(".")
        assert f"oldSelf.{name}" in rule["rule"] and f"has(self.{name})" in rule["rule"]
        assert rule["message"].startswith(f"spec.{name} cannot change")
        assert "\n" not in rule["message"]


def test_map_keys_are_checked_in_cel_with_the_models_pattern() -> None:
    placement = spec_node()["properties"]["placement"]["properties"]
    selector = placement["nodeSelector"]
    assert selector["additionalProperties"]["pattern"] == spec.LABEL_VALUE_PATTERN
    (rule,) = selector["x-kubernetes-validations"]
    assert spec.LABEL_KEY_PATTERN in rule["rule"] and "label key" in rule["message"]
    extended = spec_node()["properties"]["resources"]["properties"]["extended"]
    assert extended["additionalProperties"] == {"type": "integer", "minimum": 0, "maximum": 1024}
    assert "nvidia.com/gpu" in extended["x-kubernetes-validations"][0]["message"]
    tolerations = placement["tolerations"]["items"]["properties"]
    assert tolerations["operator"]["enum"] == ["Exists", "Equal"]


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    conditions = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"][
        "properties"
    ]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) >= {"type", "status", "reason",
                                                     "lastTransitionTime"}  # fmt: skip
