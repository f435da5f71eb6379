"""The runner and the operator on a real 3-master Redis Cluster (`redis+cluster://`):
log streams in order, results, the shared cache's one-computation guarantee, the
operator's Redis calls, and a namespace's ACL user applied on every node."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from kuberun.contract import keys, redisurl
from kuberun.contract.caller import Organization
from kuberun.contract.phases import Phase
from kuberun.contract.request import RunRequest
from kuberun_operator import reconciling, redisio, redisusers, tenancy
from tests.integration.runtime import runner
from tests.support.data_providers import counting_provider
from tests.support.redis_cluster import RedisClusterServer, running_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServer]:
    with running_cluster() as server:
        yield server


@pytest.fixture
def client(cluster: RedisClusterServer) -> Iterator[RedisCluster]:
    c = cluster.client()
    c.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield c
    c.close()


def provider_request(counter: Path, uid: str) -> RunRequest:
    req = runner.make_request(
        inline=counting_provider(counter, seconds=1.0, ttl=60),
        entrypoint="regions",
        parameters={"cloud": "gcp"},
    )
    return req.model_copy(
        update={
            "organization": Organization(id="acme"),
            "identity": req.identity.model_copy(update={"uid": uid}),
        }
    )


def test_keys_of_one_execution_and_of_one_cache_entry_share_a_slot() -> None:
    uid = "u" * 32
    execution = {
        key_slot(k.encode())
        for k in (keys.logs_stream("ns", uid), keys.result("ns", uid, 1), keys.cancel("ns", uid))
    }
    cache = {
        key_slot(k.encode())
        for k in (
            keys.cache_entry("acme", "regions", {"a": 1}),
            keys.cache_lock("acme", "regions", {"a": 1}),
        )
    }
    assert len(execution) == 1 and len(cache) == 1


def test_streams_and_results_on_the_cluster(
    tmp_path: Path, cluster: RedisClusterServer, client: RedisCluster
) -> None:
    source = textwrap.dedent(
        """
        import logging
        for i in range(500):
            print(f"line {i}")
            logging.getLogger("script").info("log %d", i)
        result = "done"
        """
    )
    runs = []
    for n in range(6):  # different uids land on different masters
        req = runner.make_request(inline=source)
        runs.append((req, runner.start(tmp_path / f"r{n}", req, redis_url=cluster.url)))
    slots = set()
    for req, started in runs:
        finished = started.wait(60)
        assert finished.code == 0, finished.stderr
        got = runner.messages(client, req)  # type: ignore[arg-type]
        lines = [m for m in got if m.startswith(("line ", "log "))]
        expected = [x for i in range(500) for x in (f"line {i}", f"log {i}")]
        assert lines == expected
        assert runner.result(client, req).status is Phase.SUCCESS  # type: ignore[arg-type]
        slots.add(key_slot(keys.logs_stream(req.identity.namespace, req.identity.uid).encode()))
    nodes = {client.nodes_manager.get_node_from_slot(s).name for s in slots}
    assert len(nodes) >= 2, "the executions were spread over the masters"


def test_concurrent_cache_misses_compute_once_on_the_cluster(
    tmp_path: Path, cluster: RedisClusterServer, client: RedisCluster
) -> None:
    counter = tmp_path / "counter"
    started = [
        runner.start(
            tmp_path / f"p{i}", provider_request(counter, f"{i:032d}"), redis_url=cluster.url
        )
        for i in range(4)
    ]
    finished = [s.wait(60) for s in started]
    assert [f.code for f in finished] == [0] * 4, [f.stderr for f in finished]
    assert len(counter.read_text().splitlines()) == 1
    hits = sorted(bool(runner.result(client, s.request).cache_hit) for s in started)  # type: ignore[arg-type]
    assert hits == [False, True, True, True]


def test_the_operator_redis_calls_on_the_cluster(
    cluster: RedisClusterServer, client: RedisCluster
) -> None:
    async def exercise() -> None:
        io = redisio.RedisIO(cluster.url, 2.0)
        try:
            uid = "c" * 32
            assert await io.set_cancel("team-a", uid, "user asked")
            record = reconciling.EngineRecord(
                at=reconciling.RecordAt.QUEUED, attempt=1, kind="queued", message="queued"
            )
            assert await io.engine_record("team-a", uid, record, 1.0)
            client.set(keys.cache_entry("acme", "regions", {}), "[1]")
            cached = await io.read_cache(keys.cache_entry("acme", "regions", {}))
            assert cached is not None and cached.value == [1]
            assert await io.read_result("team-a", uid, 1) == (None, True)
        finally:
            await io.close()

    asyncio.run(exercise())
    assert client.get(keys.cancel("team-a", "c" * 32)) == b"user asked"
    assert client.xlen(keys.logs_stream("team-a", "c" * 32)) == 1


def test_a_namespace_user_on_every_node_runs_a_provider_and_reaches_no_other_tenant(
    tmp_path: Path, cluster: RedisClusterServer, client: RedisCluster
) -> None:
    bound = tenancy.Binding("team-a", Organization(id="acme"))

    async def apply() -> None:
        admin = redisio.connect(cluster.url, 2.0)
        try:
            await redisusers.apply_user(admin, bound, "pw-a")
        finally:
            await admin.aclose()

    asyncio.run(apply())
    for node in cluster.nodes():
        assert node.acl_getuser("kuberun-ns-team-a") is not None
    url = redisurl.with_credentials(cluster.url, "kuberun-ns-team-a", "pw-a")
    req = provider_request(tmp_path / "counter", "d" * 32)
    finished = runner.run(tmp_path / "tenant", req, redis_url=url)
    assert finished.code == 0, finished.stderr
    assert runner.result(client, req).status is Phase.SUCCESS  # type: ignore[arg-type]
    assert client.get(keys.cache_entry("acme", "regions", {"cloud": "gcp"})) is not None

    tenant = RedisCluster.from_url(redisurl.parse(url).url)  # type: ignore[no-untyped-call]
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            tenant.get(keys.result("team-b", "e" * 32, 1))
        with pytest.raises(redis.exceptions.NoPermissionError):
            tenant.get(keys.cache_entry("globex", "regions", {}))
    finally:
        tenant.close()


def test_a_cluster_away_when_the_runner_starts_is_an_outage_not_a_crash(tmp_path: Path) -> None:
    from tests.support.redis_cluster import cluster_port

    req = runner.make_request(inline="print('alone')\nresult = 7\n", grace=1)
    finished = runner.run(
        tmp_path, req, redis_url=f"redis+cluster://127.0.0.1:{cluster_port()}/0", timeout=60
    )
    assert finished.code == 0, finished.stderr  # the code ran; only its logs suffered
    assert finished.summary is not None and finished.summary.status is Phase.SUCCESS
    assert finished.summary.dropped > 0
    assert "alone" in finished.stdout


def test_users_are_restored_on_every_node(cluster: RedisClusterServer) -> None:
    bound = tenancy.Binding("team-c", Organization(id="acme"))

    async def restore() -> tuple[list[str], set[str]]:
        admin = redisio.connect(cluster.url, 2.0)
        try:
            restored = await redisusers.restore_users(admin, {"team-c": (bound, "pw-c")})
            return restored, await redisusers.existing_users(admin)
        finally:
            await admin.aclose()

    cluster.nodes()[1].acl_deluser("kuberun-ns-team-c")  # one node forgot it (or never had it)
    restored, present = asyncio.run(restore())
    assert restored == ["team-c"] and "kuberun-ns-team-c" in present
    assert all(n.acl_getuser("kuberun-ns-team-c") is not None for n in cluster.nodes())
    assert asyncio.run(restore())[0] == []  # known everywhere now: nothing to do
