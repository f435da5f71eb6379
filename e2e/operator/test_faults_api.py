"""Specs the Kubernetes API refuses, and stops nobody asked for, on the real node.

- What the pod API would refuse is refused at `kubectl apply` with a readable reason
  (the CRD's schema and CEL), or, when only the API server can tell (a Secret too
  large, a name with `=`, a missing ServiceAccount or ConfigMap), ends the Execution
  FAILED/InvalidRequest within 5 s with the server's message.
- A Job deleted from outside (background and foreground cascade) or a pod evicted
  through the Eviction API ends FAILED/JobDeleted or FAILED/Evicted, never CANCELLED,
  and is retried under `spec.retry`; `spec.cancel` still ends CANCELLED.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from e2e import harness
from e2e.operator import support

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(600)"


def manifest(name: str, **spec: Any) -> str:
    body = support.execution(name, "print(1)", **spec)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("spec", "readable"),
    [
        ({"resources": {"limits": {"memory": "1.2.3Gi"}}}, "must be a Kubernetes quantity"),
        ({"resources": {"requests": {"memory": "-64Mi"}}}, "must be a Kubernetes quantity"),
        (
            {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
            "resources.requests.memory must be less than or equal to resources.limits.memory",
        ),
        (
            {"resources": {"requests": {"cpu": "1500m"}, "limits": {"cpu": "1"}}},
            "resources.requests.cpu must be less than or equal to resources.limits.cpu",
        ),
        ({"env": [{"value": "no name"}]}, "spec.env[0].name: Required value"),
        ({"envFrom": [{}]}, "must name exactly one of configMapRef or secretRef"),
        ({"image": "registry.example/runner: 1.0"}, "must be an image reference without spaces"),
    ],
    ids=[
        "quantity",
        "negative",
        "memory-over-limit",
        "cpu-over-limit",
        "env-name",
        "envfrom",
        "image",
    ],
)
def test_refused_at_apply_with_a_readable_reason(
    cluster: harness.Cluster, kx_namespace: str, spec: dict[str, Any], readable: str
) -> None:
    done = cluster.kubectl(
        "-n", kx_namespace, "apply", "-f", "-", input=manifest("refused", **spec), check=False
    )
    assert done.returncode != 0
    print(done.stderr.strip())
    assert readable in done.stderr
    assert "Invalid value" in done.stderr or "Required value" in done.stderr


def test_a_valid_spec_still_applies(cluster: harness.Cluster, kx_namespace: str) -> None:
    """The tightened schema keeps what is valid (requests at their limits, refs, env)."""
    spec = {
        "resources": {
            "requests": {"cpu": "250m", "memory": "64Mi"},
            "limits": {"cpu": "0.25", "memory": "64Mi"},
        },
        "env": [{"name": "A", "value": "1"}],
        "envFrom": [{"configMapRef": {"name": "settings", "optional": True}}],
        "image": "registry.example/team/runner:1.4",
    }
    done = cluster.kubectl(
        "-n", kx_namespace, "apply", "--dry-run=server", "-f", "-", input=manifest("ok", **spec)
    )
    assert "created" in done.stdout


def wait_invalid(cluster: harness.Cluster, ns: str, name: str, started: float) -> dict[str, Any]:
    status = support.wait_phase(cluster, ns, name, timeout=30, interval=0.05)
    took = time.monotonic() - started
    print(f"{name}: {status['phase']}/{status['reason']} after {took:.2f}s: {status['message']}")
    assert (status["phase"], status["reason"]) == ("FAILED", "InvalidRequest"), status
    assert took < 5.0, f"{name} took {took:.2f}s"
    return status


@pytest.mark.parametrize(
    ("spec", "server_says"),
    [
        ({"parameters": {"blob": "x" * 1_200_000}}, "Too long: may not be more than 1048576 bytes"),
        ({"env": [{"name": "A=B", "value": "1"}]}, "Invalid value"),
        ({"serviceAccountName": "nobody"}, 'serviceaccounts "nobody" not found'),
    ],
    ids=["parameters-1.2MB", "env-name-with-equals", "missing-serviceaccount"],
)
def test_refused_by_the_api_server_fails_at_once_with_its_message(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    spec: dict[str, Any],
    server_says: str,
) -> None:
    started = time.monotonic()
    support.create(cluster, kx_namespace, support.execution("refused", "print(1)", **spec))
    status = wait_invalid(cluster, kx_namespace, "refused", started)
    assert server_says in status["message"]
    assert status["error"]["type"] == "InvalidRequest"
    assert not support.jobs_of(cluster, kx_namespace)


def test_a_missing_source_configmap_fails_at_once(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    body = support.execution("refused", "unused")
    body["spec"]["source"] = {"configMap": {"name": "no-such-code", "key": "main.py"}}
    started = time.monotonic()
    support.create(cluster, kx_namespace, body)
    status = wait_invalid(cluster, kx_namespace, "refused", started)
    assert 'spec.source.configMap.name: configmaps "no-such-code" not found' in status["message"]


def running_pod(cluster: harness.Cluster, ns: str, name: str, attempt: int) -> Any:
    """The attempt's pod once its runner has printed (the code is running)."""

    def check() -> Any:
        current = support.status(cluster, ns, name)
        if current.get("phase") != "RUNNING" or current.get("attempt") != attempt:
            return None
        pods = [
            p
            for p in support.pods_of(cluster, ns)
            if p.metadata.labels.get("kuberun.dev/attempt") == str(attempt)
        ]
        return pods[0] if pods else None

    return harness.wait_for(f"{name} attempt {attempt} running", check, timeout=60)


