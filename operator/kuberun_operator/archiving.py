"""Archive finished executions and their full logs into PostgreSQL.

Redis holds an execution's logs and result for `keys.DEFAULT_TTL_SECONDS`; the
archive keeps them for as long as the platform team wants, queryable with SQL.
The operator archives once an execution is terminal. Archiving is idempotent,
so a restart that archives again changes nothing:

- the execution row is keyed by the Execution's uid and upserted;
- log rows are keyed by (uid, attempt, stream sequence), the parts of the
  stream entry id, and inserted with ON CONFLICT DO NOTHING;
- `logs_archived` says whether the logs were read: a row written while Redis
  did not answer is false, and is archived again (by the operator's backlog,
  and by the sweep at its next start) until the logs are in.

The row builders are pure; `Archive` is the thin asyncpg adapter, given its
pool by the caller (created at startup, never at import time).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from kuberun.contract import logrecord, spec, status

SCHEMA = """
CREATE TABLE IF NOT EXISTS kuberun_executions (
    uid          text PRIMARY KEY,
    namespace    text NOT NULL,
    name         text NOT NULL,
    phase        text NOT NULL,
    reason       text,
    message      text,
    attempts     integer NOT NULL,
    organization text,
    caller       text,
    entrypoint   text,
    spec         jsonb NOT NULL,
    status       jsonb NOT NULL,
    result       jsonb,
    error        jsonb,
    created_at   timestamptz,
    finished_at  timestamptz,
    archived_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE kuberun_executions
    ADD COLUMN IF NOT EXISTS logs_archived boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS kuberun_executions_ns_name ON kuberun_executions (namespace, name);
CREATE TABLE IF NOT EXISTS kuberun_execution_logs (
    uid        text NOT NULL REFERENCES kuberun_executions (uid) ON DELETE CASCADE,
    attempt    integer NOT NULL,
    sequence   bigint NOT NULL,
    ts         timestamptz NOT NULL,
    level      text NOT NULL,
    logger     text NOT NULL,
    source     text NOT NULL,
    message    text NOT NULL,
    exception  text,
    PRIMARY KEY (uid, attempt, sequence)
);
"""

_UPSERT_EXECUTION = """
INSERT INTO kuberun_executions (uid, namespace, name, phase, reason, message, attempts,
    organization, caller, entrypoint, spec, status, result, error, created_at, finished_at,
    logs_archived)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13::jsonb,
    $14::jsonb, $15, $16, $17)
ON CONFLICT (uid) DO UPDATE SET
    phase = EXCLUDED.phase, reason = EXCLUDED.reason, message = EXCLUDED.message,
    attempts = EXCLUDED.attempts, status = EXCLUDED.status, result = EXCLUDED.result,
    error = EXCLUDED.error, finished_at = EXCLUDED.finished_at, archived_at = now(),
    logs_archived = kuberun_executions.logs_archived OR EXCLUDED.logs_archived
"""

_INSERT_LOG = """
INSERT INTO kuberun_execution_logs (uid, attempt, sequence, ts, level, logger, source,
    message, exception)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
"""


class NotArchivable(ValueError):
    """The Execution is not terminal yet, or its body lacks what a row needs."""


@dataclass(frozen=True)
class ExecutionRow:
    """One row of `kuberun_executions`, in the order of `_UPSERT_EXECUTION`'s parameters."""

    uid: str
    namespace: str
    name: str
    phase: str
    reason: str | None
    message: str | None
    attempts: int
    organization: str | None
    caller: str | None
    entrypoint: str | None
    spec_json: str
    status_json: str
    result_json: str | None
    error_json: str | None
    created_at: datetime.datetime | None
    finished_at: datetime.datetime | None

    def parameters(self) -> tuple[Any, ...]:
        return (
            self.uid,
            self.namespace,
            self.name,
            self.phase,
            self.reason,
            self.message,
            self.attempts,
            self.organization,
            self.caller,
            self.entrypoint,
            self.spec_json,
            self.status_json,
            self.result_json,
            self.error_json,
            self.created_at,
            self.finished_at,
        )


LogRow = tuple[str, int, int, datetime.datetime, str, str, str, str, str | None]


