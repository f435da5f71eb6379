"""`kuberun endpoints PATH`: a workspace's `@workflow(endpoint_enabled=True)` as WorkflowEndpoints.

The schedules precedent (`kuberun.cli.schedules`): the API service never
imports user code, so an endpoint written in a decorator reaches the cluster as
a manifest the user applies or commits. One `WorkflowEndpoint` per workflow
with `endpoint_enabled=True`, carrying its `allowed_methods`, `execution_mode`
(bifrost's default for endpoints: sync) and `public_endpoint`, with an
Execution template like a schedule's. Names are stable (from the workflow's
name), so re-running and applying updates rather than duplicates.

Every manifest is validated by the contract models first, so what is printed
is what the API server accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kuberun.cli import schedules
from kuberun.contract import endpoint


@dataclass(frozen=True)
class Options:
    """Where the code is on the cluster, and what the decorator does not say."""

    source_path: str | None = None
    config_map: tuple[str, str] | None = None
    image: str | None = None
    namespace: str | None = None
    name_prefix: str = ""
    sync_timeout_seconds: int | None = None


def _mode(workflow: dict[str, Any]) -> str:
    """The decorator's execution_mode; "scheduled" (or none) answers as sync does."""
    mode = workflow.get("executionMode")
    return mode if mode in {m.value for m in endpoint.ExecutionMode} else "sync"


def manifests(catalog: dict[str, Any], options: Options) -> list[dict[str, Any]]:
    """One WorkflowEndpoint per endpoint-enabled workflow, in the catalog's order.

    Raises ValueError (naming the workflow) for a manifest the contract refuses,
    or when two workflows would get the same resource name.
    """

    def spec_of(workflow: dict[str, Any], execution: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "allowedMethods": list(workflow.get("allowedMethods") or ["POST"]),
            "executionMode": _mode(workflow),
            "public": bool(workflow.get("publicEndpoint")),
            "executionTemplate": {"spec": execution},
        }
        if options.sync_timeout_seconds is not None:
            body["syncTimeoutSeconds"] = options.sync_timeout_seconds
        checked = endpoint.WorkflowEndpointSpec.model_validate(body)
        written = checked.model_dump(by_alias=True, mode="json", exclude_defaults=True)
        # Always spelled out: a reader of the manifest sees how the endpoint answers.
        return written | {
            "allowedMethods": [m.value for m in checked.allowed_methods],
            "executionMode": checked.execution_mode.value,
            "public": checked.public,
        }

    return schedules.workflow_manifests(
        catalog,
        kind=endpoint.KIND,
        wanted=lambda workflow: bool(workflow.get("endpointEnabled")),
        spec_of=spec_of,
        source=schedules._source(
            schedules.Options(source_path=options.source_path, config_map=options.config_map)
        ),
        name_prefix=options.name_prefix,
        namespace=options.namespace,
        image=options.image,
    )
