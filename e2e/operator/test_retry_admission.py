"""Retries (a new Job per attempt, one log stream) and admission limits with queue order."""

from __future__ import annotations

import datetime

import pytest

from e2e import harness
from e2e.operator import support

SAME_ROUND_SECONDS = 0.1
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

FLAKY = """
import json, os
attempt = json.load(open(os.environ["KUBERUN_REQUEST_FILE"]))["identity"]["attempt"]
print("attempt", attempt)
if attempt < 2:
    raise RuntimeError("flaky dependency")
result = {"attempt": attempt}
"""


@pytest.fixture
def operator_env() -> dict[str, str]:
    return {"KUBERUN_MAX_RUNNING": "2"}


def test_retry_succeeds_on_attempt_two(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, redis_client
) -> None:
    ns = kx_namespace
    created = support.create(
        cluster, ns, support.execution("flaky", FLAKY, retry={"limit": 2, "backoffSeconds": 1})
    )

    status = support.wait_phase(cluster, ns, "flaky", "SUCCESS", timeout=60)

    assert status["attempt"] == 2 and status["result"] == {"attempt": 2}
    assert [(a["attempt"], a["phase"]) for a in status["attempts"]] == [
        (1, "FAILED"),
        (2, "SUCCESS"),
    ]
    assert sorted(j.metadata.name for j in support.jobs_of(cluster, ns)) == ["flaky-1", "flaky-2"]
    records = support.stream_messages(redis_client, ns, created["metadata"]["uid"])
    ids = [i for i, _ in records]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))  # one order
    assert any(f["source"] == "engine" and "retrying" in f["msg"] for _, f in records)
    assert "2-0" in ids  # "starting attempt 2" precedes the second runner's lines


def test_six_executions_limit_two_never_more_than_two_pods_and_start_in_order(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    names = [f"batch-{i}" for i in range(6)]
    with support.PodPeak(cluster, ns) as pods:
        for name in names:  # same second → the name breaks the tie: name order = age order
            support.create(cluster, ns, support.execution(name, "import time\ntime.sleep(1.5)"))
        position = harness.wait_for(
            "batch-5 queued with a position",
            lambda: support.status(cluster, ns, "batch-5").get("queuePosition"),
            timeout=10,
            interval=0.05,
        )
        finals = [support.wait_phase(cluster, ns, n, "SUCCESS", timeout=90) for n in names]

    assert 1 <= position <= 4, position
    assert pods.peak <= 2, pods.peak
    # In order: none admitted before an older one. Two admitted in the same round (two
    # slots freed together) are stamped by passes that run at once, so within a round
    # their times may differ by a millisecond either way.
    admitted = [datetime.datetime.fromisoformat(s["admittedAt"]).timestamp() for s in finals]
    for i, at in enumerate(admitted):
        assert all(at >= before - SAME_ROUND_SECONDS for before in admitted[:i]), admitted


def test_higher_priority_starts_first(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    support.create(cluster, ns, support.execution("short", "import time\ntime.sleep(2)"))
    support.create(cluster, ns, support.execution("long", "import time\ntime.sleep(6)"))
    support.wait_phase(cluster, ns, "long", "RUNNING", timeout=30)
    support.create(cluster, ns, support.execution("low", "pass"))
    support.create(cluster, ns, support.execution("high", "pass", priority=10))

    high = support.wait_phase(cluster, ns, "high", "SUCCESS", timeout=60)
    low = support.wait_phase(cluster, ns, "low", "SUCCESS", timeout=60)

    assert high["admittedAt"] < low["admittedAt"]