def execution_row(body: Mapping[str, Any]) -> ExecutionRow:
    """The archive row of a terminal Execution object (as read from the API).

    Raises `NotArchivable` for an execution that has not ended: archiving a
    live one would store a status that is about to change.
    """
    metadata = body.get("metadata") or {}
    uid, namespace, name = metadata.get("uid"), metadata.get("namespace"), metadata.get("name")
    if not (uid and namespace and name):
        raise NotArchivable("the Execution has no uid, namespace or name")
    current = status.ExecutionStatus.model_validate(body.get("status") or {})
    if current.phase is None or not current.phase.terminal:
        raise NotArchivable(f"execution {namespace}/{name} is {current.phase}, not terminal")
    wanted = spec.ExecutionSpec.model_validate(body.get("spec") or {})
    return ExecutionRow(
        uid=uid,
        namespace=namespace,
        name=name,
        phase=current.phase.value,
        reason=current.reason.value if current.reason else None,
        message=current.message,
        attempts=max(current.attempt, len(current.attempts)),
        organization=wanted.organization,
        caller=wanted.caller,
        entrypoint=wanted.entrypoint,
        spec_json=wanted.model_dump_json(by_alias=True, exclude_defaults=True),
        status_json=current.model_dump_json(by_alias=True, exclude_none=True),
        result_json=None if current.result is None else json.dumps(current.result, default=str),
        error_json=current.error.model_dump_json() if current.error else None,
        created_at=_parse_time(metadata.get("creationTimestamp")),
        finished_at=_parse_time(current.completion_time),
    )


def log_rows(uid: str, entries: Iterable[tuple[Any, Mapping[Any, Any]]]) -> list[LogRow]:
    """Archive rows of stream entries `(entry_id, fields)` as XRANGE returns them.

    The key is the entry id, not the record's own sequence field: engine
    records the operator appends after an attempt are numbered by Redis.
    """
    rows: list[LogRow] = []
    for entry_id, fields in entries:
        attempt, sequence = logrecord.parse_stream_id(entry_id)
        record = logrecord.LogRecord.from_fields(dict(fields))
        rows.append(
            (
                uid,
                attempt,
                sequence,
                datetime.datetime.fromtimestamp(record.timestamp, tz=datetime.UTC),
                record.level,
                record.logger,
                record.source.value,
                record.message,
                record.exception,
            )
        )
    return rows


def _parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Connection(Protocol):
    """The part of an asyncpg connection the archive uses."""

    async def execute(self, query: str, *args: Any) -> str: ...

    async def executemany(self, command: str, args: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self) -> Any: ...

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


class Pool(Protocol):
    """The part of an asyncpg pool the archive uses."""

    def acquire(self) -> Any: ...


class Archive:
    """Writes execution rows and their logs; safe to call again for the same execution."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def ensure_schema(self) -> None:
        """Create the tables if they are missing (idempotent; run at startup)."""
        async with self._pool.acquire() as conn:
            await conn.execute(SCHEMA)

    async def missing(self, uids: Sequence[str]) -> set[str]:
        """Which of these executions are not archived yet, or not with their logs (the
        restart sweep asks)."""
        if not uids:
            return set()
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT uid FROM kuberun_executions WHERE uid = ANY($1::text[]) AND logs_archived",
                list(uids),
            )
        return set(uids) - {row["uid"] for row in rows}

    async def store(
        self, row: ExecutionRow, logs: Sequence[LogRow], logs_archived: bool = True
    ) -> None:
        """Upsert the execution and add any log rows not archived yet, in one transaction.

        `logs_archived` False: the logs could not be read now (the row is revisited)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_UPSERT_EXECUTION, *row.parameters(), logs_archived)
            if logs:
                await conn.executemany(_INSERT_LOG, logs)


class StreamReader(Protocol):
    """The part of a `redis.asyncio.Redis` client that reading a log stream needs."""

    def xrange(self, name: Any, min: Any = "-", max: Any = "+", count: Any = None) -> Any: ...


async def read_stream(
    client: StreamReader, key: str, page: int = 1000
) -> list[tuple[Any, dict[Any, Any]]]:
    """Every entry of a log stream, in order, read in pages so a huge log never
    arrives as one reply."""
    entries: list[tuple[Any, dict[Any, Any]]] = []
    start = "-"
    while True:
        batch: list[tuple[Any, dict[Any, Any]]] = await client.xrange(
            key, min=start, max="+", count=page
        )
        entries.extend(batch)
        if len(batch) < page:
            return entries
        last = batch[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else str(last))


async def archive_execution(
    archive: Archive, client: StreamReader | None, body: Mapping[str, Any], stream_key: str
) -> bool:
    """Archive one terminal Execution and whatever of its log stream Redis still has.

    True when done: the row and the logs are in (without a Redis configured,
    `client` None, there are no logs to read). False when Redis did not answer:
    the row is stored, marked as lacking its logs, and the caller tries again
    later. A PostgreSQL failure raises (the caller tries again later, too).
    """
    row = execution_row(body)
    if client is None:
        await archive.store(row, [])
        return True
    try:
        entries = await read_stream(client, stream_key)
    except (RedisError, OSError):
        await archive.store(row, [], logs_archived=False)
        return False
    await archive.store(row, log_rows(row.uid, entries))
    return True
