"""Cancellation by `spec.cancel`: cooperative first, the pod deleted after the grace period."""

from __future__ import annotations

import time
from typing import Any

import pytest

from e2e import harness
from e2e.operator import support

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def cancel_and_time(cluster: harness.Cluster, ns: str, name: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    support.patch_spec(cluster, ns, name, cancel=True)
    status = support.wait_phase(cluster, ns, name, "CANCELLED", timeout=30, interval=0.02)
    took = time.monotonic() - started
    print(f"{name}: cancelled in {took:.2f}s")
    return status, took


def test_async_code_is_stopped_within_a_second(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, redis_client
) -> None:
    code = "import asyncio\nprint('waiting')\nawait asyncio.sleep(3600)"
    created = support.create(cluster, kx_namespace, support.execution("waiter", code))
    support.wait_phase(cluster, kx_namespace, "waiter", "RUNNING", timeout=30)
    time.sleep(0.5)  # let the runner reach its await

    asked_at = time.time()
    status, took = cancel_and_time(cluster, kx_namespace, "waiter")

    records = support.stream_messages(redis_client, kx_namespace, created["metadata"]["uid"])
    runner = [f for _, f in records if f.get("logger") != "kuberun.operator"]
    # The code stops within a second: the runner's last line is written by then (the
    # pod shares this machine's clock). The status follows once the kubelet reports
    # the container's end, which its 1 s PLEG relist can delay by up to a second more.
    stopped = float(runner[-1]["ts"]) - asked_at
    assert stopped < 1.0, f"the runner stopped {stopped:.2f}s after the cancel"
    assert took < 2.0, f"CANCELLED after {took:.2f}s"
    assert status["reason"] == "Cancelled"
    assert status["cancelRequestedAt"]
    assert records[-1][1]["source"] == "engine" and "cancelled" in records[-1][1]["msg"]


@pytest.mark.local_node
def test_cpu_loop_that_never_checks_is_stopped_after_the_grace_period(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns, grace = kx_namespace, 3
    # Ignores the interrupt signals the runner uses: only the pod deletion can stop it.
    code = (
        "import signal\n"
        "for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "n = 0\n"
        "while True:\n"
        "    n += 1\n"
    )
    support.create(cluster, ns, support.execution("spinner", code, gracePeriodSeconds=grace))
    support.wait_phase(cluster, ns, "spinner", "RUNNING", timeout=30)
    [pod] = support.pods_of(cluster, ns)
    local = cluster.local
    assert local is not None
    pid = harness.wait_for(
        "runner pid", lambda: local.container_pid(ns, pod.metadata.name, "runner")
    )
    time.sleep(0.5)

    status, took = cancel_and_time(cluster, ns, "spinner")

    assert took < grace + 2, f"took {took:.2f}s"
    assert status["phase"] == "CANCELLED"
    harness.wait_for("process gone", lambda: not local.process_alive(pid), timeout=10)


def test_cancel_while_queued_ends_without_a_pod(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    support.create(cluster, ns, support.execution("first", "import time\ntime.sleep(30)"))
    support.wait_phase(cluster, ns, "first", "RUNNING", timeout=30)
    support.create(cluster, ns, support.execution("second", "print('never')"))
    queued = support.wait_phase(cluster, ns, "second", "PENDING")
    assert queued["reason"] == "Queued" and queued.get("queuePosition") == 1

    status, took = cancel_and_time(cluster, ns, "second")

    assert took < 2 and status["attempt"] == 0
    assert [j.metadata.name for j in support.jobs_of(cluster, ns)] == ["first-1"]


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"KUBERUN_MAX_RUNNING": "1"}


def test_deleting_an_execution_stops_its_pod(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    support.create(cluster, ns, support.execution("doomed", "import time\ntime.sleep(600)"))
    support.wait_phase(cluster, ns, "doomed", "RUNNING", timeout=30)
    [pod] = support.pods_of(cluster, ns)

    cluster.kubectl("-n", ns, "delete", "execution", "doomed", "--wait=true", "--timeout=30s")

    cluster.wait_pod_gone(ns, pod.metadata.name, timeout=30)
    harness.wait_for("jobs gone", lambda: not support.jobs_of(cluster, ns), timeout=30)
