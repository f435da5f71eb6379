"""The cluster itself: versions, the real node, controllers, and a clean ``up``/``down``."""

from __future__ import annotations

import json
import pathlib
import subprocess
import tempfile

import pytest

from e2e import harness
from e2e.cluster import binaries, controlplane, processes
from e2e.tests import manifests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_kubectl_reports_the_pinned_version(cluster: harness.Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"].startswith("v1.")
    if cluster.local is not None:
        pinned = binaries.versions().kubernetes
        assert version["clientVersion"]["gitVersion"] == pinned
        assert version["serverVersion"]["gitVersion"] == pinned


@pytest.mark.local_node
def test_the_node_is_the_real_kubelet_on_containerd(cluster: harness.Cluster) -> None:
    wide = cluster.kubectl("get", "nodes", "-o", "wide").stdout
    [node] = cluster.core.list_node().items
    info = node.status.node_info
    assert info.kubelet_version == binaries.versions().kubernetes
    assert info.container_runtime_version.startswith("containerd://")
    ready = {c.type: c.status for c in node.status.conditions}["Ready"]
    assert ready == "True"
    assert "Ready" in wide and "containerd://" in wide and info.kubelet_version in wide
    assert cluster.local is not None
    internal = [a.address for a in node.status.addresses if a.type == "InternalIP"]
    assert internal == [cluster.local.state.node_ip]


@pytest.mark.local_node
def test_helm_reports_the_pinned_version() -> None:
    out = subprocess.run(
        [str(binaries.helm_path()), "version", "--short"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.startswith(binaries.versions().helm)


def test_finished_job_is_removed_by_its_ttl(cluster: harness.Cluster, namespace: str) -> None:
    cluster.batch.create_namespaced_job(
        namespace, manifests.job("brief", manifests.container("pass"), ttlSecondsAfterFinished=0)
    )

    def gone() -> bool:
        return not cluster.batch.list_namespaced_job(namespace).items and not cluster.job_pods(
            namespace, "brief"
        )

    harness.wait_for("the job and its pod to be collected", gone, timeout=60)


@pytest.mark.local_node
def test_up_and_down_leave_no_process_or_port(cluster: harness.Cluster) -> None:
    with tempfile.TemporaryDirectory(prefix="kuberun-updown-") as directory:
        state = controlplane.up(pathlib.Path(directory))
        try:
            ports = [
                (state.node_ip, state.apiserver_port),
                ("127.0.0.1", state.etcd_port),
                (state.node_ip, state.kubelet_port),
            ]
            assert all(processes.port_open(p, host) for host, p in ports)
            other = harness.connect(state.kubeconfig)
            other.core.create_namespaced_pod(
                "default",
                manifests.pod("sleeper", manifests.container("import time; time.sleep(300)")),
            )
            other.wait_pod_phase("default", "sleeper", "Running")
            pod_pid = harness.LocalCluster(state).container_pid("default", "sleeper", "main")
            assert pod_pid is not None
        finally:
            controlplane.down(pathlib.Path(directory))

        assert not any(processes.alive(r) for r in state.processes)
        assert not harness.LocalCluster.process_alive(pod_pid)
        assert not any(processes.port_open(p, "127.0.0.1") for _, p in ports)
        assert not pathlib.Path(f"/sys/class/net/{state.bridge.name}").exists()
        assert controlplane.State.load(pathlib.Path(directory)) is None
