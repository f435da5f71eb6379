"""Where batches of records go: a Redis Stream, the CLI's pipe, or nowhere (echo only).

A transport sends one batch or raises `TransportError`; retrying is the
sender's job. Sends are idempotent: Redis rejects an entry id that is not
above the stream's top, which we count as already delivered.

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
from kuberun.runtime.records import Entry

# Redis' answer to an XADD whose explicit id is not above the stream's top item:
# for us, a record that an earlier (interrupted) send already delivered.
_ALREADY_DELIVERED = "equal or smaller than the target stream top item"


class TransportError(Exception):
    """A batch could not be sent now; the sender retries."""


class ConsumerGone(TransportError):
    """The reader of the pipe is gone for good (`kuberun run` was killed)."""


class Transport(Protocol):
    def send(self, batch: Sequence[Entry]) -> None: ...

    def close(self) -> None: ...


class NullTransport:
    """No log store (no Redis, no pipe): records only reach the process's stdout echo."""

    def send(self, batch: Sequence[Entry]) -> None:
        return None

    def close(self) -> None:
        return None


class RedisStreamTransport:
    """XADD with explicit ids `<attempt>-<sequence>`, pipelined, plus a TTL on the stream."""

    def __init__(self, client: redis.Redis, namespace: str, uid: str) -> None:
        self._client = client
        self._key = keys.logs_stream(namespace, uid)

    def send(self, batch: Sequence[Entry]) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            for entry in batch:
                pipe.xadd(self._key, entry.fields(), id=entry.stream_id())  # type: ignore[arg-type]
            pipe.expire(self._key, keys.DEFAULT_TTL_SECONDS)
            replies = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        for reply in replies:
            if isinstance(reply, Exception) and _ALREADY_DELIVERED not in str(reply):
                raise TransportError(f"{type(reply).__name__}: {reply}")

    def close(self) -> None:
        self._client.close()


class PipeTransport:
    """JSON lines on a file descriptor the CLI reads (`KUBERUN_RECORD_FD`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, batch: Sequence[Entry]) -> None:
        self._write(b"".join(entry.json_line() for entry in batch))

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
