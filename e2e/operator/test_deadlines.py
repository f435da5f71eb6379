"""The hard deadline counts the code's run time, not the time its pod waited to start."""

from __future__ import annotations

import time

import pytest

from e2e import harness
from e2e.operator import support

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

WAIT = 30


def test_a_pod_that_waits_to_start_still_runs_its_full_timeout(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = kx_namespace
    label = f"kuberun.dev/ready-{ns.rsplit('-', 1)[-1]}"
    # Nine and a half seconds of a ten-second timeout, after thirty seconds unschedulable:
    # a deadline counted from the Job's creation would have stopped it long before.
    code = "import time\ntime.sleep(9.5)\nresult = 'ran to the end'"
    support.create(
        cluster,
        ns,
        support.execution(
            "late",
            code,
            timeoutSeconds=10,
            gracePeriodSeconds=2,
            placement={"nodeSelector": {label: "yes"}},
        ),
    )
    [node] = cluster.core.list_node().items[:1]
    try:
        time.sleep(WAIT)
        assert support.status(cluster, ns, "late")["phase"] == "PENDING"
        cluster.core.patch_node(node.metadata.name, {"metadata": {"labels": {label: "yes"}}})

        final = support.wait_phase(cluster, ns, "late", timeout=60)
    finally:
        cluster.core.patch_node(node.metadata.name, {"metadata": {"labels": {label: None}}})

    assert (final["phase"], final["result"]) == ("SUCCESS", "ran to the end"), final
    [pod] = support.pods_of(cluster, ns)
    job = cluster.batch.read_namespaced_job(pod.metadata.labels["job-name"], ns)
    run_deadline = 10 + 2 + 5
    assert pod.spec.active_deadline_seconds is not None
    assert run_deadline <= pod.spec.active_deadline_seconds < WAIT + run_deadline + 10
    assert job.spec.active_deadline_seconds > WAIT + run_deadline  # only a backstop
