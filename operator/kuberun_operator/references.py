"""The objects an Execution's spec names, which must exist before its Job can run.

Pure. The Job API accepts a pod template naming a ServiceAccount or ConfigMap
that does not exist; the pod then never starts (the Job controller cannot
create it, or the kubelet waits for the volume) and nothing but an Event says
why. So before creating an attempt, the operator reads each object named here;
a 404 ends the Execution `FAILED/InvalidRequest` with the API server's message
at once instead of after the start deadline.

Only what the spec itself names and does not mark `optional: true`: the
ServiceAccount (`serviceAccountName`), the source ConfigMap, and the
ConfigMaps of `envFrom` and `env[].valueFrom.configMapKeyRef`. Secrets are
not read: the operator may get only its own request Secrets (least
privilege); a missing Secret shows as the pod's `CreateContainerConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kuberun.contract import spec


@dataclass(frozen=True, order=True)
class Reference:
    """An object the runner pod needs, in the Execution's namespace."""

    kind: str  # ServiceAccount | ConfigMap
    name: str
    field: str  # where the spec names it, for the message


def required(execution: spec.ExecutionSpec) -> list[Reference]:
    """The references to check, each once, in a stable order."""
    found: dict[tuple[str, str], Reference] = {}

    def add(kind: str, name: Any, field: str) -> None:
        if isinstance(name, str) and name and (kind, name) not in found:
            found[(kind, name)] = Reference(kind, name, field)

    if execution.service_account_name is not None:
        add("ServiceAccount", execution.service_account_name, "spec.serviceAccountName")
    if execution.source.config_map is not None:
        add("ConfigMap", execution.source.config_map.name, "spec.source.configMap.name")
    for index, item in enumerate(execution.env_from):
        ref = _mapping(item.get("configMapRef"))
        if ref is not None and not ref.get("optional"):
            add("ConfigMap", ref.get("name"), f"spec.envFrom[{index}].configMapRef.name")
    for index, item in enumerate(execution.env):
        source = _mapping(item.get("valueFrom")) or {}
        ref = _mapping(source.get("configMapKeyRef"))
        if ref is not None and not ref.get("optional"):
            add("ConfigMap", ref.get("name"), f"spec.env[{index}].valueFrom.configMapKeyRef.name")
    return list(found.values())


def missing_message(missing: Iterable[tuple[Reference, str]]) -> str:
    """One readable message for the references the API server says are not there."""
    return "; ".join(f"{ref.field}: {server}" for ref, server in missing)


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None
