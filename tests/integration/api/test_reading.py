"""Log reads against a real Redis and a real PostgreSQL archive: the same records, ids
and order from either source, resuming at any cursor with no gap and no duplicate,
following live until the end, and a 410 where nothing is retained."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio

from kuberun.contract import keys, logrecord
from kuberun_operator import archiving
from kuberun_operator.api import reading, retention
from kuberun_operator.api.cursor import LogFilter, StreamId
from kuberun_operator.api.logsource import ArchiveLogs, RedisLogs, record_json
from tests.support.postgres_server import PostgresServer, running_postgres

NS = "team-a"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
async def pool(postgres: PostgresServer) -> AsyncIterator[Any]:
    pool = await asyncpg.create_pool(postgres.dsn, min_size=1, max_size=4)
    await archiving.Archive(pool).ensure_schema()
    await pool.execute("TRUNCATE kuberun_executions CASCADE")
    yield pool
    await pool.close()


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def body(uid: str, phase: str = "SUCCESS") -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "namespace": NS, "name": f"job-{uid}"},
        "spec": {"source": {"inline": "print(1)"}},
        "status": {"phase": phase, "reason": "Completed", "attempt": 2, "result": 7},
    }


async def write_two_attempts(client: redis.asyncio.Redis, uid: str, lines: int) -> None:
    """How a real stream looks: queued at 0-1, each attempt's engine record at N-0,
    its runner lines N-1.., and an engine record appended by Redis after attempt 1."""
    stream = keys.logs_stream(NS, uid)

    def rec(attempt: int, seq: int, message: str, **extra: Any) -> dict[Any, Any]:
        return logrecord.LogRecord(
            sequence=max(seq, 1), timestamp=1000.0 + seq, attempt=attempt, message=message, **extra
        ).to_fields()

    await client.xadd(stream, rec(0, 1, "queued", source=logrecord.Origin.ENGINE), id="0-1")
    for attempt in (1, 2):
        await client.xadd(
            stream,
            rec(attempt, 0, f"starting {attempt}", source=logrecord.Origin.ENGINE),
            id=f"{attempt}-0",
        )
        for seq in range(1, lines + 1):
            level = "ERROR" if seq % 10 == 0 else "INFO"
            source = logrecord.Origin.STDOUT if seq % 2 else logrecord.Origin.LOG
            await client.xadd(
                stream,
                rec(attempt, seq, f"a{attempt} line {seq}", level=level, source=source),
                id=f"{attempt}-{seq}",
            )
        if attempt == 1:
            await client.xadd(
                stream, rec(1, lines + 1, "retrying", source=logrecord.Origin.ENGINE), id="1-*"
            )


def target(uid: str, phase: str | None = "SUCCESS", archived: bool = False) -> reading.Target:
    return reading.Target(NS, f"job-{uid}", uid, phase, "Completed", archived)


async def read_all(
    t: reading.Target,
    cursor: StreamId | None,
    redis_logs: RedisLogs | None,
    archive: ArchiveLogs | None,
    wanted: LogFilter | None = None,
    follow: bool = False,
    phase_of: reading.PhaseOf | None = None,
) -> tuple[list[dict[str, Any]], reading.End | None]:
    source = await reading.plan(t, cursor, redis_logs, archive)

    async def same() -> tuple[str | None, str | None]:
        return t.phase, t.reason

    out: list[dict[str, Any]] = []
    end = None
    async for item in reading.records(
        t, source, cursor, wanted or LogFilter(), follow, phase_of or same, redis_logs, archive
    ):
        if isinstance(item, reading.End):
            end = item
        elif not isinstance(item, reading.Tick):
            out.append(record_json(*item))
    return out, end


def essentials(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(r["id"], r["level"], r["source"], r["message"]) for r in records]


async def test_redis_and_the_archive_give_the_same_records_in_the_same_order(
    client: redis.asyncio.Redis, pool: Any
) -> None:
    await write_two_attempts(client, "u1", 700)  # more than one page per source
    redis_logs, archive = RedisLogs(client), ArchiveLogs(pool)
    from_redis, end = await read_all(target("u1"), None, redis_logs, archive)
    assert end == reading.End("SUCCESS", "Completed")
    assert len(from_redis) == 1 + 2 * 701 + 1
    ids = [StreamId.parse(r["id"]) for r in from_redis]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    await archiving.archive_execution(
        archiving.Archive(pool), client, body("u1"), keys.logs_stream(NS, "u1")
    )
    await client.delete(keys.logs_stream(NS, "u1"))  # Redis's retention passed
    t = target("u1", archived=True)
    assert await reading.plan(t, None, redis_logs, archive) is retention.Serving.ARCHIVE
    from_archive, end = await read_all(t, None, redis_logs, archive)
    assert essentials(from_archive) == essentials(from_redis)
    assert [r["sequence"] for r in from_archive] == [r["sequence"] for r in from_redis]
    assert end == reading.End("SUCCESS", "Completed")


async def test_resuming_at_random_cursors_never_loses_or_repeats_a_record(
    client: redis.asyncio.Redis, pool: Any
) -> None:
    await write_two_attempts(client, "u2", 300)
    redis_logs, archive = RedisLogs(client), ArchiveLogs(pool)
    whole, _ = await read_all(target("u2"), None, redis_logs, archive)
    await archiving.archive_execution(
        archiving.Archive(pool), client, body("u2"), keys.logs_stream(NS, "u2")
    )
    rng = random.Random(7)
    for sources in ((redis_logs, None), (None, archive)):
        t = target("u2", archived=sources[1] is not None)
        for _ in range(20):
            cut = rng.randrange(len(whole))
            resumed, _ = await read_all(t, StreamId.parse(whole[cut]["id"]), *sources)
            assert essentials(whole[: cut + 1] + resumed) == essentials(whole)


async def test_filters_give_the_same_answer_from_both_sources(
    client: redis.asyncio.Redis, pool: Any
) -> None:
    await write_two_attempts(client, "u3", 50)
    redis_logs, archive = RedisLogs(client), ArchiveLogs(pool)
    wanted = LogFilter.from_query({"level": "error", "source": "log,stdout", "attempt": "2"})
    live, _ = await read_all(target("u3"), None, redis_logs, None, wanted)
    assert [r["message"] for r in live] == [f"a2 line {n}" for n in range(10, 51, 10)]
    await archiving.archive_execution(
        archiving.Archive(pool), client, body("u3"), keys.logs_stream(NS, "u3")
    )
    archived, _ = await read_all(target("u3", archived=True), None, None, archive, wanted)
    assert essentials(archived) == essentials(live)
    after, _ = await read_all(target("u3"), StreamId(2, 30), redis_logs, None, wanted)
    assert [r["message"] for r in after] == ["a2 line 40", "a2 line 50"]


async def test_a_trimmed_cursor_is_refused_unless_the_archive_has_it(
    client: redis.asyncio.Redis, pool: Any
) -> None:
    await write_two_attempts(client, "u4", 20)
    stream = keys.logs_stream(NS, "u4")
    await client.xtrim(stream, minid="2-0", approximate=False)
    redis_logs, archive = RedisLogs(client), ArchiveLogs(pool)
    with pytest.raises(reading.Expired, match="after 1-5 are no longer retained"):
        await reading.plan(target("u4"), StreamId(1, 5), redis_logs, archive)
    with pytest.raises(reading.Expired):
        await reading.plan(target("u4"), None, redis_logs, archive)
    # At or past the cut nothing was lost: served.
    rest, _ = await read_all(target("u4"), StreamId(2, 0), redis_logs, archive)
    assert [r["id"] for r in rest] == [f"2-{n}" for n in range(1, 21)]
    # Within the kept part, an exact trim is exact: a reader at 2-9 has everything before 2-10.
    await client.xtrim(stream, minid="2-10", approximate=False)
    rest, _ = await read_all(target("u4"), StreamId(2, 9), redis_logs, archive)
    assert rest[0]["id"] == "2-10"
    with pytest.raises(reading.Expired):
        await reading.plan(target("u4"), StreamId(2, 8), redis_logs, archive)
    # A finished execution whose stream expired and that was never archived.
    await client.delete(stream)
    with pytest.raises(reading.Expired, match="from the start"):
        await reading.plan(target("u4"), None, redis_logs, archive)


async def test_follow_tails_new_records_and_ends_when_the_phase_is_terminal(
    client: redis.asyncio.Redis,
) -> None:
    stream = keys.logs_stream(NS, "u5")
    redis_logs = RedisLogs(client)
    phase: list[str] = ["RUNNING"]

    async def phase_of() -> tuple[str | None, str | None]:
        return phase[0], "Completed" if phase[0] == "SUCCESS" else None

    async def writer() -> None:
        for seq in range(1, 31):
            record = logrecord.LogRecord(sequence=seq, timestamp=float(seq), message=f"l{seq}")
            fields: Any = record.to_fields()
            await client.xadd(stream, fields, id=record.stream_id())
            await asyncio.sleep(0.02)
        phase[0] = "SUCCESS"

    task = asyncio.create_task(writer())
    got, end = await asyncio.wait_for(
        read_all(target("u5", "RUNNING"), None, redis_logs, None, follow=True, phase_of=phase_of),
        timeout=20,
    )
    await task
    assert [r["message"] for r in got] == [f"l{n}" for n in range(1, 31)]
    assert end == reading.End("SUCCESS", "Completed")
