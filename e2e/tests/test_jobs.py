"""Jobs driven by the real Job controller and garbage collector on the cluster's node."""

from __future__ import annotations

import pytest

from e2e import harness
from e2e.tests import manifests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_plain_job_completes_with_output_and_message(
    cluster: harness.Cluster, namespace: str
) -> None:
    script = (
        "import sys; print('hello from', sys.argv[0] or 'python'); "
        "open('/dev/termination-log', 'w').write('all good')"
    )
    cluster.batch.create_namespaced_job(
        namespace, manifests.job("hello", manifests.container(script))
    )

    job = cluster.wait_job_condition(namespace, "hello", "Complete")

    assert job.status.succeeded == 1
    [pod] = cluster.job_pods(namespace, "hello")
    assert pod.status.phase == "Succeeded"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason, terminated.message) == (
        0,
        "Completed",
        "all good",
    )
    assert terminated.started_at is not None and terminated.finished_at is not None
    assert "hello from" in cluster.kubectl("logs", "-n", namespace, "job/hello").stdout

    def pod_event_reasons() -> set[str] | None:
        reasons = {
            e.reason
            for e in cluster.core.list_namespaced_event(namespace).items
            if e.involved_object.name == pod.metadata.name
        }
        return reasons if {"Scheduled", "Started"} <= reasons else None

    harness.wait_for("the pod's Scheduled and Started events", pod_event_reasons, timeout=10)


def test_failing_job_respects_backoff_limit(cluster: harness.Cluster, namespace: str) -> None:
    cluster.batch.create_namespaced_job(
        namespace,
        manifests.job("fails", manifests.container("raise SystemExit(3)"), backoff_limit=1),
    )

    job = cluster.wait_job_condition(namespace, "fails", "Failed", timeout=90)

    assert [c.reason for c in job.status.conditions if c.type == "Failed"] == [
        "BackoffLimitExceeded"
    ]
    assert job.status.failed == 2
    pods = cluster.job_pods(namespace, "fails")
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Failed"
        assert pod.status.container_statuses[0].state.terminated.exit_code == 3


def test_on_failure_restarts_the_container_in_place(
    cluster: harness.Cluster, namespace: str
) -> None:
    # The first run leaves a mark in the emptyDir and fails; the restart succeeds.
    script = (
        "import os, sys\n"
        "if not os.path.exists('/scratch/ran'):\n"
        "    open('/scratch/ran', 'w').close(); sys.exit(1)\n"
    )
    cluster.batch.create_namespaced_job(
        namespace,
        manifests.job(
            "retry",
            manifests.container(
                script, volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}]
            ),
            restart_policy="OnFailure",
            backoff_limit=3,
            pod_spec={"volumes": [{"name": "scratch", "emptyDir": {}}]},
        ),
    )

    cluster.wait_job_condition(namespace, "retry", "Complete")

    [pod] = cluster.job_pods(namespace, "retry")
    status = pod.status.container_statuses[0]
    assert status.restart_count == 1
    assert status.last_state.terminated.exit_code == 1
    assert status.state.terminated.exit_code == 0


def test_job_deadline_ends_it_and_its_process(cluster: harness.Cluster, namespace: str) -> None:
    cluster.batch.create_namespaced_job(
        namespace,
        manifests.job(
            "slow",
            manifests.container("import time; time.sleep(300)"),
            activeDeadlineSeconds=4,
            pod_spec={"terminationGracePeriodSeconds": 5},
        ),
    )
    pod = harness.wait_for("the job's pod", lambda: cluster.job_pods(namespace, "slow"))[0]
    cluster.wait_pod_phase(namespace, pod.metadata.name, "Running")
    pid = (
        cluster.local.container_pid(namespace, pod.metadata.name, "main") if cluster.local else None
    )

    job = cluster.wait_job_condition(namespace, "slow", "Failed", timeout=60)

    assert [c.reason for c in job.status.conditions if c.type == "Failed"] == ["DeadlineExceeded"]
    cluster.wait_pod_gone(namespace, pod.metadata.name, timeout=30)
    if cluster.local is not None:
        assert pid is not None
        assert not cluster.local.process_alive(pid)


def test_deleting_a_job_garbage_collects_its_pods(cluster: harness.Cluster, namespace: str) -> None:
    cluster.batch.create_namespaced_job(
        namespace,
        manifests.job(
            "doomed",
            manifests.container("import time; time.sleep(300)"),
            parallelism=2,
            completions=2,
            pod_spec={"terminationGracePeriodSeconds": 2},
        ),
    )
    pods = harness.wait_for(
        "two pods",
        lambda: (lambda p: p if len(p) == 2 else None)(cluster.job_pods(namespace, "doomed")),
    )
    for pod in pods:
        cluster.wait_pod_phase(namespace, pod.metadata.name, "Running")
        assert pod.metadata.owner_references[0].kind == "Job"
    pids = (
        [cluster.local.container_pid(namespace, p.metadata.name, "main") for p in pods]
        if cluster.local
        else []
    )

    cluster.batch.delete_namespaced_job("doomed", namespace, propagation_policy="Background")

    for pod in pods:
        cluster.wait_pod_gone(namespace, pod.metadata.name, timeout=60)
    for pid in pids:
        assert pid is not None and not cluster.local.process_alive(pid)  # type: ignore[union-attr]
