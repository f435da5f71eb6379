"""The process kubelet restarts without losing track of the pods it runs."""

from __future__ import annotations

import signal
import time

import pytest

from e2e import harness
from e2e.tests import manifests

pytestmark = [pytest.mark.e2e, pytest.mark.local_node, pytest.mark.timeout(120)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["stop", "crash"])
def test_running_pod_survives_a_kubelet_restart(
    cluster: harness.Cluster, namespace: str, signum: int
) -> None:
    assert cluster.local is not None
    cluster.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cfg"}, "data": {"word": "still-here"}}
    )
    # Reads its volume only after the restart: the mount must still show the files.
    script = (
        "import time; print('working', flush=True); time.sleep(6); "
        "open('/dev/termination-log', 'w').write(open('/etc/cfg/word').read()); "
        "raise SystemExit(7)"
    )
    container = manifests.container(script, volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg"}])
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod("steady", container, volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}]),
    )
    cluster.wait_pod_phase(namespace, "steady", "Running")
    pid = cluster.local.container_pid(namespace, "steady", "main")
    assert pid is not None

    cluster.local.restart_kubelet(signum=signum)

    assert cluster.local.process_alive(pid), "a kubelet restart must not touch containers"
    pod = cluster.wait_pod_phase(namespace, "steady", "Failed", timeout=30)
    status = pod.status.container_statuses[0]
    assert status.restart_count == 0
    terminated = status.state.terminated
    assert (terminated.exit_code, terminated.message) == (7, "still-here")


def test_pod_that_ends_while_the_kubelet_is_down_is_reported_after(
    cluster: harness.Cluster, namespace: str
) -> None:
    assert cluster.local is not None
    cluster.core.create_namespaced_pod(
        namespace, manifests.pod("quick", manifests.container("import time; time.sleep(2)"))
    )
    cluster.wait_pod_phase(namespace, "quick", "Running")

    cluster.local.stop_kubelet()
    try:
        time.sleep(3)
        assert cluster.core.read_namespaced_pod("quick", namespace).status.phase == "Running"
    finally:
        cluster.local.start_kubelet()

    pod = cluster.wait_pod_phase(namespace, "quick", "Succeeded", timeout=30)
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0


def test_pod_deleted_while_the_kubelet_is_down_is_stopped_after(
    cluster: harness.Cluster, namespace: str
) -> None:
    assert cluster.local is not None
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "orphan",
            manifests.container("import time; time.sleep(300)"),
            terminationGracePeriodSeconds=1,
        ),
    )
    cluster.wait_pod_phase(namespace, "orphan", "Running")
    pid = cluster.local.container_pid(namespace, "orphan", "main")
    assert pid is not None

    cluster.local.stop_kubelet()
    try:
        cluster.core.delete_namespaced_pod("orphan", namespace)
    finally:
        cluster.local.start_kubelet()

    cluster.wait_pod_gone(namespace, "orphan", timeout=30)
    local = cluster.local
    harness.wait_for("the process to end", lambda: not local.process_alive(pid), timeout=10)


def test_pod_ending_during_an_api_server_outage_is_reported_after(
    cluster: harness.Cluster, namespace: str
) -> None:
    assert cluster.local is not None
    cluster.core.create_namespaced_pod(
        namespace, manifests.pod("outage", manifests.container("import time; time.sleep(2)"))
    )
    cluster.wait_pod_phase(namespace, "outage", "Running")

    cluster.local.stop_apiserver()
    try:
        time.sleep(4)
    finally:
        cluster.local.start_apiserver()

    pod = cluster.wait_pod_phase(namespace, "outage", "Succeeded", timeout=60)
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
