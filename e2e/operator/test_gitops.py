"""GitOps and platform fit, end to end: what kstatus and Argo CD read, Events, metrics, placement.

kstatus is the real library (sigs.k8s.io/cli-utils, built from e2e/go/kstatus
with `go build`), fed the Execution as `kubectl get -o json` returns it; the
Argo CD check is the shipped health.lua run by lua5.4 on the same object.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from e2e import harness
from e2e.operator import support
from tests.support import gitops

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SLEEP = "import time\ntime.sleep(300)"
ARGO_FOR = {"InProgress": "Progressing", "Current": "Healthy", "Failed": "Degraded"}


@pytest.fixture(scope="module")
def kstatus_bin(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return gitops.kstatus_binary(tmp_path_factory.mktemp("kstatus"))


@pytest.fixture
def operator_env() -> dict[str, str]:
    # Two slots per namespace, so a third long run stays PENDING (queued).
    return {"KUBERUN_MAX_RUNNING_PER_NAMESPACE": "2"}


def read(cluster: harness.Cluster, ns: str, name: str) -> dict[str, Any]:
    """The Execution as clients read it (kubectl's JSON, defaults applied)."""
    obj: dict[str, Any] = json.loads(
        cluster.kubectl("-n", ns, "get", "execution", name, "-o", "json").stdout
    )
    return obj


def health(cluster: harness.Cluster, binary: pathlib.Path, ns: str, name: str) -> tuple[str, str]:
    """(kstatus, Argo CD health) of the Execution now."""
    obj = read(cluster, ns, name)
    return gitops.kstatus(binary, obj)["status"], gitops.argocd_health(obj)["status"]


def assert_health(
    cluster: harness.Cluster, binary: pathlib.Path, ns: str, name: str, expected: str
) -> None:
    got = health(cluster, binary, ns, name)
    assert got == (expected, ARGO_FOR[expected]), (name, got, read(cluster, ns, name)["status"])


def event_reasons(cluster: harness.Cluster, ns: str, name: str) -> list[str]:
    events = cluster.core.list_namespaced_event(
        ns, field_selector=f"involvedObject.name={name},involvedObject.kind=Execution"
    ).items
    events.sort(key=lambda e: e.first_timestamp or e.metadata.creation_timestamp)
    return [str(e.reason) for e in events]


def wait_events(cluster: harness.Cluster, ns: str, name: str, *wanted: str) -> list[str]:
    return harness.wait_for(
        f"events {wanted} on {name}",
        lambda: got if set(wanted) <= set(got := event_reasons(cluster, ns, name)) else None,
        timeout=20,
    )


def test_kstatus_and_argocd_read_every_phase_right(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    kstatus_bin: pathlib.Path,
) -> None:
    ns = kx_namespace
    ends = {
        "ok": ("result = {'total': 42}", {}, "SUCCESS", "Current", "Succeeded"),
        "broken": ("raise RuntimeError('no')", {}, "FAILED", "Failed", "Failed"),
        "partial": ("result = {'success': False}", {}, "COMPLETED_WITH_ERRORS", "Failed", "Failed"),
        "slow": (SLEEP, {"timeoutSeconds": 2, "gracePeriodSeconds": 1}, "TIMED_OUT", "Failed",
                 "TimedOut"),
    }  # fmt: skip
    for name, (code, extra, *_) in ends.items():
        support.create(cluster, ns, support.execution(name, code, **extra))
    for name, (_, _, phase, verdict, reason) in ends.items():
        support.wait_phase(cluster, ns, name, phase, timeout=90)
        assert_health(cluster, kstatus_bin, ns, name, verdict)
        assert reason in wait_events(cluster, ns, name, "Queued", "Started", reason)

    # Live phases: two runs hold both slots, the third waits in the queue.
    for name in ("running", "stopped", "queued"):
        support.create(cluster, ns, support.execution(name, SLEEP, gracePeriodSeconds=2))
    support.wait_phase(cluster, ns, "running", "RUNNING", timeout=60)
    support.wait_phase(cluster, ns, "stopped", "RUNNING", timeout=60)
    assert_health(cluster, kstatus_bin, ns, "running", "InProgress")
    queued = support.wait_phase(cluster, ns, "queued", "PENDING", timeout=30)
    assert queued["reason"] == "Queued"
    assert_health(cluster, kstatus_bin, ns, "queued", "InProgress")

    support.patch_spec(cluster, ns, "stopped", cancel=True)
    harness.wait_for(
        "CANCELLING or CANCELLED",
        lambda: support.status(cluster, ns, "stopped").get("phase") in ("CANCELLING", "CANCELLED"),
        timeout=20,
        interval=0.05,
    )
    if support.status(cluster, ns, "stopped")["phase"] == "CANCELLING":
        assert health(cluster, kstatus_bin, ns, "stopped")[0] in ("InProgress", "Failed")
    support.wait_phase(cluster, ns, "stopped", "CANCELLED", timeout=60)
    assert_health(cluster, kstatus_bin, ns, "stopped", "Failed")
    wait_events(cluster, ns, "stopped", "Cancelled")

    # A finished Execution edited from Git (here: cancel set after the end) is observed
    # again: its generation moves, and it goes back to Current, not "in progress" forever.
    before = read(cluster, ns, "ok")
    support.patch_spec(cluster, ns, "ok", cancel=True)
    generation = before["metadata"]["generation"] + 1

    def observed() -> dict[str, Any] | None:
        obj = read(cluster, ns, "ok")
        return obj if obj["status"].get("observedGeneration") == generation else None

    after = harness.wait_for("observedGeneration to follow the edit", observed, timeout=20)
    assert after["metadata"]["generation"] == generation
    assert {c["observedGeneration"] for c in after["status"]["conditions"]} == {generation}
    assert after["status"]["phase"] == "SUCCESS"
    assert_health(cluster, kstatus_bin, ns, "ok", "Current")

    for name in ("running", "queued"):
        support.patch_spec(cluster, ns, name, cancel=True)


def test_lifecycle_events_and_metrics(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    support.create(
        cluster,
        ns,
        support.execution(
            "flaky", "raise RuntimeError('down')", retry={"limit": 1, "backoffSeconds": 1}
        ),
    )
    support.wait_phase(cluster, ns, "flaky", "FAILED", timeout=90)
    reasons = wait_events(cluster, ns, "flaky", "Queued", "Started", "Retrying", "Failed")
    assert reasons.count("Started") == 2 and reasons.count("Failed") == 1, reasons
    described = cluster.kubectl("-n", ns, "describe", "kx", "flaky").stdout
    events = described[described.index("Events:") :]
    for reason in ("Queued", "Started", "Retrying", "Failed"):
        assert reason in events, described
    assert "FAILED (" in events and "down" in events, events  # the reason and the message

    def series() -> str | None:
        text = operator.metrics()
        wanted = [
            f'kuberun_executions_by_phase{{namespace="{ns}",phase="FAILED"}} 1.0',
            f'kuberun_executions_total{{namespace="{ns}",phase="FAILED"',
            f'kuberun_retries_total{{namespace="{ns}"}} 1.0',
            f'kuberun_queue_wait_seconds_count{{namespace="{ns}"}} 1.0',
            "kuberun_build_info{",
            "# TYPE kuberun_api_errors_total counter",
            "# TYPE kuberun_redis_errors_total counter",
            "# TYPE kuberun_dropped_log_lines_total counter",
        ]
        return text if all(w in text for w in wanted) else None

    try:
        harness.wait_for("the metrics", series, timeout=10)
    except harness.WaitTimeout:
        raise AssertionError(operator.metrics()) from None


@pytest.fixture
def gpu_node(cluster: harness.Cluster) -> Iterator[str]:
    """The node, advertising 4 `example.com/gpu` as a device plugin would (extended resource)."""
    node = cluster.core.list_node().items[0]  # the test's nodeSelector pins the pod to it
    name = str(node.metadata.name)
    patch = [{"op": "add", "path": "/status/capacity/example.com~1gpu", "value": "4"}]
    cluster.core.patch_node_status(name, patch)
    harness.wait_for(
        "the node to advertise example.com/gpu",
        lambda: (cluster.core.read_node(name).status.allocatable or {}).get("example.com/gpu"),
        timeout=30,
    )
    yield name
    remove = [{"op": "remove", "path": "/status/capacity/example.com~1gpu"}]
    with contextlib.suppress(kubernetes.client.ApiException):
        cluster.core.patch_node_status(name, remove)


@pytest.fixture
def priority_class(cluster: harness.Cluster) -> Iterator[str]:
    name = f"kuberun-e2e-{uuid.uuid4().hex[:6]}"
    scheduling = kubernetes.client.SchedulingV1Api(cluster.api_client)
    scheduling.create_priority_class(
        kubernetes.client.V1PriorityClass(
            metadata=kubernetes.client.V1ObjectMeta(name=name), value=1000
        )
    )
    yield name
    scheduling.delete_priority_class(name)


def test_runner_pod_gets_the_placement_asked_for(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    gpu_node: str,
    priority_class: str,
) -> None:
    ns = kx_namespace
    node_labels = cluster.core.read_node(gpu_node).metadata.labels
    placement = {
        "nodeSelector": {"kubernetes.io/hostname": node_labels["kubernetes.io/hostname"]},
        "tolerations": [{"key": "example.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": priority_class,
        "annotations": {"karpenter.sh/do-not-disrupt": "true"},
        "labels": {"team": "ml"},
    }
    support.create(
        cluster,
        ns,
        support.execution(
            "placed",
            "result = 'placed'",
            placement=placement,
            resources={"extended": {"example.com/gpu": 1}},
        ),
    )
    support.wait_phase(cluster, ns, "placed", "SUCCESS", timeout=90)
    (pod,) = support.pods_of(cluster, ns)
    assert pod.spec.node_selector == placement["nodeSelector"]
    assert [(t.key, t.operator, t.effect) for t in pod.spec.tolerations or []][:1] == [
        ("example.com/gpu", "Exists", "NoSchedule")
    ]
    assert pod.spec.priority_class_name == priority_class and pod.spec.priority == 1000
    assert pod.metadata.annotations["karpenter.sh/do-not-disrupt"] == "true"
    assert pod.metadata.labels["team"] == "ml"
    runner = pod.spec.containers[0]
    assert runner.resources.requests["example.com/gpu"] == "1"
    assert runner.resources.limits["example.com/gpu"] == "1"
    assert pod.spec.node_name == gpu_node


def test_wrong_placement_and_spec_edits_are_refused_by_kubectl_apply(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace

    def manifest(**spec: Any) -> str:
        body = support.execution("edited", SLEEP, gracePeriodSeconds=1, **spec)
        body["metadata"]["namespace"] = ns
        return json.dumps(body)

    bad = manifest(placement={"tolerations": [{"key": "x", "operator": "Sometimes"}]})
    refused = cluster.kubectl("apply", "-f", "-", input=bad, check=False)
    assert refused.returncode != 0 and 'Unsupported value: "Sometimes"' in refused.stderr

    cluster.kubectl("apply", "-f", "-", input=manifest())
    support.wait_phase(cluster, ns, "edited", "RUNNING", timeout=60)
    refused = cluster.kubectl("apply", "-f", "-", input=manifest(timeoutSeconds=10), check=False)
    assert refused.returncode != 0
    assert "spec.timeoutSeconds cannot change after the Execution is created" in refused.stderr

    cluster.kubectl("apply", "-f", "-", input=manifest(cancel=True))
    support.wait_phase(cluster, ns, "edited", "CANCELLED", timeout=60)
