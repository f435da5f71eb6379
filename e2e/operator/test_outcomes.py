"""Every outcome an execution can have, on the real API server with real runner pods."""

from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest

from e2e import harness
from e2e.operator import support
from kuberun.contract import keys

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_success_with_result_logs_and_kubectl_wait(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, redis_client
) -> None:
    ns = kx_namespace
    code = "print('computing'); result = {'total': 6 * 7}"
    created = support.create(cluster, ns, support.execution("answer", code, parameters={"n": 1}))

    cluster.kubectl(
        "-n", ns, "wait", "--for=condition=Finished", "execution/answer", "--timeout=60s"
    )
    status = support.status(cluster, ns, "answer")

    assert (status["phase"], status["reason"]) == ("SUCCESS", "Completed")
    assert status["result"] == {"total": 42}
    assert status["resultAvailable"] is True
    assert status["attempt"] == 1 and status["attempts"][0]["exitCode"] == 0
    assert status["logs"]["complete"] is True and status["logs"]["lastSequence"] >= 1
    assert status["completionTime"] and status["startTime"] and status["duration"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Finished"] == "True" and conditions["Succeeded"] == "True"
    table = cluster.kubectl("-n", ns, "get", "kx", "answer").stdout
    assert "SUCCESS" in table and "Completed" in table
    messages = support.stream_messages(redis_client, ns, created["metadata"]["uid"])
    ids = [i for i, _ in messages]
    assert ids[:2] == ["0-1", "1-0"], ids  # queued, starting: before the runner's lines
    assert any(f["msg"] == "computing" for _, f in messages)
    counted = f'kuberun_executions_total{{namespace="{ns}",phase="SUCCESS",reason="Completed"}} 1.0'

    def counted_metrics() -> str | None:
        text = operator.metrics()
        return text if counted in text else None

    try:
        metrics = harness.wait_for("the metric", counted_metrics, timeout=5)
    except harness.WaitTimeout:
        raise AssertionError(operator.metrics() + operator.logs()) from None
    assert "kuberun_running_executions" in metrics and "kuberun_queue_length" in metrics
    job = support.jobs_of(cluster, ns)[0]
    assert job.spec.backoff_limit == 0 and job.metadata.owner_references[0].kind == "Execution"


def test_completed_with_errors(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    code = "result = {'success': False, 'errors': ['row 3 rejected']}"
    support.create(cluster, kx_namespace, support.execution("partial", code))

    status = support.wait_phase(cluster, kx_namespace, "partial", "COMPLETED_WITH_ERRORS")

    assert status["reason"] == "CompletedWithErrors"
    assert status["result"]["errors"] == ["row 3 rejected"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Succeeded"] == "False"


def test_user_error_fails_with_its_message(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    code = textwrap.dedent(
        """
        from kuberun.sdk.errors import UserError
        raise UserError("amount must be positive")
        """
    )
    support.create(cluster, kx_namespace, support.execution("bad-input", code))

    status = support.wait_phase(cluster, kx_namespace, "bad-input", "FAILED")

    assert status["reason"] == "UserError"
    assert status["error"]["type"] == "UserError"
    assert "amount must be positive" in status["error"]["message"]


@pytest.mark.local_node
def test_timeout_stops_a_sleeping_process(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, redis_client
) -> None:
    ns = kx_namespace
    code = "import os, time\nprint('pid', os.getpid())\ntime.sleep(3600)"
    created = support.create(
        cluster, ns, support.execution("sleepy", code, timeoutSeconds=5, gracePeriodSeconds=2)
    )
    support.wait_phase(cluster, ns, "sleepy", "RUNNING", timeout=30)
    [pod] = support.pods_of(cluster, ns)
    local = cluster.local
    assert local is not None
    pid = harness.wait_for(
        "runner pid", lambda: local.container_pid(ns, pod.metadata.name, "runner")
    )
    started = time.monotonic()

    status = support.wait_phase(cluster, ns, "sleepy", "TIMED_OUT", timeout=40)

    assert time.monotonic() - started < 5 + 2 + 5 + 5
    assert status["reason"] == "DeadlineExceeded"
    harness.wait_for("runner process gone", lambda: not local.process_alive(pid), timeout=10)
    records = support.stream_messages(redis_client, ns, created["metadata"]["uid"])
    assert any(f["source"] == "engine" and "timed out" in f["msg"] for _, f in records)


def test_image_that_cannot_be_pulled_fails(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator_env: dict[str, str],
    operator: support.Operator,
) -> None:
    support.create(
        cluster, kx_namespace, support.execution("no-image", "print(1)", image="nosuch/image:1")
    )

    status = support.wait_phase(cluster, kx_namespace, "no-image", "FAILED", timeout=60)

    assert status["reason"] == "ImagePullFailed"
    assert "ErrImagePull" in status["message"] or "ImagePull" in status["message"]


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"KUBERUN_IMAGE_PULL_DEADLINE_SECONDS": "3"}


def test_invalid_manifest_is_rejected_with_a_readable_reason(
    cluster: harness.Cluster, kx_namespace: str
) -> None:
    manifest = textwrap.dedent(
        f"""
        apiVersion: kuberun.dev/v1alpha1
        kind: Execution
        metadata: {{name: two-sources, namespace: {kx_namespace}}}
        spec:
          source: {{inline: "print(1)", path: /workspace/flow.py}}
        """
    )
    result = cluster.kubectl("apply", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert "source must set exactly one of inline, configMap or path" in result.stderr

    bounded = manifest.replace(
        "path: /workspace/flow.py}", "}\n  timeoutSeconds: 0\n  retry: {limit: 99}"
    )
    result = cluster.kubectl("apply", "-f", "-", input=bounded, check=False)
    assert result.returncode != 0
    assert "spec.timeoutSeconds" in result.stderr and "spec.retry.limit" in result.stderr


def test_large_result_is_referenced_not_inlined(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, redis_client
) -> None:
    created = support.create(
        cluster, kx_namespace, support.execution("big", "result = 'x' * 100_000")
    )
    status = support.wait_phase(cluster, kx_namespace, "big", "SUCCESS")
    assert "result" not in status or status["result"] is None
    key = status["resultRef"]["redisKey"]
    assert key == keys.result(kx_namespace, created["metadata"]["uid"], 1)
    assert redis_client.exists(key)


def test_recreated_execution_of_the_same_name_runs_its_own_code(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    support.create(cluster, ns, support.execution("again", "result = 'first'"))
    support.wait_phase(cluster, ns, "again", "SUCCESS")
    cluster.kubectl("-n", ns, "delete", "kx", "again", "--wait=true")
    # The old Job and request Secret may still be being collected: same names, not ours.
    support.create(cluster, ns, support.execution("again", "result = 'second'"))

    status = support.wait_phase(cluster, ns, "again", "SUCCESS", timeout=90)

    assert status["result"] == "second"
    account = cluster.core.read_namespaced_service_account("kuberun-runner", ns)
    assert account.automount_service_account_token is False


@pytest.mark.local_node
def test_runner_killed_without_a_verdict_fails(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    # The runner is its container's PID 1, which ignores a SIGKILL sent from inside
    # its own PID namespace: the kill comes from the host, as the OOM killer's would.
    code = "import time\nprint('bye')\ntime.sleep(600)"
    support.create(cluster, kx_namespace, support.execution("dies", code))
    support.wait_phase(cluster, kx_namespace, "dies", "RUNNING", timeout=30)
    [pod] = support.pods_of(cluster, kx_namespace)
    assert cluster.local is not None
    pid = harness.wait_container_pid(cluster.local, kx_namespace, pod.metadata.name, "runner")
    os.kill(pid[0], signal.SIGKILL)

    status = support.wait_phase(cluster, kx_namespace, "dies", "FAILED")

    assert status["reason"] == "RunnerKilled", status
    assert status["attempts"][0]["exitCode"] == 137
    assert "signal 9" in status["message"]


@pytest.mark.local_node
def test_hung_runner_is_killed_at_the_hard_deadline(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    code = (
        "import signal, time\n"
        "for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "while True:\n"
        "    pass\n"
    )
    support.create(
        cluster, ns, support.execution("hung", code, timeoutSeconds=2, gracePeriodSeconds=1)
    )
    support.wait_phase(cluster, ns, "hung", "RUNNING", timeout=30)
    [pod] = support.pods_of(cluster, ns)
    local = cluster.local
    assert local is not None
    pid = harness.wait_for("pid", lambda: local.container_pid(ns, pod.metadata.name, "runner"))

    status = support.wait_phase(cluster, ns, "hung", "TIMED_OUT", timeout=60)

    assert status["reason"] == "DeadlineExceeded"
    # Said only once the process is gone: the kubelet stopped it, the status followed.
    assert not local.process_alive(pid)


LOCKED_DOWN = """
import os, pathlib
print("echo from the runner", os.getuid())
try:
    pathlib.Path("/probe").write_text("x")
    root_writable = True
except OSError:
    root_writable = False
pathlib.Path("/tmp/scratch").write_text("ok")
pathlib.Path(os.path.expanduser("~/.cache")).mkdir(exist_ok=True)
result = {
    "uid": os.getuid(),
    "gid": os.getgid(),
    "root_writable": root_writable,
    "token": os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"),
}
"""


def test_runner_pod_is_locked_down_and_kubectl_logs_shows_its_echo(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    support.create(cluster, kx_namespace, support.execution("locked", LOCKED_DOWN))

    status = support.wait_phase(cluster, kx_namespace, "locked", "SUCCESS", timeout=60)

    assert status["result"] == {"uid": 65532, "gid": 65532, "root_writable": False, "token": False}
    [pod] = support.pods_of(cluster, kx_namespace)
    [container] = pod.spec.containers
    assert container.security_context.read_only_root_filesystem is True
    assert not any(v.projected for v in pod.spec.volumes or [])  # no API token volume
    log = cluster.kubectl("-n", kx_namespace, "logs", pod.metadata.name).stdout
    assert "echo from the runner 65532" in log