def attempt_ended(cluster: harness.Cluster, ns: str, name: str, attempt: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        current = support.status(cluster, ns, name)
        attempts = current.get("attempts") or []
        if len(attempts) >= attempt and attempts[attempt - 1].get("phase"):
            return current
        return None

    return harness.wait_for(f"{name} attempt {attempt} ended", check, timeout=60, interval=0.1)


def evict(cluster: harness.Cluster, ns: str, pod: str) -> None:
    cluster.core.create_namespaced_pod_eviction(
        pod,
        ns,
        client.V1Eviction(metadata=client.V1ObjectMeta(name=pod, namespace=ns)),
    )


def delete_job(cluster: harness.Cluster, ns: str, job: str, propagation: str) -> None:
    cluster.batch.delete_namespaced_job(job, ns, propagation_policy=propagation)


@pytest.mark.parametrize(
    ("how", "reason"),
    [("Background", "JobDeleted"), ("Foreground", "JobDeleted"), ("evict", "Evicted")],
    ids=["job-deleted-background", "job-deleted-foreground", "pod-evicted"],
)
def test_a_stop_nobody_asked_for_fails_with_its_cause(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, how: str, reason: str
) -> None:
    ns = kx_namespace
    support.create(cluster, ns, support.execution("stopped", SLEEPER, gracePeriodSeconds=5))
    pod = running_pod(cluster, ns, "stopped", 1)
    if how == "evict":
        evict(cluster, ns, pod.metadata.name)
    else:
        delete_job(cluster, ns, "stopped-1", how)
    status = support.wait_phase(cluster, ns, "stopped", timeout=60)
    print(f"{how}: {status['phase']}/{status['reason']}: {status['message']}")
    assert (status["phase"], status["reason"]) == ("FAILED", reason), status
    assert "without a cancel request" in status["message"]
    assert status["error"]["type"] == reason


@pytest.mark.parametrize(
    ("how", "reason"),
    [("Foreground", "JobDeleted"), ("evict", "Evicted")],
    ids=["job-deleted-foreground", "pod-evicted"],
)
def test_a_stop_nobody_asked_for_is_retried_and_spec_cancel_still_cancels(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, how: str, reason: str
) -> None:
    ns = kx_namespace
    retry = {"limit": 1, "backoffSeconds": 0}
    support.create(
        cluster, ns, support.execution("again", SLEEPER, gracePeriodSeconds=5, retry=retry)
    )
    pod = running_pod(cluster, ns, "again", 1)
    if how == "evict":
        evict(cluster, ns, pod.metadata.name)
    else:
        delete_job(cluster, ns, "again-1", how)
    ended = attempt_ended(cluster, ns, "again", 1)
    first = ended["attempts"][0]
    assert (first["phase"], first["reason"]) == ("FAILED", reason), ended
    running_pod(cluster, ns, "again", 2)

    support.patch_spec(cluster, ns, "again", cancel=True)
    status = support.wait_phase(cluster, ns, "again", "CANCELLED", timeout=30)
    assert status["reason"] == "Cancelled" and status["attempt"] == 2
