"""Redis, as the operator uses it: cancel flags, engine log records, attempt results.

All calls are `redis.asyncio` with short timeouts, so they never block kopf's
loop, and every failure is swallowed into a return value: Redis is a channel
for logs and results, never a dependency of a status (the termination message
is). After a failure the client stays quiet for `QUIET_SECONDS` instead of
timing out on every reconcile while Redis is down.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import pydantic
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from kuberun.contract import keys, logrecord, outcome
from kuberun_operator import reconciling

QUIET_SECONDS = 3.0
LOGGER_NAME = "kuberun.operator"

log = logging.getLogger(__name__)


class RedisIO:
    """The operator's Redis calls; created at startup from `Settings.redis_url`."""

    def __init__(
        self, url: str, timeout: float, on_error: Callable[[str], None] | None = None
    ) -> None:
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
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
    ) -> bool:
        """Write one engine record where the contract says (idempotently); False on failure."""
        if not self._available():
            return False
        stream = keys.logs_stream(namespace, uid)
        try:
            entry_id, sequence = await self._place(stream, record)
            if entry_id is None:
                return True  # already written by an earlier pass
            line = logrecord.LogRecord(
                sequence=sequence,
                timestamp=now,
                level=record.level,
                logger=LOGGER_NAME,
                source=logrecord.Source.ENGINE,
                message=record.message,
                attempt=record.attempt,
            )
            try:
                await self._client.xadd(stream, line.to_fields(), id=entry_id)
            except ResponseError:
                return True  # an entry at this id exists: the record is there
            await self._client.expire(stream, keys.DEFAULT_TTL_SECONDS)
        except (RedisError, OSError) as exc:
            self._failed("engine_record", exc)
            return False
        return True

    async def _place(self, stream: str, record: reconciling.EngineRecord) -> tuple[str | None, int]:
        """The entry id (and `seq` field) for a record, or None when it is already there."""
        if record.at == reconciling.RecordAt.QUEUED:
            return "0-1", 1
        if record.at == reconciling.RecordAt.BEFORE_ATTEMPT:
            return logrecord.stream_id(record.attempt, 0), 1
        # After the attempt's pod is gone: right after the stream's last entry, unless
        # that entry is this very record (a pass repeated after a restart).
        last = await self._client.xrevrange(stream, count=1)
        if not last:
            return logrecord.stream_id(record.attempt, 1), 1
        top_id, fields = last[0]
        top_attempt, top_seq = logrecord.parse_stream_id(top_id)
        if top_attempt > record.attempt:
            return None, 0  # a later attempt already started: this record's moment passed
        message = fields.get(b"msg", fields.get("msg"))
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        source = fields.get(b"source", fields.get("source"))
        if isinstance(source, bytes):
            source = source.decode()
        if source == logrecord.Source.ENGINE.value and message == record.message:
            return None, 0
        if top_attempt < record.attempt:
            return logrecord.stream_id(record.attempt, 1), 1
        return logrecord.stream_id(record.attempt, top_seq + 1), top_seq + 1
