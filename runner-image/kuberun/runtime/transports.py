"""Where batches of records go: a Redis Stream, the CLI's pipe, or nowhere (echo only).

A transport sends one batch or raises `TransportError`; retrying is the
sender's job. Sends are idempotent: Redis rejects an entry id that is not
above the stream's top. Such a rejection is ours only when the entry stored
at that id is this very record (an earlier, interrupted send delivered it);
the transport reads it back to check, and a record whose id is taken by
something else, or was passed by a higher id, is reported as not stored —
counted by the sender as undelivered, never as delivered.

Also the pipe protocol of `kuberun run` without Redis: JSON lines, each with a
`type` — `record` (a `LogRecord` by alias) or `result` (a `RunResult` by alias).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from typing import Any, Protocol

import redis

from kuberun.contract import keys, outcome
from kuberun.runtime import connecting
from kuberun.runtime.records import Entry

# Redis' answer to an XADD whose explicit id is not above the stream's top item:
# for us, a record that an earlier (interrupted) send already delivered.
_ALREADY_DELIVERED = "equal or smaller than the target stream top item"


class TransportError(Exception):
    """A batch could not be sent now; the sender retries."""


class ConsumerGone(TransportError):
    """The reader of the pipe is gone for good (`kuberun run` was killed)."""


class Transport(Protocol):
    def send(self, batch: Sequence[Entry]) -> int | None:
        """Send the batch; the number of its records that could not be stored (None: 0)."""
        ...

    def close(self) -> None: ...


class NullTransport:
    """No log store (no Redis, no pipe): records only reach the process's stdout echo."""

    def send(self, batch: Sequence[Entry]) -> int | None:
        return None

    def close(self) -> None:
        return None


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack_xadd(key: bytes, entry: Entry) -> bytes:
    """One `XADD key <attempt>-<sequence> field value ...` in the Redis protocol (RESP).

    Packed by hand because this is the sender's inner loop: several times cheaper than
    the client's generic command encoding, and the bytes are exactly the same.
    """
    parts = [_bulk(entry.stream_id().encode())]
    for name, value in entry.fields().items():
        parts.append(_bulk(name.encode()))
        parts.append(_bulk(value.encode("utf-8", "surrogatepass")))
    return b"*%d\r\n$4\r\nXADD\r\n%b%b" % (len(parts) + 2, _bulk(key), b"".join(parts))


class RedisStreamTransport:
    """XADD with explicit ids `<attempt>-<sequence>`, pipelined, plus a TTL on the stream."""

    def __init__(self, client: redis.Redis, namespace: str, uid: str) -> None:
        self._client = client
        self._key = keys.logs_stream(namespace, uid)
        self._key_bytes = self._key.encode()
        self._expire = b"*3\r\n$6\r\nEXPIRE\r\n%b%b" % (
            _bulk(self._key_bytes),
            _bulk(str(keys.DEFAULT_TTL_SECONDS).encode()),
        )

    def send(self, batch: Sequence[Entry]) -> int | None:
        """One round trip: every XADD of the batch and an EXPIRE, written at once.

        Returns how many records were rejected for an id that is not theirs.
        """
        payload = b"".join([*(pack_xadd(self._key_bytes, e) for e in batch), self._expire])
        try:
            # The stream's node in a Redis Cluster (every key of an execution shares a slot).
            pool = connecting.node_pool(self._client, self._key)
            connection: Any = pool.get_connection()  # redis-py leaves Connection untyped
        except redis.RedisError as exc:
            self._refresh()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        problem: str | None = None
        rejected: list[Entry] = []
        try:
            connection.send_packed_command([payload])
            for index in range(len(batch) + 1):  # read every reply, errors included
                try:
                    connection.read_response()
                except redis.ResponseError as exc:
                    if _ALREADY_DELIVERED in str(exc) and index < len(batch):
                        rejected.append(batch[index])
                    elif problem is None:
                        problem = f"{type(exc).__name__}: {exc}"
        except redis.RedisError as exc:
            connection.disconnect()
            self._refresh()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            connection.disconnect()  # the replies left unread would poison the connection
            raise
        finally:
            pool.release(connection)
        if problem is not None:
            if problem.startswith(("MovedError", "AskError", "ResponseError: MOVED")):
                self._refresh()  # the slot moved to another node: ask the cluster again
            raise TransportError(problem)
        return self._not_ours(rejected) if rejected else None

    def _not_ours(self, rejected: Sequence[Entry]) -> int:
        """How many rejected records are not what the stream holds at their ids."""
        lost = 0
        try:
            for entry in rejected:
                entry_id = entry.stream_id()
                found: Any = self._client.xrange(self._key_bytes, entry_id, entry_id, count=1)
                if not found or not same_fields(found[0][1], entry.fields()):
                    lost += 1
        except redis.RedisError as exc:
            # Unknown yet: send the batch again (the XADDs are rejected again, harmlessly).
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return lost

    def _refresh(self) -> None:
        with contextlib.suppress(redis.RedisError):  # the next send tries again
            connecting.refresh_slots(self._client)

    def close(self) -> None:
        self._client.close()


def same_fields(stored: Any, fields: dict[str, str]) -> bool:
    """Whether a stream entry's fields (bytes or str, as the client returns them) are these."""
    text = {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode("utf-8", "surrogatepass") if isinstance(v, bytes) else str(v)
        )
        for k, v in dict(stored).items()
    }
    return text == fields


class PipeTransport:
    """JSON lines on a file descriptor the CLI reads (`KUBERUN_RECORD_FD`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, batch: Sequence[Entry]) -> int | None:
        self._write(b"".join(entry.json_line() for entry in batch))
        return None

    def send_result(self, result: outcome.RunResult) -> None:
        data = {"type": "result", **result.model_dump(mode="json", by_alias=True)}
        self._write(json.dumps(data).encode() + b"\n")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except BrokenPipeError as exc:
            raise ConsumerGone(f"record pipe: {exc}") from exc
        except OSError as exc:
            raise TransportError(f"record pipe: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def parse_pipe_line(line: bytes) -> dict[str, Any] | None:
    """One pipe-protocol message, or None for a line that is not one."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "type" in data else None
