"""The operator's Redis calls against a real redis-server: engine records keep one order."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from kuberun.contract import keys, logrecord, outcome
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import reconciling as rc
from kuberun_operator.redisio import RedisIO, Written

pytestmark = pytest.mark.integration

NS, UID = "team", "uid-1"


def record(at: rc.RecordAt, attempt: int, message: str) -> rc.EngineRecord:
    return rc.EngineRecord(at, attempt, "kind", message)


def stream(client: redis.Redis) -> list[tuple[bytes, dict[bytes, bytes]]]:
    found: Any = client.xrange(keys.logs_stream(NS, UID))
    return list(found)


def entries(client: redis.Redis) -> list[tuple[str, str, str]]:
    return [(i.decode(), f[b"source"].decode(), f[b"msg"].decode()) for i, f in stream(client)]


def runner_line(client: redis.Redis, attempt: int, seq: int, text: str) -> None:
    line = logrecord.LogRecord(sequence=seq, timestamp=1.0, message=text, attempt=attempt)
    client.xadd(keys.logs_stream(NS, UID), line.to_fields(), id=line.stream_id())  # type: ignore[arg-type]


async def test_engine_records_surround_the_runner_lines_once(
    redis_url: str, redis_client: redis.Redis
) -> None:
    io = RedisIO(redis_url, 1.0)
    try:
        done = Written.DONE
        for _ in range(2):  # a repeated pass (restart) must not duplicate anything
            assert await io.engine_record(NS, UID, record(rc.RecordAt.QUEUED, 0, "queued"), 1.0)
            assert (
                await io.engine_record(
                    NS, UID, record(rc.RecordAt.BEFORE_ATTEMPT, 1, "starting 1"), 1.0
                )
                is done
            )
        runner_line(redis_client, 1, 1, "hello")
        runner_line(redis_client, 1, 2, "bye")
        for _ in range(2):
            for text in ("missing", "retrying"):
                assert (
                    await io.engine_record(NS, UID, record(rc.RecordAt.AFTER_ATTEMPT, 1, text), 2.0)
                    is done
                )
        assert (
            await io.engine_record(
                NS, UID, record(rc.RecordAt.BEFORE_ATTEMPT, 2, "starting 2"), 3.0
            )
            is done
        )
        runner_line(redis_client, 2, 1, "again")
        late = record(rc.RecordAt.AFTER_ATTEMPT, 1, "late")
        assert await io.engine_record(NS, UID, late, 4.0) is Written.TOO_LATE
        assert await io.runner_sequences(NS, UID, 1) == [1, 2]
        assert await io.runner_sequences(NS, UID, 2) == [1]
    finally:
        await io.close()

    engine = logrecord.ENGINE_SEQUENCE_BASE
    assert entries(redis_client) == [
        ("0-1", "engine", "queued"),
        ("1-0", "engine", "starting 1"),
        ("1-1", "log", "hello"),
        ("1-2", "log", "bye"),
        (f"1-{engine + 1}", "engine", "missing"),
        (f"1-{engine + 2}", "engine", "retrying"),
        ("2-0", "engine", "starting 2"),
        ("2-1", "log", "again"),
    ]
    for _, fields in stream(redis_client):
        logrecord.LogRecord.from_fields(fields)  # every entry reads back as a record


async def test_cancel_key_and_result(redis_url: str, redis_client: redis.Redis) -> None:
    run = outcome.RunResult(status=Phase.SUCCESS, reason=Reason.COMPLETED, result=[1, 2])
    redis_client.set(keys.result(NS, UID, 1), run.model_dump_json(by_alias=True))
    io = RedisIO(redis_url, 1.0)
    try:
        assert await io.set_cancel(NS, UID, "cancelled by request")
        got, answered = await io.read_result(NS, UID, 1)
        missing = await io.read_result(NS, UID, 2)
    finally:
        await io.close()
    assert redis_client.get(keys.cancel(NS, UID)) == b"cancelled by request"
    assert answered and got is not None and got.result == [1, 2]
    assert missing == (None, True)


async def test_redis_down_fails_fast_and_quietly() -> None:
    io = RedisIO("redis://127.0.0.1:1/0", 0.5)
    try:
        assert not await io.set_cancel(NS, UID, "x")
        assert await io.read_result(NS, UID, 1) == (None, False)
        assert (
            await io.engine_record(NS, UID, record(rc.RecordAt.QUEUED, 0, "q"), 1.0)
            is Written.FAILED
        )
        assert await io.runner_sequences(NS, UID, 1) is None
    finally:
        await io.close()


async def test_an_engine_record_never_takes_an_id_the_runner_may_still_write(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The "timed out" record is written while the stream's top is the runner's line 3;
    the runner's line 4 still goes in at 1-4, and sorts before the engine record."""
    io = RedisIO(redis_url, 1.0)
    try:
        for seq in (1, 2, 3):
            runner_line(redis_client, 1, seq, f"line {seq}")
        timed_out = record(rc.RecordAt.AFTER_ATTEMPT, 1, "timed out")
        assert await io.engine_record(NS, UID, timed_out, 5.0) is Written.DONE
        with pytest.raises(redis.ResponseError):  # below the top now: Redis refuses it ...
            runner_line(redis_client, 1, 4, "line 4")
        assert await io.runner_sequences(NS, UID, 1) == [1, 2, 3]  # ... and nothing took 1-4
    finally:
        await io.close()
    ids = [i for i, _, _ in entries(redis_client)]
    assert ids == ["1-1", "1-2", "1-3", logrecord.engine_stream_id(1, 1)]
