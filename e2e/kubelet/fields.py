"""Downward-API values: ``fieldRef`` and ``resourceFieldRef`` of a pod, and quantities.

Pure functions shared by environment variables (:mod:`e2e.kubelet.envs`) and
downwardAPI volumes (:mod:`e2e.kubelet.volumes`).
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

HOST_IP = "127.0.0.1"

_SUFFIXES = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


class FieldError(ValueError):
    """An unsupported or malformed field path or quantity."""


def quantity(value: str | int | float) -> float:
    """Parse a Kubernetes quantity (``500m``, ``64Mi``, ``1e3``) into a number."""
    text = str(value).strip()
    match = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)", text)
    if match is None or match.group(2) not in _SUFFIXES:
        raise FieldError(f"invalid quantity {value!r}")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def node_capacity() -> dict[str, str]:
    """This machine's CPUs and memory, reported as the node's capacity and allocatable."""
    mem_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{mem_kib}Ki",
        "ephemeral-storage": "100Gi",
        "pods": "110",
    }


def field_ref(pod: dict[str, Any], path: str) -> str:
    """The value of a ``fieldRef.fieldPath`` for ``pod`` (as the real kubelet resolves it)."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    selector = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if selector:
        return str(meta.get(selector.group(1), {}).get(selector.group(2), ""))
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": HOST_IP,
        "status.hostIPs": HOST_IP,
        "status.podIP": HOST_IP,
        "status.podIPs": HOST_IP,
    }
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1], {})
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise FieldError(f"unsupported fieldPath {path!r}")


def resource_field_ref(pod: dict[str, Any], ref: dict[str, Any], default_container: str) -> str:
    """The value of a ``resourceFieldRef`` (``limits.memory`` …) divided by its divisor."""
    name = ref.get("containerName") or default_container
    container = next((c for c in pod["spec"].get("containers", []) if c["name"] == name), None)
    if container is None:
        raise FieldError(f"resourceFieldRef names unknown container {name!r}")
    kind, _, resource = str(ref["resource"]).partition(".")
    value = container.get("resources", {}).get(kind, {}).get(resource)
    if value is None:
        # Unset limits resolve to the node's allocatable, as upstream.
        value = node_capacity().get(resource, "0")
    divisor = quantity(ref.get("divisor", "1"))
    return str(math.ceil(quantity(value) / divisor))
