"""The Node object and its heartbeat (the Lease in ``kube-node-lease``).

The node lifecycle controller marks a node NotReady (and evicts its pods) when
neither its Lease is renewed nor its status refreshed, so :func:`heartbeat`
renews the Lease every 10 s and rewrites the Ready condition every 60 s, the
real kubelet's rhythm.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import platform
from typing import Any

from e2e.kubelet import fields, kubeapi, statuses

logger = logging.getLogger(__name__)

LEASE_SECONDS = 40
RENEW_SECONDS = 10
STATUS_SECONDS = 60
KUBELET_VERSION = "v1.36.3-kuberun-process"


def _micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def node_status(port: int) -> dict[str, Any]:
    """Capacity, Ready condition, addresses and the kubelet endpoint the API server dials."""
    heartbeat = statuses.now()
    capacity = fields.node_capacity()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": heartbeat,
        }

    return {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
            condition("Ready", "True", "KubeletReady", "process kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": fields.HOST_IP},
            {"type": "Hostname", "address": "localhost"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {
            "machineID": _read("/etc/machine-id"),
            "systemUUID": _read("/etc/machine-id"),
            "bootID": _read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": platform.release(),
            "osImage": "kuberun process kubelet",
            "containerRuntimeVersion": "kuberun-process://0.1",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                platform.machine(), platform.machine()
            ),
        },
    }


async def register(client: kubeapi.Client, name: str, port: int) -> dict[str, str]:
    """Create the Node (or keep the existing one), write its status, return its labels."""
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": node_status(port)["nodeInfo"]["architecture"],
                "kuberun.dev/process-kubelet": "true",
            },
        },
    }
    try:
        await client.create("/api/v1/nodes", body)
        logger.info("registered node %s", name)
    except kubeapi.Conflict:
        logger.info("node %s exists; taking it over", name)
    answer = await client.patch(f"/api/v1/nodes/{name}/status", {"status": node_status(port)})
    return dict(answer["metadata"].get("labels", {}))


async def _renew_lease(client: kubeapi.Client, name: str) -> None:
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
    spec = {
        "holderIdentity": name,
        "leaseDurationSeconds": LEASE_SECONDS,
        "renewTime": _micro_now(),
    }
    try:
        await client.patch(path, {"spec": spec}, strategic=False)
    except kubeapi.NotFound:
        await client.create(
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": spec,
            },
        )


async def heartbeat(client: kubeapi.Client, name: str, port: int) -> None:
    """Renew the Lease and refresh the node status forever."""
    last_status = asyncio.get_running_loop().time()
    while True:
        try:
            await _renew_lease(client, name)
            now = asyncio.get_running_loop().time()
            if now - last_status >= STATUS_SECONDS:
                await client.patch(f"/api/v1/nodes/{name}/status", {"status": node_status(port)})
                last_status = now
        except (kubeapi.ApiError, OSError, TimeoutError) as error:
            logger.warning("heartbeat failed: %s", error)
        await asyncio.sleep(RENEW_SECONDS)
