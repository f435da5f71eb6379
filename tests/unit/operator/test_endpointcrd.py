"""The WorkflowEndpoint CRD in crds/ is the one the contract models generate."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kuberun.contract import endpoint
from kuberun_operator import endpointcrd

CRD_FILE = Path(__file__).parents[3] / "crds" / "workflowendpoints.kuberun.dev.yaml"


def test_crd_file_is_generated_from_the_models() -> None:
    assert CRD_FILE.read_text() == endpointcrd.render(), (
        "crds/ is stale: python -m kuberun_operator.endpointcrd"
        " > crds/workflowendpoints.kuberun.dev.yaml"
    )


def test_every_model_field_is_in_the_schema() -> None:
    version = endpointcrd.build_crd()["spec"]["versions"][0]
    spec_props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert set(spec_props) == {f.alias for f in endpoint.WorkflowEndpointSpec.model_fields.values()}
    assert spec_props["allowedMethods"]["items"]["enum"] == [m.value for m in endpoint.Method]
    assert spec_props["allowedMethods"]["x-kubernetes-list-type"] == "set"
    assert spec_props["executionMode"]["enum"] == ["sync", "async"]
    assert spec_props["syncTimeoutSeconds"]["maximum"] == endpoint.MAX_SYNC_TIMEOUT_SECONDS


def test_the_template_is_checked_as_an_execution_but_may_change() -> None:
    template = endpointcrd.spec_schema()["properties"]["executionTemplate"]["properties"]["spec"]
    assert "x-kubernetes-validations" in template["properties"]["source"]  # one source
    assert "x-kubernetes-validations" not in template  # no immutability rules


def test_defaults_are_bifrosts() -> None:
    parsed = endpoint.WorkflowEndpointSpec.model_validate(
        {"executionTemplate": {"spec": {"source": {"path": "/w"}, "entrypoint": "hello"}}}
    )
    assert parsed.allowed_methods == [endpoint.Method.POST]
    assert parsed.execution_mode is endpoint.ExecutionMode.SYNC
    assert parsed.sync_timeout_seconds == endpoint.DEFAULT_SYNC_TIMEOUT_SECONDS
    assert parsed.public is False


@pytest.mark.parametrize(
    "bad",
    [
        {"allowedMethods": ["TRACE"]},
        {"allowedMethods": []},
        {"executionMode": "scheduled"},
        {"syncTimeoutSeconds": 0},
        {"syncTimeoutSeconds": endpoint.MAX_SYNC_TIMEOUT_SECONDS + 1},
        {"surprise": True},
    ],
    ids=["method", "no-methods", "mode", "timeout-zero", "timeout-long", "unknown-field"],
)
def test_bad_specs_are_refused(bad: dict[str, object]) -> None:
    body = {"executionTemplate": {"spec": {"source": {"path": "/w"}}}, **bad}
    with pytest.raises(ValidationError):
        endpoint.WorkflowEndpointSpec.model_validate(body)


def test_the_example_is_a_valid_workflow_endpoint() -> None:
    import yaml

    example = Path(__file__).parents[3] / "examples" / "operator" / "endpoint.yaml"
    doc = yaml.safe_load(example.read_text())
    assert doc["kind"] == endpoint.KIND
    parsed = endpoint.WorkflowEndpointSpec.model_validate(doc["spec"])
    assert parsed.model_dump(by_alias=True, mode="json", exclude_unset=True) == doc["spec"]
    assert len(doc["metadata"]["name"]) <= endpoint.MAX_NAME_LENGTH
    inline = doc["spec"]["executionTemplate"]["spec"]["source"]["inline"]
    compile(inline, "endpoint.yaml", "exec")
