"""The shared data-provider cache on a real cluster: concurrent executions compute
once (in one pod: see test_stampede.py), and a later one is answered from the cache
without a pod."""

from __future__ import annotations

import pytest
import redis

from e2e import harness
from e2e.operator import support
from tests.support.data_providers import counting_provider
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_concurrent_misses_compute_once_then_a_hit_needs_no_pod(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    redis_client: redis.Redis,
    redis_server: RedisServer,
) -> None:
    ns = kx_namespace
    # The cache is the organization's: the platform binds it to the namespace.
    support.bind_organization(cluster, ns, "acme")
    counter = f"test:{ns}:computations"
    code = counting_provider(counter, seconds=2, redis_url=redis_server.url)

    def computed() -> int:
        value: bytes | None = redis_client.get(counter)  # type: ignore[assignment]
        return int(value or 0)

    names = ["first-a", "first-b", "first-c"]
    for name in names:
        support.create(
            cluster,
            ns,
            support.execution(
                name, code, entrypoint="regions", parameters={"cloud": "gcp"}, organization="acme"
            ),
        )
    ended = [support.wait_phase(cluster, ns, name, "SUCCESS", timeout=90) for name in names]
    assert all(s["result"] == [{"label": "GCP", "value": "gcp"}] for s in ended)
    assert computed() == 1
    assert sorted(s["cache"]["hit"] for s in ended) == [False, True, True]
    jobs_before = {j.metadata.name for j in support.jobs_of(cluster, ns)}
    assert jobs_before == {"first-a-1"}  # the others waited for its entry (`stampede`)

    support.create(
        cluster,
        ns,
        support.execution(
            "later", code, entrypoint="regions", parameters={"cloud": "gcp"}, organization="acme"
        ),
    )
    later = support.wait_phase(cluster, ns, "later", "SUCCESS")
    assert (later["reason"], later["cache"]["hit"]) == ("CacheHit", True)
    assert later["result"] == [{"label": "GCP", "value": "gcp"}]
    assert {j.metadata.name for j in support.jobs_of(cluster, ns)} == jobs_before  # no new Job
    assert computed() == 1

    support.create(
        cluster,
        ns,
        support.execution(
            "refresh",
            code,
            entrypoint="regions",
            parameters={"cloud": "gcp"},
            organization="acme",
            cache={"bypass": True},
        ),
    )
    refreshed = support.wait_phase(cluster, ns, "refresh", "SUCCESS", timeout=90)
    assert refreshed["reason"] == "Completed" and refreshed["cache"]["hit"] is False
    assert computed() == 2
