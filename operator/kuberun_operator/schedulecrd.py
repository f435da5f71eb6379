"""Generate the `scheduledexecutions.kuberun.dev` CRD from the contract models.

Pure. `python -m kuberun_operator.schedulecrd > crds/scheduledexecutions.kuberun.dev.yaml`
writes the file (then copy it to helm/kuberun/files/crds/); a unit test fails
when the file and the models disagree. The template's spec is the Execution
spec's schema with its own rules (one source, retryable outcomes) but without
the Execution's immutability rules: a schedule's template may change at any
time, and only Executions created after the change use it.
"""

from __future__ import annotations

import sys
from typing import Any

from kuberun.contract import schedule, spec
from kuberun_operator import crdschema

CRD_NAME = f"{schedule.PLURAL}.{spec.GROUP}"
NAME_RULE = f"size(self.metadata.name) <= {schedule.MAX_NAME_LENGTH}"
NAME_MESSAGE = (
    f"a ScheduledExecution's name is at most {schedule.MAX_NAME_LENGTH} characters:"
    " its Executions are named <name>-<minutes since the epoch>, within 63"
)

# CronJob's columns, plus the next run.
PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
    {"name": "Timezone", "type": "string", "jsonPath": ".spec.timeZone"},
    {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
    {"name": "Active", "type": "string", "jsonPath": ".status.active[*].name"},
    {"name": "Last Schedule", "type": "date", "jsonPath": ".status.lastScheduleTime"},
    {"name": "Next", "type": "date", "jsonPath": ".status.nextScheduleTime", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def spec_schema() -> dict[str, Any]:
    """The spec's structural schema, the template's spec checked as an Execution's."""
    return crdschema.with_execution_template(crdschema._schema_of(schedule.ScheduledExecutionSpec))


def status_schema() -> dict[str, Any]:
    """The status's structural schema; conditions are a map list keyed by type."""
    schema = crdschema._schema_of(schedule.ScheduledExecutionStatus)
    conditions = schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    return schema


def build_crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition."""
    return crdschema.namespaced_crd(
        name=CRD_NAME,
        names=schedule,
        description="Create kuberun Executions on a cron schedule.",
        printer_columns=PRINTER_COLUMNS,
        spec_part=spec_schema(),
        status_part=status_schema(),
        validations=[{"rule": NAME_RULE, "message": NAME_MESSAGE}],
    )


def render() -> str:
    """The ScheduledExecution CRD as the YAML stored in `crds/`."""
    return crdschema.render_crd(build_crd(), "kuberun_operator.schedulecrd")


if __name__ == "__main__":
    sys.stdout.write(render())
