"""Crashes and outages: operator SIGKILLed mid-flight, Redis gone, memory exhausted."""

from __future__ import annotations

import collections
import time

import pytest

from e2e import harness
from e2e.operator import support
from tests.support.redis_server import running_redis

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"KUBERUN_MAX_RUNNING": "8"}


def test_sigkill_with_twenty_in_flight_every_execution_ends_once_and_right(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    expected: dict[str, str] = {}
    for i in range(20):
        name = f"flight-{i:02d}"
        if i % 5 == 4:
            code, want = "raise ValueError('planned failure')", "FAILED"
        elif i % 5 == 3:
            code, want = "import time\ntime.sleep(60)", "CANCELLED"
        else:
            code, want = f"import time\ntime.sleep({0.5 + (i % 3)})\nresult = {i}", "SUCCESS"
        expected[name] = want
        support.create(cluster, ns, support.execution(name, code, gracePeriodSeconds=2))
    peak = support.PodPeak(cluster, ns).__enter__()
    harness.wait_for(
        "some running, some queued",
        lambda: any(support.status(cluster, ns, n).get("phase") == "RUNNING" for n in expected),
        timeout=30,
    )
    operator.kill()
    # While it is down: cancellations arrive (level-triggered, must not be lost).
    for name, want in expected.items():
        if want == "CANCELLED":
            support.patch_spec(cluster, ns, name, cancel=True)
    time.sleep(2)
    operator.start()

    finals = {
        name: support.wait_phase(cluster, ns, name, want, timeout=120)
        for name, want in expected.items()
    }

    peak.__exit__()
    assert {n: s["phase"] for n, s in finals.items()} == expected
    assert peak.peak <= 8, f"admission limit 8 broken across the restart: {peak.peak} pods"
    assert operator.ready()
    jobs = support.jobs_of(cluster, ns)
    per_execution = collections.Counter(j.metadata.labels["kuberun.dev/execution"] for j in jobs)
    assert all(count == 1 for count in per_execution.values()), per_execution
    started = {n for n, s in finals.items() if s["attempt"] >= 1}
    # A cancel the runner did not finish within its grace (on 2 busy cores) ends with
    # the operator deleting its Job; every other started execution keeps its one Job.
    ran_to_the_end = {n for n in started if expected[n] != "CANCELLED"}
    assert ran_to_the_end <= set(per_execution) <= started
    for name, final in finals.items():
        if expected[name] == "SUCCESS":
            assert final["result"] == int(name.split("-")[1])
    pods_per_job = collections.Counter(
        p.metadata.labels["kuberun.dev/execution"] for p in support.pods_of(cluster, ns)
    )
    assert all(count == 1 for count in pods_per_job.values()), pods_per_job


FLAKY = """
import json, os, time
attempt = json.load(open(os.environ["KUBERUN_REQUEST_FILE"]))["identity"]["attempt"]
time.sleep(0.5)
if attempt < 2:
    raise RuntimeError("first attempt fails")
result = attempt
"""


def test_killed_again_and_again_retries_and_records_stay_exact(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, redis_client
) -> None:
    ns = kx_namespace
    uids = {}
    for i in range(10):
        body = support.execution(f"retry-{i}", FLAKY, retry={"limit": 2, "backoffSeconds": 1})
        uids[f"retry-{i}"] = support.create(cluster, ns, body)["metadata"]["uid"]
    for pause in (0.3, 1.2, 0.7, 2.0):  # kills land in different phases of the executions
        time.sleep(pause)
        operator.kill()
        operator.start()

    finals = {n: support.wait_phase(cluster, ns, n, "SUCCESS", timeout=120) for n in uids}

    assert all(s["attempt"] == 2 and s["result"] == 2 for s in finals.values()), finals
    assert all(
        [a["phase"] for a in s["attempts"]] == ["FAILED", "SUCCESS"] for s in finals.values()
    )
    jobs = collections.Counter(
        j.metadata.labels["kuberun.dev/execution"] for j in support.jobs_of(cluster, ns)
    )
    assert jobs == dict.fromkeys(uids, 2), jobs
    for name, uid in uids.items():
        engine = [
            f["msg"]
            for _, f in support.stream_messages(redis_client, ns, uid)
            if f["source"] == "engine" and f.get("logger") == "kuberun.operator"
        ]
        assert len(engine) == len(set(engine)), f"{name}: duplicated engine records {engine}"
        assert sum(m.startswith("starting attempt") for m in engine) == 2, engine


def test_redis_down_outcome_comes_from_the_termination_message(
    cluster: harness.Cluster,
    kx_namespace: str,
    service_host: str,
    tmp_path,
) -> None:
    ns = kx_namespace
    with running_redis(service_host) as private:
        cluster.core.patch_namespaced_secret(
            "kuberun-redis", ns, {"stringData": {"url": private.url}}
        )
        op = support.operator_for(cluster, ns, private.url, tmp_path / "operator.log").start()
        try:
            code = "import time\nprint('before')\ntime.sleep(3)\nresult = {'ok': True}"
            support.create(cluster, ns, support.execution("no-redis", code))
            support.wait_phase(cluster, ns, "no-redis", "RUNNING", timeout=30)
            private.stop()

            status = support.wait_phase(cluster, ns, "no-redis", "SUCCESS", timeout=60)

            assert status["reason"] == "Completed"
            assert status["resultAvailable"] is False
            assert status.get("result") is None
        finally:
            op.stop()
            support.release_finalizers(cluster, ns)


@pytest.mark.local_node
def test_memory_hog_is_oom_killed(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n"
    support.create(
        cluster,
        kx_namespace,
        support.execution("hog", code, resources={"limits": {"memory": "128Mi"}}),
    )

    status = support.wait_phase(cluster, kx_namespace, "hog", "FAILED", timeout=60)

    assert status["reason"] == "OOMKilled"
    assert status["error"]["type"] == "OOMKilled"
