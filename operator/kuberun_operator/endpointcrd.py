"""Generate the `workflowendpoints.kuberun.dev` CRD from the contract models.

Pure. `python -m kuberun_operator.endpointcrd > crds/workflowendpoints.kuberun.dev.yaml`
writes the file (then copy it to helm/kuberun/files/crds/); a unit test fails
when the file and the models disagree. As with a ScheduledExecution, the
template's spec is checked as an Execution's (one source, retryable outcomes)
but may change: only Executions started after the change use it. No status:
the resource is configuration the API service reads, nothing reconciles it.
"""

from __future__ import annotations

import sys
from typing import Any

from kuberun.contract import endpoint, spec
from kuberun_operator import crdschema

CRD_NAME = f"{endpoint.PLURAL}.{spec.GROUP}"
NAME_RULE = f"size(self.metadata.name) <= {endpoint.MAX_NAME_LENGTH}"
NAME_MESSAGE = (
    f"a WorkflowEndpoint's name is at most {endpoint.MAX_NAME_LENGTH} characters:"
    " its Executions are named <name>-<5 random characters>, within 63"
)

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Workflow", "type": "string", "jsonPath": ".spec.executionTemplate.spec.entrypoint"},
    {"name": "Mode", "type": "string", "jsonPath": ".spec.executionMode"},
    {"name": "Methods", "type": "string", "jsonPath": ".spec.allowedMethods"},
    {"name": "Public", "type": "boolean", "jsonPath": ".spec.public"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def spec_schema() -> dict[str, Any]:
    """The spec's structural schema, the template's spec checked as an Execution's."""
    schema = crdschema._schema_of(endpoint.WorkflowEndpointSpec)
    schema["properties"]["allowedMethods"]["x-kubernetes-list-type"] = "set"
    return crdschema.with_execution_template(schema)


def build_crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition."""
    return crdschema.namespaced_crd(
        name=CRD_NAME,
        names=endpoint,
        description="Start a kuberun workflow over HTTP on the log/result API.",
        printer_columns=PRINTER_COLUMNS,
        spec_part=spec_schema(),
        validations=[{"rule": NAME_RULE, "message": NAME_MESSAGE}],
    )


def render() -> str:
    """The WorkflowEndpoint CRD as the YAML stored in `crds/`."""
    return crdschema.render_crd(build_crd(), "kuberun_operator.endpointcrd")


if __name__ == "__main__":
    sys.stdout.write(render())
