"""Reading an execution's log records from Redis and from the PostgreSQL archive.

Both give `(StreamId, LogRecord)` pairs in stream order, read in pages so a
long log never arrives as one reply. The archive keys its rows by the parts
of the stream entry id, so a record has the same id from either source.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from kuberun.contract import logrecord
from kuberun_operator.api.cursor import MAX_SEQUENCE, START, StreamId
from kuberun_operator.api.retention import StreamState, kept_after

Entry = tuple[StreamId, logrecord.LogRecord]

PAGE = 500


def record_json(entry: StreamId, record: logrecord.LogRecord) -> dict[str, Any]:
    """A record as the API sends it: the LogRecord's JSON plus its stream `id`."""
    data: dict[str, Any] = {"id": str(entry)}
    data.update(record.model_dump(mode="json", by_alias=True, exclude_none=True))
    return data


def _field(info: Mapping[Any, Any], name: str) -> Any:
    return info.get(name, info.get(name.encode()))


def _entries(raw: list[tuple[Any, Mapping[Any, Any]]]) -> list[Entry]:
    return [(StreamId.parse(i), logrecord.LogRecord.from_fields(dict(f))) for i, f in raw]


class RedisLogs:
    """The log stream of one execution in Redis."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def state(self, key: str) -> StreamState:
        """Whether the stream exists, and how far it was ever trimmed."""
        try:
            info: Mapping[Any, Any] = await self._client.xinfo_stream(key)
        except ResponseError:
            return StreamState(exists=False)  # "no such key": never written, or expired
        deleted = _field(info, "max-deleted-entry-id")
        first = _field(info, "first-entry")
        last = _field(info, "last-generated-id")
        added = _field(info, "entries-added")
        length = int(_field(info, "length") or 0)
        return StreamState(
            exists=True,
            kept_after=kept_after(
                StreamId.parse(deleted) if deleted else START,
                int(added) if added is not None else length,  # Redis < 7: only XDEL is seen
                length,
                StreamId.parse(first[0]) if first else None,
                StreamId.parse(last) if last else START,
            ),
        )

    async def page(
        self, key: str, after: StreamId, count: int = PAGE, attempt: int | None = None
    ) -> list[Entry]:
        """Up to `count` records after `after` (only of `attempt` when given)."""
        low = "(" + str(after)
        high = "+"
        if attempt is not None:
            if after < StreamId(attempt, 0):
                low = str(StreamId(attempt, 0))
            high = str(StreamId(attempt, MAX_SEQUENCE))
        raw = await self._client.xrange(key, min=low, max=high, count=count)
        return _entries(raw)

    async def wait(
        self, key: str, after: StreamId, block_ms: int, count: int = PAGE
    ) -> list[Entry]:
        """Records after `after`, waiting up to `block_ms` for the first (XREAD BLOCK)."""
        reply = await self._client.xread({key: str(after)}, count=count, block=block_ms)
        if not reply:
            return []
        _, raw = reply[0]
        return _entries(raw)


_LOG_ROWS = """
SELECT attempt, sequence, ts, level, logger, source, message, exception
FROM kuberun_execution_logs
WHERE uid = $1 AND (attempt, sequence) > ($2, $3) AND ($4::integer IS NULL OR attempt = $4)
ORDER BY attempt, sequence
LIMIT $5
"""


class ArchiveLogs:
    """The archive's executions and log rows (`kuberun_operator.archiving`'s schema)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def execution(
        self, namespace: str, name: str | None = None, uid: str | None = None
    ) -> Mapping[str, Any] | None:
        """The archive row by uid, or the newest row of that name in the namespace."""
        async with self._pool.acquire() as conn:
            if uid is not None:
                row = await conn.fetchrow(
                    "SELECT * FROM kuberun_executions WHERE uid = $1 AND namespace = $2",
                    uid,
                    namespace,
                )
            else:
                row = await conn.fetchrow(
                    "SELECT * FROM kuberun_executions WHERE namespace = $1 AND name = $2"
                    " ORDER BY archived_at DESC LIMIT 1",
                    namespace,
                    name,
                )
        return dict(row) if row is not None else None

    async def executions(self, namespace: str, limit: int = 500) -> list[Mapping[str, Any]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM kuberun_executions WHERE namespace = $1"
                " ORDER BY created_at DESC NULLS LAST LIMIT $2",
                namespace,
                limit,
            )
        return [dict(row) for row in rows]

    async def page(
        self, uid: str, after: StreamId, count: int = PAGE, attempt: int | None = None
    ) -> list[Entry]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_LOG_ROWS, uid, after.attempt, after.sequence, attempt, count)
        return [(StreamId(row["attempt"], row["sequence"]), _record(row)) for row in rows]


def _record(row: Mapping[str, Any]) -> logrecord.LogRecord:
    ts: datetime.datetime = row["ts"]
    return logrecord.LogRecord(
        # The "starting attempt N" record sits at N-0 but carries sequence 1 in Redis.
        sequence=max(int(row["sequence"]), 1),
        timestamp=ts.timestamp(),
        level=row["level"],
        logger=row["logger"],
        source=logrecord.Origin(row["source"]),
        message=row["message"],
        attempt=int(row["attempt"]),
        exception=row["exception"],
    )
