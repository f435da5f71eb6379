"""`kuberun schedules PATH`: a workspace's `@workflow(schedule=...)` as ScheduledExecutions.

The operator never imports user code, so a schedule written in a decorator
reaches the cluster as a manifest: this command reads the workspace (as
`kuberun inspect` does) and prints one `ScheduledExecution` per scheduled
workflow, to commit next to the rest of a GitOps repository or to pipe into
`kubectl apply -f -`. Re-run it when the code changes; the names are stable
(derived from the workflow's name), so an apply updates rather than duplicates.

The output is a YAML stream whose documents are JSON (JSON is YAML), so it
needs no YAML library; every manifest is validated by the contract models
first, so what is printed is what the API server accepts. The cron expression
itself is checked by the operator (a bad one is a `Stalled` condition and an
event on the resource).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kuberun.contract import schedule, spec

WORKFLOW_ANNOTATION = "kuberun.dev/workflow"
FILE_ANNOTATION = "kuberun.dev/source-file"


@dataclass(frozen=True)
class Options:
    """Where the code is on the cluster, and the schedule settings the decorator has not."""

    source_path: str | None = None  # a workspace (or file) in the runner image
    config_map: tuple[str, str] | None = None  # ConfigMap name and key (a one-file workspace)
    image: str | None = None
    namespace: str | None = None
    name_prefix: str = ""
    time_zone: str | None = None
    concurrency_policy: str = schedule.ConcurrencyPolicy.ALLOW.value
    starting_deadline_seconds: int | None = None


def resource_name(prefix: str, workflow: str) -> str:
    """A DNS-1123 name of at most 52 characters for `workflow` (hashed when cut or changed)."""
    raw = f"{prefix}{workflow}"
    clean = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-") or "workflow"
    if clean == raw and len(clean) <= schedule.MAX_NAME_LENGTH:
        return clean
    digest = hashlib.sha256(raw.encode()).hexdigest()[:6]
    room = schedule.MAX_NAME_LENGTH - len(digest) - 1
    return f"{clean[:room].rstrip('-')}-{digest}"


def _source(options: Options) -> dict[str, Any]:
    if (options.source_path is None) == (options.config_map is None):
        raise ValueError("give exactly one of --source-path and --config-map")
    if options.config_map is not None:
        name, key = options.config_map
        return {"configMap": {"name": name, "key": key}}
    return {"path": options.source_path}


def workflow_manifests(
    catalog: dict[str, Any],
    *,
    kind: str,
    wanted: Callable[[dict[str, Any]], bool],
    spec_of: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
    source: dict[str, Any],
    name_prefix: str = "",
    namespace: str | None = None,
    image: str | None = None,
) -> list[dict[str, Any]]:
    """One `kind` manifest per wanted workflow, in the catalog's order.

    `spec_of(workflow, execution_spec)` gives the manifest's spec from the
    workflow's Execution spec (source, entrypoint, the decorator's defaults);
    a ValueError from it is raised again naming the workflow, as is a resource
    name two workflows would share.
    """
    out: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for workflow in catalog.get("workflows", []):
        if not wanted(workflow):
            continue
        name = resource_name(name_prefix, workflow["name"])
        if name in seen:
            raise ValueError(
                f"workflows {seen[name]!r} and {workflow['name']!r} both become {name!r};"
                " rename one"
            )
        seen[name] = workflow["name"]
        execution: dict[str, Any] = {
            "source": source,
            "entrypoint": workflow["name"],
            **workflow.get("specDefaults", {}),
        }
        if image:
            execution["image"] = image
        try:
            written = spec_of(workflow, execution)
        except ValueError as exc:
            raise ValueError(f"workflow {workflow['name']!r}: {exc}") from exc
        metadata: dict[str, Any] = {"name": name}
        if namespace:
            metadata["namespace"] = namespace
        metadata["annotations"] = {
            WORKFLOW_ANNOTATION: workflow["name"],
            FILE_ANNOTATION: workflow.get("file", ""),
        }
        out.append(
            {"apiVersion": spec.API_VERSION, "kind": kind, "metadata": metadata, "spec": written}
        )
    return out


def manifests(catalog: dict[str, Any], options: Options) -> list[dict[str, Any]]:
    """One ScheduledExecution per workflow with a schedule, in the catalog's order.

    Raises ValueError (naming the workflow) for a manifest the contract refuses,
    or when two workflows would get the same resource name.
    """

    def spec_of(workflow: dict[str, Any], execution: dict[str, Any]) -> dict[str, Any]:
        cron = workflow["schedule"]
        body: dict[str, Any] = {
            "schedule": cron,
            "concurrencyPolicy": options.concurrency_policy,
            "executionTemplate": {"spec": execution},
        }
        if options.time_zone:
            body["timeZone"] = options.time_zone
        if options.starting_deadline_seconds is not None:
            body["startingDeadlineSeconds"] = options.starting_deadline_seconds
        checked = schedule.ScheduledExecutionSpec.model_validate(body)
        written = checked.model_dump(by_alias=True, mode="json", exclude_defaults=True)
        return written | {"schedule": cron}

    return workflow_manifests(
        catalog,
        kind=schedule.KIND,
        wanted=lambda workflow: bool(workflow.get("schedule")),
        spec_of=spec_of,
        source=_source(options),
        name_prefix=options.name_prefix,
        namespace=options.namespace,
        image=options.image,
    )


def render(documents: list[dict[str, Any]]) -> str:
    """A YAML stream of JSON documents (kubectl, Argo CD, Flux and kustomize read it)."""
    return "".join(f"---\n{json.dumps(doc, indent=2)}\n" for doc in documents)
