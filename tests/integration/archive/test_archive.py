"""The archive against a real PostgreSQL and a real Redis stream: complete and idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio

from kuberun.contract import keys, logrecord
from kuberun_operator import archiving
from kuberun_operator.backlog import Backlog, Step
from kuberun_operator.metrics import Metrics
from tests.support.postgres_server import PostgresServer, running_postgres
from tests.support.redis_server import RedisServer, running_redis


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
async def archive(postgres: PostgresServer) -> AsyncIterator[tuple[archiving.Archive, Any]]:
    pool = await asyncpg.create_pool(postgres.dsn, min_size=1, max_size=2)
    store = archiving.Archive(pool)
    await store.ensure_schema()
    await pool.execute("TRUNCATE kuberun_executions CASCADE")
    yield store, pool
    await pool.close()


def finished(uid: str) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "namespace": "ns", "name": "job"},
        "spec": {"source": {"inline": "print(1)"}},
        "status": {"phase": "SUCCESS", "reason": "Completed", "attempt": 1, "result": [1, 2]},
    }


async def test_archives_every_line_once_even_when_run_twice(
    archive: tuple[archiving.Archive, Any], redis_url: str
) -> None:
    store, pool = archive
    client = redis.asyncio.Redis.from_url(redis_url)
    stream = keys.logs_stream("ns", "u-42")
    for seq in range(1, 2501):  # more than one XRANGE page
        record = logrecord.LogRecord(sequence=seq, timestamp=1.0 + seq, message=f"line {seq}")
        await client.xadd(stream, record.to_fields(), id=record.stream_id())
    engine = logrecord.LogRecord(
        sequence=2501, timestamp=9999.0, source=logrecord.Origin.ENGINE, message="done"
    )
    await client.xadd(stream, engine.to_fields(), id=logrecord.engine_stream_id(1, 1))

    body = finished("u-42")
    assert await archiving.archive_execution(store, client, body, stream)
    assert await archiving.archive_execution(store, client, body, stream)

    rows = await pool.fetch(
        "SELECT attempt, sequence, source, message FROM kuberun_execution_logs"
        " WHERE uid = 'u-42' ORDER BY attempt, sequence"
    )
    assert len(rows) == 2501
    assert [r["sequence"] for r in rows] == [*range(1, 2501), logrecord.ENGINE_SEQUENCE_BASE + 1]
    assert rows[-1]["source"] == "engine"
    assert await store.missing(["u-42", "u-unknown"]) == {"u-unknown"}
    execution = await pool.fetchrow("SELECT phase, result FROM kuberun_executions")
    assert execution["phase"] == "SUCCESS" and execution["result"] == "[1, 2]"
    await client.aclose()


async def test_without_redis_the_execution_row_is_still_archived(
    archive: tuple[archiving.Archive, Any],
) -> None:
    store, pool = archive
    assert await archiving.archive_execution(store, None, finished("u-7"), "unused")
    assert await pool.fetchval("SELECT count(*) FROM kuberun_executions") == 1


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    with running_redis(appendonly=True) as server:
        yield server


async def test_redis_down_at_archive_time_is_retried_until_every_line_is_in(
    archive: tuple[archiving.Archive, Any], persistent_redis: RedisServer
) -> None:
    """The row first goes in without logs (marked so), the backlog retries, and once Redis
    answers again every line is archived exactly once."""
    store, pool = archive
    redis_server = persistent_redis
    client = redis.asyncio.Redis.from_url(
        redis_server.url, socket_timeout=1, socket_connect_timeout=1
    )
    stream = keys.logs_stream("ns", "u-9")
    for seq in range(1, 301):
        record = logrecord.LogRecord(sequence=seq, timestamp=1.0 + seq, message=f"line {seq}")
        await client.xadd(stream, record.to_fields(), id=record.stream_id())
    redis_server.stop()
    now = [0.0]
    metrics = Metrics()
    backlog = Backlog(metrics, clock=lambda: now[0])
    body = finished("u-9")
    tries: list[bool] = []

    async def run() -> bool:
        tries.append(await archiving.archive_execution(store, client, body, stream))
        return tries[-1]

    backlog.add("ns/job", [Step("archive", run)])
    try:
        for _ in range(3):  # Redis still down: each due try fails and backs off
            wait = await backlog.work_off()
            assert wait is not None and wait > 0
            now[0] += wait
        assert tries == [False, False, False]
        assert await pool.fetchval("SELECT logs_archived FROM kuberun_executions") is False
        assert await pool.fetchval("SELECT count(*) FROM kuberun_execution_logs") == 0
        assert await store.missing(["u-9"]) == {"u-9"}  # a restart's sweep would redo it
        assert metrics.backlog_pending._value.get() == 1
        assert metrics.backlog_retries.labels(kind="archive")._value.get() == 3
    finally:
        redis_server.start()

    assert await backlog.work_off() is None
    assert tries[-1] is True and backlog.pending == 0
    rows = await pool.fetch(
        "SELECT sequence FROM kuberun_execution_logs WHERE uid = 'u-9' ORDER BY sequence"
    )
    assert [r["sequence"] for r in rows] == list(range(1, 301))
    assert await pool.fetchval("SELECT logs_archived FROM kuberun_executions") is True
    assert await store.missing(["u-9"]) == set()
    await client.aclose()
