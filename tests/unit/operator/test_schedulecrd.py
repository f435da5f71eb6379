"""The ScheduledExecution CRD in crds/ is the one the contract models generate."""

from __future__ import annotations

from pathlib import Path

from kuberun.contract import schedule
from kuberun_operator import schedulecrd

CRD_FILE = Path(__file__).parents[3] / "crds" / "scheduledexecutions.kuberun.dev.yaml"


def test_crd_file_is_generated_from_the_models() -> None:
    assert CRD_FILE.read_text() == schedulecrd.render(), (
        "crds/ is stale: python -m kuberun_operator.schedulecrd"
        " > crds/scheduledexecutions.kuberun.dev.yaml"
    )


def test_every_model_field_is_in_the_schema() -> None:
    version = schedulecrd.build_crd()["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    spec_props = schema["properties"]["spec"]["properties"]
    assert set(spec_props) == {
        f.alias for f in schedule.ScheduledExecutionSpec.model_fields.values()
    }
    status_props = schema["properties"]["status"]["properties"]
    assert set(status_props) == {
        f.alias for f in schedule.ScheduledExecutionStatus.model_fields.values()
    }
    assert version["subresources"] == {"status": {}}


def test_the_template_is_checked_as_an_execution_but_may_change() -> None:
    template = schedulecrd.spec_schema()["properties"]["executionTemplate"]["properties"]["spec"]
    assert "x-kubernetes-validations" in template["properties"]["source"]  # one source
    assert "x-kubernetes-validations" not in template  # no immutability rules


def test_cronjob_columns() -> None:
    names = [c["name"] for c in schedulecrd.PRINTER_COLUMNS]
    assert names[:5] == ["Schedule", "Timezone", "Suspend", "Active", "Last Schedule"]


def test_the_example_is_a_valid_scheduled_execution() -> None:
    import yaml

    example = Path(__file__).parents[3] / "examples" / "operator" / "schedule.yaml"
    doc = yaml.safe_load(example.read_text())
    assert doc["kind"] == schedule.KIND
    parsed = schedule.ScheduledExecutionSpec.model_validate(doc["spec"])
    assert parsed.model_dump(by_alias=True, exclude_unset=True) == doc["spec"]
    assert len(doc["metadata"]["name"]) <= schedule.MAX_NAME_LENGTH
