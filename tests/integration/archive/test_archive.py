"""The archive against a real PostgreSQL and a real Redis stream: complete and idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio

from kuberun.contract import keys, logrecord
from kuberun_operator import archiving
from tests.support.postgres_server import PostgresServer, running_postgres


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
        sequence=2501, timestamp=9999.0, source=logrecord.Source.ENGINE, message="done"
    )
    await client.xadd(stream, engine.to_fields(), id="1-*")  # how the operator appends

    body = finished("u-42")
    assert await archiving.archive_execution(store, client, body, stream) == 2501
    assert await archiving.archive_execution(store, client, body, stream) == 2501

    rows = await pool.fetch(
        "SELECT attempt, sequence, source, message FROM kuberun_execution_logs"
        " WHERE uid = 'u-42' ORDER BY attempt, sequence"
    )
    assert len(rows) == 2501
    assert [r["sequence"] for r in rows] == list(range(1, 2502))
    assert rows[-1]["source"] == "engine"
    execution = await pool.fetchrow("SELECT phase, result FROM kuberun_executions")
    assert execution["phase"] == "SUCCESS" and execution["result"] == "[1, 2]"
    await client.aclose()


async def test_without_redis_the_execution_row_is_still_archived(
    archive: tuple[archiving.Archive, Any],
) -> None:
    store, pool = archive
    assert await archiving.archive_execution(store, None, finished("u-7"), "unused") == 0
    assert await pool.fetchval("SELECT count(*) FROM kuberun_executions") == 1
