"""A cache stampede on a real cluster costs one pod: identical data-provider Executions
created at once start one Job, the others wait without a pod and end from its entry."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from e2e import harness
from e2e.operator import support
from kuberun.contract import spec as contract
from tests.support.data_providers import counting_provider
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

OPTIONS = [{"label": "GCP", "value": "gcp"}]
# 50 in the issue; the shared 2-core node runs them all (each waiter costs a few status
# writes, no pod), so the test uses the full number.
STAMPEDE = 50


def create_all(cluster: harness.Cluster, ns: str, bodies: list[dict[str, Any]]) -> None:
    """Create them as nearly at once as the API server takes them (8 clients in parallel)."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: support.create(cluster, ns, b), bodies))


def statuses(cluster: harness.Cluster, ns: str) -> dict[str, dict[str, Any]]:
    listed = cluster.custom.list_namespaced_custom_object(
        contract.GROUP, contract.VERSION, ns, contract.PLURAL
    )
    return {i["metadata"]["name"]: dict(i.get("status") or {}) for i in listed["items"]}


def all_ended(cluster: harness.Cluster, ns: str, count: int, timeout: float) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        now = statuses(cluster, ns)
        done = [s for s in now.values() if s.get("phase") in support.TERMINAL]
        return now if len(done) == count else None

    return harness.wait_for(f"{count} executions ended", check, timeout=timeout, interval=0.5)


def counter_of(client: redis.Redis, key: str) -> int:
    value: bytes | None = client.get(key)  # type: ignore[assignment]
    return int(value or 0)


def provider(name: str, cloud: str = "gcp", code: str = "") -> dict[str, Any]:
    """No organization is bound to the test's namespace, so the cache scope is the
    namespace's own: no test finds another's cache entry in the session's Redis."""
    return support.execution(name, code, entrypoint="regions", parameters={"cloud": cloud})


def test_fifty_identical_at_once_start_one_job(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    redis_client: redis.Redis,
    redis_server: RedisServer,
) -> None:
    ns = kx_namespace
    counter = f"test:{ns}:computations"
    code = counting_provider(counter, seconds=4, redis_url=redis_server.url)
    names = [f"s-{i:02d}" for i in range(STAMPEDE)]
    create_all(cluster, ns, [provider(n, code=code) for n in names])

    def waiting() -> dict[str, Any] | None:
        now = statuses(cluster, ns)
        held = [s for s in now.values() if s.get("reason") == "WaitingForCache"]
        return now if len(held) == STAMPEDE - 1 else None

    seen = harness.wait_for("49 waiting for the cache", waiting, timeout=120, interval=0.2)
    # The leader is the oldest (creation second, then name): the parallel creates decide.
    (leader,) = [n for n, s in seen.items() if s.get("reason") != "WaitingForCache"]
    assert {s["message"] for s in seen.values() if s.get("reason") == "WaitingForCache"} == {
        f"waiting for {leader} to compute the same result"
    }
    ended = all_ended(cluster, ns, STAMPEDE, timeout=240)
    assert all(s["phase"] == "SUCCESS" and s["result"] == OPTIONS for s in ended.values())
    reasons = sorted(s["reason"] for s in ended.values())
    assert reasons == ["CacheHit"] * (STAMPEDE - 1) + ["Completed"]
    assert ended[leader]["reason"] == "Completed"
    assert [j.metadata.name for j in support.jobs_of(cluster, ns)] == [f"{leader}-1"]
    pods = {p.metadata.labels["kuberun.dev/execution"] for p in support.pods_of(cluster, ns)}
    assert pods <= {leader}
    assert counter_of(redis_client, counter) == 1


FAIL_FIRST = textwrap.dedent(
    """
    import time, redis
    from kuberun import data_provider

    @data_provider(name="regions", cache_ttl_seconds=300)
    def regions(cloud: str = "aws"):
        # The test's own Redis: the runner's credential reaches only its namespace's keys.
        n = redis.Redis.from_url({redis_url!r}).incr({counter!r})
        time.sleep(2)
        if n == 1:
            raise RuntimeError("backend down")
        return [{{"label": cloud.upper(), "value": cloud}}]
    """
)


