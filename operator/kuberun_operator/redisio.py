"""Redis, as the operator uses it: cancel flags, engine log records, attempt results.

All calls are `redis.asyncio` with short timeouts, so they never block kopf's
loop, and every failure is swallowed into a return value: Redis is a channel
for logs and results, never a dependency of a status (the termination message
is). After a failure the client stays quiet for `QUIET_SECONDS` instead of
timing out on every reconcile while Redis is down; callers treat a quiet
answer as "not now" and ask again later (see `following`), never as final.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import pydantic
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from kuberun.contract import keys, logrecord, outcome, redisurl
from kuberun_operator import reconciling
from kuberun_operator.protocols import Written

__all__ = ["RedisIO", "Written", "connect"]

QUIET_SECONDS = 3.0
LOGGER_NAME = "kuberun.operator"

# Entries per XRANGE page when counting an attempt's lines.
PAGE = 1000

log = logging.getLogger(__name__)


def connect(url: str, timeout: float) -> aioredis.Redis:
    """An asyncio client for one server or, for a `redis+cluster://` URL, a Redis Cluster.

    Typed as `Redis`: the cluster client routes each command used here by its key's
    slot (every key of an execution shares one), so callers need not tell them apart.
    """
    parsed = redisurl.parse(url)
    if parsed.cluster:
        cluster = RedisCluster.from_url(
            parsed.url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        return cast(aioredis.Redis, cluster)
    single: aioredis.Redis = aioredis.Redis.from_url(
        parsed.url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    return single


class RedisIO:
    """The operator's Redis calls (a `protocols.StreamStore`); created at startup from
    `Settings.redis_url`."""

    def __init__(
        self, url: str, timeout: float, on_error: Callable[[str], None] | None = None
    ) -> None:
        self._client: Any = connect(url, timeout)  # redis-py's stubs are partial
        self._quiet_until = 0.0
        self._on_error = on_error  # counts failures by operation (metrics); None for tests

    async def close(self) -> None:
        await self._client.aclose()

    def _available(self) -> bool:
        return time.monotonic() >= self._quiet_until

    def _failed(self, what: str, exc: Exception) -> None:
        self._quiet_until = time.monotonic() + QUIET_SECONDS
        if self._on_error is not None:
            self._on_error(what)
        log.warning("redis unavailable (%s): %s", what, exc)

    async def set_cancel(self, namespace: str, uid: str, reason: str) -> bool:
        """Raise the cooperative cancel flag; False when Redis could not be told."""
        if not self._available():
            return False
        try:
            await self._client.set(keys.cancel(namespace, uid), reason, ex=keys.DEFAULT_TTL_SECONDS)
        except (RedisError, OSError) as exc:
            self._failed("cancel", exc)
            return False
        return True

    async def read_cache(self, key: str) -> reconciling.CachedResult | None:
        """A shared-cache entry, or None (missing, unreadable, or Redis away: then the
        execution simply runs)."""
        if not self._available():
            return None
        try:
            raw = await self._client.get(key)
        except (RedisError, OSError) as exc:
            self._failed("cache", exc)
            return None
        if raw is None:
            return None
        try:
            return reconciling.CachedResult(key=key, value=json.loads(raw))
        except ValueError:
            log.warning("unreadable cache entry %s", key)
            return None

    async def read_result(
        self, namespace: str, uid: str, attempt: int
    ) -> tuple[outcome.RunResult | None, bool]:
        """(the attempt's RunResult or None, whether Redis answered)."""
        if not self._available():
            return None, False
        try:
            raw = await self._client.get(keys.result(namespace, uid, attempt))
        except (RedisError, OSError) as exc:
            self._failed("result", exc)
            return None, False
        if raw is None:
            return None, True
        try:
            return outcome.RunResult.model_validate_json(raw), True
        except pydantic.ValidationError as exc:
            log.warning("unreadable result of %s/%s attempt %s: %s", namespace, uid, attempt, exc)
            return None, True

    @property
    def client(self) -> aioredis.Redis:
        """The underlying client, for readers such as the archive's stream reader."""
        client: aioredis.Redis = self._client
        return client

    async def engine_record(
        self, namespace: str, uid: str, record: reconciling.EngineRecord, now: float
    ) -> Written:
        """Write one engine record where the contract says (idempotently)."""
        if not self._available():
            return Written.FAILED
        stream = keys.logs_stream(namespace, uid)
        try:
            placed = await self._place(stream, record)
            if isinstance(placed, Written):
                return placed  # already written by an earlier pass, or too late
            entry_id, sequence = placed
            line = logrecord.LogRecord(
                sequence=sequence,
                timestamp=now,
                level=record.level,
                logger=LOGGER_NAME,
                source=logrecord.Origin.ENGINE,
                message=record.message,
                attempt=record.attempt,
            )
            try:
                await self._client.xadd(stream, line.to_fields(), id=entry_id)
            except ResponseError:
                # An entry at or above this id exists: ours from an earlier pass, or a
                # later attempt's (then this record's place is gone).
                there = await self._client.xrange(stream, entry_id, entry_id)
                if there or await self._has(stream, record):
                    return Written.DONE
                return Written.TOO_LATE
            await self._client.expire(stream, keys.DEFAULT_TTL_SECONDS)
        except (RedisError, OSError) as exc:
            self._failed("engine_record", exc)
            return Written.FAILED
        return Written.DONE

    async def _has(self, stream: str, record: reconciling.EngineRecord) -> bool:
        """Whether this after-attempt record is already among its attempt's engine records."""
        low, high = logrecord.engine_range(record.attempt)
        for _, fields in await self._client.xrange(stream, low, high):
            if _text(fields, "msg") == record.message:
                return True
        return False

    async def _place(
        self, stream: str, record: reconciling.EngineRecord
    ) -> tuple[str, int] | Written:
        """(entry id, `seq` field) for a record; DONE when it is already there, TOO_LATE
        when its place is gone (a later attempt started)."""
        if record.at == reconciling.RecordAt.QUEUED:
            return "0-1", 1
        if record.at == reconciling.RecordAt.BEFORE_ATTEMPT:
            return logrecord.stream_id(record.attempt, 0), 1
        # After the attempt: the next id of the attempt's engine space (see contract),
        # never an id of the runner's; unless this very record is there already.
        low, high = logrecord.engine_range(record.attempt)
        written = await self._client.xrange(stream, low, high)
        if any(_text(fields, "msg") == record.message for _, fields in written):
            return Written.DONE
        last = await self._client.xrevrange(stream, count=1)
        if last and logrecord.parse_stream_id(last[0][0])[0] > record.attempt:
            return Written.TOO_LATE
        k = len(written) + 1
        return logrecord.engine_stream_id(record.attempt, k), k

    async def runner_sequences(self, namespace: str, uid: str, attempt: int) -> list[int] | None:
        """The sequences of the runner's lines of an attempt in the stream, in order, or
        None when Redis did not answer. Read in pages: a huge log never comes as one reply."""
        if not self._available():
            return None
        stream = keys.logs_stream(namespace, uid)
        low, high = logrecord.runner_range(attempt)
        found: list[int] = []
        try:
            while True:
                page = await self._client.xrange(stream, low, high, count=PAGE)
                found.extend(logrecord.parse_stream_id(entry_id)[1] for entry_id, _ in page)
                if len(page) < PAGE:
                    return found
                low = logrecord.stream_id(attempt, found[-1] + 1)
        except (RedisError, OSError) as exc:
            self._failed("log_accounting", exc)
            return None


def _text(fields: dict[bytes, bytes] | dict[str, str], name: str) -> str | None:
    value = fields.get(name.encode(), fields.get(name))  # type: ignore[call-overload]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)
