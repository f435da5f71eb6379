"""A standby replica (kopf peering) takes over when the active operator dies."""

from __future__ import annotations

import pathlib

import pytest

from e2e import harness
from e2e.operator import support
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PEERING_CRDS = support.REPO / "crds" / "kopf-peering.yaml"
LIFETIME = 6


def test_standby_takes_over_after_the_active_replica_is_killed(
    cluster: harness.Cluster,
    kx_namespace: str,
    redis_server: RedisServer,
    tmp_path: pathlib.Path,
) -> None:
    ns = kx_namespace
    cluster.kubectl("apply", "-f", str(PEERING_CRDS))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s"
    )
    cluster.kubectl(
        "-n",
        ns,
        "apply",
        "-f",
        "-",
        input="apiVersion: kopf.dev/v1\nkind: KopfPeering\nmetadata: {name: kuberun}\n",
    )

    def replica(name: str, priority: int) -> support.ProcessOperator:
        return support.ProcessOperator(
            cluster=cluster,
            namespace=ns,
            redis_url=redis_server.url,
            log_path=tmp_path / f"{name}.log",
            env={
                "KUBERUN_PEERING": "kuberun",
                "KUBERUN_PRIORITY": str(priority),
                "KUBERUN_PEERING_LIFETIME_SECONDS": str(LIFETIME),
            },
        ).start()

    active, standby = replica("active", 100), replica("standby", 10)
    try:
        support.create(cluster, ns, support.execution("before", "result = 1"))
        support.wait_phase(cluster, ns, "before", "SUCCESS", timeout=60)
        assert "before" in active.logs() and "before" not in standby.logs()

        active.kill()
        support.create(cluster, ns, support.execution("after", "result = 2"))

        status = support.wait_phase(cluster, ns, "after", "SUCCESS", timeout=LIFETIME * 6)
        assert status["result"] == 2
        assert "after" in standby.logs()
    finally:
        standby.stop()
        active.stop()
        support.release_finalizers(cluster, ns)