def test_a_failed_winner_hands_over_to_exactly_one_waiter(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    redis_client: redis.Redis,
    redis_server: RedisServer,
) -> None:
    ns = kx_namespace
    counter = f"test:{ns}:computations"
    code = FAIL_FIRST.format(counter=counter, redis_url=redis_server.url)
    names = [f"f-{i:02d}" for i in range(10)]
    create_all(cluster, ns, [provider(n, code=code) for n in names])
    ended = all_ended(cluster, ns, len(names), timeout=240)
    (failed,) = [n for n, s in ended.items() if s["phase"] == "FAILED"]
    (took_over,) = [n for n, s in ended.items() if s.get("reason") == "Completed"]
    assert ended[took_over]["result"] == OPTIONS
    rest = [s for n, s in ended.items() if n not in (failed, took_over)]
    assert len(rest) == len(names) - 2
    assert all((s["phase"], s["reason"], s["result"]) == ("SUCCESS", "CacheHit", OPTIONS)
               for s in rest)  # fmt: skip
    jobs = sorted(j.metadata.name for j in support.jobs_of(cluster, ns))
    assert jobs == sorted([f"{failed}-1", f"{took_over}-1"])
    assert counter_of(redis_client, counter) == 2


def test_other_parameters_are_never_merged(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    redis_client: redis.Redis,
    redis_server: RedisServer,
) -> None:
    ns = kx_namespace
    counter = f"test:{ns}:computations"
    code = counting_provider(counter, seconds=2, redis_url=redis_server.url)
    # Another organization is another namespace (the platform binds one to each), whose
    # cache scope differs by construction; unit tests (test_stampede) cover the key.
    groups = {"gcp": "gcp", "aws": "aws", "azure": "azure"}
    bodies = [
        provider(f"{group}-{i}", cloud=cloud, code=code)
        for group, cloud in groups.items()
        for i in range(2)
    ]
    create_all(cluster, ns, bodies)
    ended = all_ended(cluster, ns, len(bodies), timeout=180)
    assert all(s["phase"] == "SUCCESS" for s in ended.values()), ended
    for group, cloud in groups.items():
        pair = [ended[f"{group}-{i}"] for i in range(2)]
        assert sorted(s["reason"] for s in pair) == ["CacheHit", "Completed"]
        assert all(s["result"] == [{"label": cloud.upper(), "value": cloud}] for s in pair)
    assert len(support.jobs_of(cluster, ns)) == 3
    assert counter_of(redis_client, counter) == 3


def test_a_winner_whose_pod_dies_hands_over_to_one_waiter(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    redis_client: redis.Redis,
    redis_server: RedisServer,
) -> None:
    ns = kx_namespace
    counter = f"test:{ns}:computations"
    code = counting_provider(counter, seconds=15, redis_url=redis_server.url)
    names = [f"k-{i}" for i in range(5)]
    create_all(cluster, ns, [provider(n, code=code) for n in names])

    def computing() -> Any:
        running = [p for p in support.pods_of(cluster, ns) if p.status.phase == "Running"]
        return running[0] if running and counter_of(redis_client, counter) == 1 else None

    pod = harness.wait_for("the winner computing", computing, timeout=120, interval=0.2)
    winner = pod.metadata.labels["kuberun.dev/execution"]
    cluster.core.delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
    # The next leader computes (after the dead runner's cache lock is released or expires).
    ended = all_ended(cluster, ns, len(names), timeout=300)
    # A pod deleted under the runner ends its attempt (SIGTERM: the runner reports
    # CANCELLED/"terminated"; SIGKILL: FAILED/RunnerDied) — never with an entry.
    assert ended[winner]["phase"] in ("CANCELLED", "FAILED"), ended[winner]
    (took_over,) = [n for n, s in ended.items() if s.get("reason") == "Completed"]
    rest = [s for n, s in ended.items() if n not in (winner, took_over)]
    assert [s["reason"] for s in rest] == ["CacheHit"] * (len(names) - 2)
    jobs = sorted(j.metadata.name for j in support.jobs_of(cluster, ns))
    assert jobs == sorted([f"{winner}-1", f"{took_over}-1"])
    assert counter_of(redis_client, counter) == 2
