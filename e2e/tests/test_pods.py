"""What the node does with one pod: limits, deadlines, deletion, volumes, environment."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest

from e2e import harness
from e2e.tests import manifests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def _terminated(cluster: harness.Cluster, namespace: str, name: str) -> object:
    pod = cluster.wait_pod_phase(namespace, name, "Succeeded", "Failed")
    return pod.status.container_statuses[0].state.terminated


def test_memory_hog_is_oom_killed(cluster: harness.Cluster, namespace: str) -> None:
    hog = "blocks = []\nwhile True:\n    blocks.append(b'x' * (16 << 20))\n"
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "hog", manifests.container(hog, resources={"limits": {"memory": "64Mi", "cpu": "1"}})
        ),
    )

    pod = cluster.wait_pod_phase(namespace, "hog", "Failed")

    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)


def test_pod_active_deadline_fails_it(cluster: harness.Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "late",
            manifests.container("import time; time.sleep(300)"),
            activeDeadlineSeconds=2,
            terminationGracePeriodSeconds=1,
        ),
    )

    pod = cluster.wait_pod_phase(namespace, "late", "Failed", timeout=30)

    assert pod.status.reason == "DeadlineExceeded"
    assert pod.status.container_statuses[0].state.terminated is not None


def _follow_log(cluster: harness.Cluster, namespace: str, name: str, into: list[str]) -> None:
    response = cluster.core.read_namespaced_pod_log(
        name, namespace, follow=True, _preload_content=False
    )
    for chunk in response.stream(amt=1024, decode_content=True):
        into.append(chunk.decode())


def test_deleting_a_running_pod_sends_sigterm_then_removes_it(
    cluster: harness.Cluster, namespace: str
) -> None:
    script = (
        "import signal, sys, time\n"
        "def stop(signum, frame):\n"
        "    print('got SIGTERM', flush=True); time.sleep(1); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n"
    )
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod("polite", manifests.container(script), terminationGracePeriodSeconds=30),
    )
    cluster.wait_pod_phase(namespace, "polite", "Running")
    harness.wait_for("the handler", lambda: "ready" in cluster.pod_log(namespace, "polite"))
    output: list[str] = []
    follower = threading.Thread(
        target=_follow_log, args=(cluster, namespace, "polite", output), daemon=True
    )
    follower.start()
    time.sleep(0.5)

    started = time.monotonic()
    cluster.core.delete_namespaced_pod("polite", namespace)
    cluster.wait_pod_gone(namespace, "polite", timeout=30)
    elapsed = time.monotonic() - started

    follower.join(timeout=10)
    assert "got SIGTERM" in "".join(output)
    assert 1 <= elapsed < 20, "the process should exit on SIGTERM, well before the grace period"


def test_process_ignoring_sigterm_is_killed_after_the_grace_period(
    cluster: harness.Cluster, namespace: str
) -> None:
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n"
    )
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod("stubborn", manifests.container(script), terminationGracePeriodSeconds=3),
    )
    cluster.wait_pod_phase(namespace, "stubborn", "Running")
    harness.wait_for("the handler", lambda: "ready" in cluster.pod_log(namespace, "stubborn"))
    pid = cluster.local.container_pid(namespace, "stubborn", "main") if cluster.local else None

    started = time.monotonic()
    cluster.core.delete_namespaced_pod("stubborn", namespace)
    cluster.wait_pod_gone(namespace, "stubborn", timeout=30)

    assert time.monotonic() - started >= 2.5
    if cluster.local is not None:
        assert pid is not None and not cluster.local.process_alive(pid)


def test_volumes_env_and_working_dir_reach_the_process(
    cluster: harness.Cluster, namespace: str
) -> None:
    cluster.core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "settings"}, "data": {"greeting": "hello", "colour": "blue"}},
    )
    cluster.core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "creds"}, "data": {"password": base64.b64encode(b"s3cret").decode()}},
    )
    script = (
        "import json, os\n"
        "read = lambda p: open(p).read()\n"
        "report = {\n"
        " 'cwd': os.getcwd(), 'argv_env': os.environ['FROM_ARGS'],\n"
        " 'env': {k: os.environ.get(k) for k in ('GREETING', 'PASSWORD', 'POD_NAME', "
        "'POD_NAMESPACE', 'MEMORY_MI', 'LITERAL', 'EXPANDED', 'cfg_colour')},\n"
        " 'configmap': read('/etc/settings/greeting'),\n"
        " 'secret': read('/etc/creds/password'),\n"
        " 'labels': read('/etc/podinfo/labels'),\n"
        " 'projected': sorted(n for n in os.listdir('/etc/projected') if n[0] != '.'),\n"
        " 'subpath': read('/etc/only-colour'),\n"
        " 'token': len(read('/var/run/secrets/kubernetes.io/serviceaccount/token')) > 100,\n"
        " 'scratch_writable': os.access('/scratch', os.W_OK),\n"
        "}\n"
        "open('/dev/termination-log', 'w').write(json.dumps(report))\n"
    )
    container = manifests.container(
        script,
        workingDir="/scratch/work",
        env=[
            {
                "name": "GREETING",
                "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}},
            },
            {
                "name": "PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
            },
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {
                "name": "MEMORY_MI",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "LITERAL", "value": "plain"},
            {"name": "EXPANDED", "value": "$(LITERAL)-$(GREETING)"},
            {"name": "FROM_ARGS", "value": "x"},
        ],
        envFrom=[{"prefix": "cfg_", "configMapRef": {"name": "settings"}}],
        resources={"limits": {"memory": "200Mi"}},
        volumeMounts=[
            {"name": "settings", "mountPath": "/etc/settings", "readOnly": True},
            {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
            {"name": "podinfo", "mountPath": "/etc/podinfo"},
            {"name": "projected", "mountPath": "/etc/projected"},
            {"name": "settings", "mountPath": "/etc/only-colour", "subPath": "colour"},
            {"name": "scratch", "mountPath": "/scratch"},
        ],
    )
    cluster.core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "wired", "labels": {"app": "wired"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [container],
                "volumes": [
                    {"name": "settings", "configMap": {"name": "settings"}},
                    {"name": "creds", "secret": {"secretName": "creds"}},
                    {
                        "name": "podinfo",
                        "downwardAPI": {
                            "items": [
                                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}
                            ]
                        },
                    },
                    {
                        "name": "projected",
                        "projected": {
                            "sources": [
                                {
                                    "configMap": {
                                        "name": "settings",
                                        "items": [{"key": "greeting", "path": "g"}],
                                    }
                                },
                                {"secret": {"name": "creds"}},
                                {
                                    "downwardAPI": {
                                        "items": [
                                            {
                                                "path": "name",
                                                "fieldRef": {"fieldPath": "metadata.name"},
                                            }
                                        ]
                                    }
                                },
                            ]
                        },
                    },
                    {"name": "scratch", "emptyDir": {}},
                ],
            },
        },
    )

    terminated = _terminated(cluster, namespace, "wired")

    assert terminated.exit_code == 0, terminated.message  # type: ignore[attr-defined]
    report = json.loads(terminated.message)  # type: ignore[attr-defined]
    assert report == {
        "cwd": "/scratch/work",
        "argv_env": "x",
        "env": {
            "GREETING": "hello",
            "PASSWORD": "s3cret",
            "POD_NAME": "wired",
            "POD_NAMESPACE": namespace,
            "MEMORY_MI": "200",
            "LITERAL": "plain",
            "EXPANDED": "plain-hello",
            "cfg_colour": "blue",
        },
        "configmap": "hello",
        "secret": "s3cret",
        "labels": 'app="wired"',
        "projected": ["g", "name", "password"],
        "subpath": "blue",
        "token": True,
        "scratch_writable": True,
    }


def test_fallback_to_logs_on_error_fills_the_message(
    cluster: harness.Cluster, namespace: str
) -> None:
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "noisy",
            manifests.container(
                "print('first'); print('last words', flush=True); raise SystemExit(2)",
                terminationMessagePolicy="FallbackToLogsOnError",
            ),
        ),
    )

    terminated = _terminated(cluster, namespace, "noisy")

    assert terminated.exit_code == 2  # type: ignore[attr-defined]
    assert "last words" in terminated.message  # type: ignore[attr-defined]


def test_init_containers_run_first_and_share_volumes(
    cluster: harness.Cluster, namespace: str
) -> None:
    mount = [{"name": "shared", "mountPath": "/shared"}]
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "staged",
            manifests.container("print(open('/shared/step').read())", volumeMounts=mount),
            initContainers=[
                manifests.container(
                    "open('/shared/step', 'w').write('prepared')",
                    name="prepare",
                    volumeMounts=mount,
                )
            ],
            volumes=[{"name": "shared", "emptyDir": {}}],
        ),
    )

    pod = cluster.wait_pod_phase(namespace, "staged", "Succeeded")

    assert pod.status.init_container_statuses[0].state.terminated.exit_code == 0
    assert cluster.pod_log(namespace, "staged", "main").strip() == "prepared"


def test_one_failing_container_fails_the_pod(cluster: harness.Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "mixed",
            manifests.container("pass", name="good"),
            manifests.container("raise SystemExit(5)", name="bad"),
        ),
    )

    pod = cluster.wait_pod_phase(namespace, "mixed", "Failed")

    codes = {s.name: s.state.terminated.exit_code for s in pod.status.container_statuses}
    assert codes == {"good": 0, "bad": 5}


def test_kubectl_logs_tail_of_a_restarted_container(
    cluster: harness.Cluster, namespace: str
) -> None:
    script = (
        "import os, sys\n"
        "first = not os.path.exists('/scratch/ran')\n"
        "open('/scratch/ran', 'a').close()\n"
        "for i in range(5): print('first' if first else 'second', i)\n"
        "sys.exit(1 if first else 0)\n"
    )
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "twice",
            manifests.container(
                script, volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}]
            ),
            restart_policy="OnFailure",
            volumes=[{"name": "scratch", "emptyDir": {}}],
        ),
    )
    cluster.wait_pod_phase(namespace, "twice", "Succeeded")

    tail = cluster.kubectl("logs", "-n", namespace, "twice", "--tail=2").stdout

    assert tail.split("\n")[:2] == ["second 3", "second 4"]


def test_pod_whose_node_selector_matches_no_node_stays_pending(
    cluster: harness.Cluster, namespace: str
) -> None:
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod("picky", manifests.container("pass"), nodeSelector={"disk": "ssd-nowhere"}),
    )

    def unschedulable() -> Any:
        pod = cluster.core.read_namespaced_pod("picky", namespace)
        conditions = {c.type: c for c in pod.status.conditions or []}
        scheduled = conditions.get("PodScheduled")
        return pod if scheduled is not None and scheduled.reason == "Unschedulable" else None

    pod = harness.wait_for("the pod to be reported unschedulable", unschedulable, timeout=30)
    assert pod.status.phase == "Pending" and not pod.spec.node_name


def test_cpu_limit_throttles_a_busy_loop(cluster: harness.Cluster, namespace: str) -> None:
    script = (
        "import time\n"
        "start = time.monotonic()\n"
        "while time.monotonic() - start < 2: pass\n"
        "share = time.process_time() / (time.monotonic() - start)\n"
        "open('/dev/termination-log', 'w').write(f'{share:.2f}')\n"
    )
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "spinner", manifests.container(script, resources={"limits": {"cpu": "200m"}})
        ),
    )

    terminated = _terminated(cluster, namespace, "spinner")

    assert float(terminated.message) < 0.4  # type: ignore[attr-defined]


def test_missing_secret_holds_the_container_until_it_appears(
    cluster: harness.Cluster, namespace: str
) -> None:
    container = manifests.container(
        "import os; open('/dev/termination-log', 'w').write(os.environ['TOKEN'])",
        env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "late", "key": "token"}}}],
    )
    cluster.core.create_namespaced_pod(namespace, manifests.pod("patient", container))

    def waiting_reason() -> str | None:
        pod = cluster.core.read_namespaced_pod("patient", namespace)
        statuses = pod.status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return waiting.reason if waiting else None

    harness.wait_for("the config error", lambda: waiting_reason() == "CreateContainerConfigError")
    harness.wait_for(
        "a Failed event",
        lambda: any(
            e.reason == "Failed" and e.type == "Warning"
            for e in cluster.core.list_namespaced_event(namespace).items
            if e.involved_object.name == "patient"
        ),
    )
    cluster.core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "late"}, "data": {"token": base64.b64encode(b"abc").decode()}},
    )

    terminated = _terminated(cluster, namespace, "patient")
    assert (terminated.exit_code, terminated.message) == (0, "abc")  # type: ignore[attr-defined]
