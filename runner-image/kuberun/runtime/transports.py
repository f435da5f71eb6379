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

import collections
import contextlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kuberun.contract import keys, logfields, pipe
from kuberun.runtime import resp, speedups
from kuberun.runtime.records import Entry

if TYPE_CHECKING:
    from kuberun.contract import outcome

# Redis' answer to an XADD whose explicit id is not above the stream's top item:
# for us, a record that an earlier (interrupted) send already delivered.
ALREADY_DELIVERED = "equal or smaller than the target stream top item"
# Distinct (level, logger, source) triples whose packed form is kept: a program
# has a handful; the bound only stops a pathological one from growing it.
_MAX_CACHED_HEADS = 1_000
# Timestamps in this range have 17 characters as `ts` (10 digits, a point, 6 decimals):
# 2001-09-09 to 2286-11-20.
_FIXED_TS_LOW = 1e9
_FIXED_TS_HIGH = 1e10 - 1


class TransportError(Exception):
    """A batch could not be sent now; the sender retries."""


class ConsumerGone(TransportError):
    """The reader of the pipe is gone for good (`kuberun run` was killed)."""


class Transport(Protocol):
    def send(self, batch: Sequence[Entry]) -> int | None:
        """Send the batch; the number of its records that could not be stored (None: 0)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Pipelined(Protocol):
    """A transport that can have a batch on the wire while the next one is prepared."""

    def write(self, batch: Sequence[Entry]) -> None:
        """Send the batch without waiting for its replies; TransportError."""

    def confirm(self) -> int | None:
        """Wait for the replies of the oldest written batch: how many of its records the
        store rejected as not theirs (None: 0); TransportError (then every
        batch written and not confirmed counts as not sent: resending is idempotent)."""


class NullTransport:
    """No log store (no Redis, no pipe): records only reach the process's stdout echo."""

    def send(self, batch: Sequence[Entry]) -> int | None:
        return None

    def close(self) -> None:
        return None


def _size(text: str) -> int:
    """Length in UTF-8 bytes (as the payload is encoded); O(1) for ASCII text."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _head(level: str, logger: str, source: str) -> str:
    return (
        f"$5\r\nlevel\r\n${_size(level)}\r\n{level}\r\n$6\r\nlogger\r\n${_size(logger)}\r\n"
        f"{logger}\r\n$6\r\nsource\r\n${_size(source)}\r\n{source}\r\n"
    )


def _replies(entries: Sequence[Entry]) -> bytes:
    """What Redis answers to each XADD that stores its entry: the entry's id."""
    if not entries:
        return b""
    attempt, low, high = entries[0].attempt, entries[0].sequence, entries[-1].sequence
    if high - low + 1 != len(entries) or any(e.attempt != attempt for e in entries):
        return "".join(f"${len(e.stream_id())}\r\n{e.stream_id()}\r\n" for e in entries).encode()
    parts = []
    while low <= high:  # one run per number of digits: 1-9, 10-99, ...
        digits = len(str(low))
        end = min(high, 10**digits - 1)
        template = f"${len(str(attempt)) + 1 + digits}\r\n{attempt}-%d\r\n"
        parts.append(template * (end - low + 1) % tuple(range(low, end + 1)))
        low = end + 1
    return "".join(parts).encode()


class XaddPacker:
    """Packs `XADD key <attempt>-<sequence> field value ...` commands in the Redis protocol.

    Packed by hand because this is the sender's inner loop, which user code pays
    for under the GIL: one f-string per record and one encode per batch, several
    times cheaper than redis-py's generic command encoding (with or without
    hiredis; `python -m bench logs` measures both), with the very same bytes (a
    unit test compares them). Fields as `LogRecord.to_fields()`.
    """

    def __init__(self, key: str) -> None:
        self._key = f"${_size(key)}\r\n{key}\r\n"
        self._key_bytes = key.encode("utf-8", "surrogatepass")
        self._heads: dict[tuple[str, str, str], str] = {}

    def _head(self, level: str, logger: str, source: str) -> str:
        head = _head(level, logger, source)
        if len(self._heads) < _MAX_CACHED_HEADS:
            self._heads[(level, logger, source)] = head
        return head

    def batch(self, entries: Sequence[Entry]) -> tuple[bytes, bytes]:
        """(every XADD of the batch, the replies that mean all were stored).

        A batch is a slice of one attempt's gapless sequence, split where the
        number of digits changes; within a piece, consecutive records that share
        level, logger and source and have a 17-character timestamp, an ASCII
        message and no exception (nearly all) form a run, formatted with one `%`
        over a repeated template. Anything else is packed on its own.
        """
        parts: list[str] = []
        if not entries:
            return b"", b""
        native = speedups.native
        if native is not None:
            packed = native.pack(
                self._key_bytes, entries if type(entries) is list else list(entries)
            )
            if packed is not None:
                return packed, _replies(entries)
        first, last = entries[0], entries[-1]
        if last.sequence - first.sequence + 1 != len(entries) or last.attempt != first.attempt:
            parts = [self._one(entry) for entry in entries]  # not one attempt's slice
            return "".join(parts).encode("utf-8", "surrogatepass"), _replies(entries)
        part = parts.append
        start, index = first.sequence, 0
        while index < len(entries):
            digits = len(str(start + index))
            end = min(len(entries), 10**digits - start)  # sequences up to 9…9 in this piece
            self._piece(entries[index:end], digits, part)
            index = end
        return "".join(parts).encode("utf-8", "surrogatepass"), _replies(entries)

    def _piece(self, entries: Sequence[Entry], digits: int, part: Callable[[str], None]) -> None:
        """Entries whose sequences have `digits` digits, as runs of one template."""
        values: list[Any] = []
        add = values.extend
        template = ""
        level = logger = source = None
        low, high = _FIXED_TS_LOW, _FIXED_TS_HIGH
        for entry in entries:
            sequence, timestamp, e_level, e_logger, e_source, message, attempt, exception = entry
            if exception is None and message.isascii() and low <= timestamp < high:
                if e_level is not level or e_logger is not logger or e_source is not source:
                    if values:
                        part(template * (len(values) // 5) % tuple(values))
                        values.clear()
                    level, logger, source = e_level, e_logger, e_source
                    template = self._template(level, logger, source, attempt, digits)
                add((sequence, sequence, timestamp, len(message), message))
                continue
            if values:
                part(template * (len(values) // 5) % tuple(values))
                values.clear()
            part(self._one(entry))
        if values:
            part(template * (len(values) // 5) % tuple(values))

    def _template(self, level: str, logger: str, source: str, attempt: int, digits: int) -> str:
        """The `%` template of one record of a run (literal text escaped)."""
        key = (level, logger, source)
        head = self._heads.get(key) or _head(*key)
        if len(self._heads) < _MAX_CACHED_HEADS:
            self._heads[key] = head
        prefix = attempt_text = str(attempt)
        return (
            f"*17\r\n$4\r\nXADD\r\n{self._key}${len(prefix) + 1 + digits}\r\n{prefix}-"
        ).replace("%", "%%") + (
            f"%d\r\n$3\r\nseq\r\n${digits}\r\n%d\r\n$2\r\nts\r\n$17\r\n%.6f\r\n"
            + head.replace("%", "%%")
            + f"$3\r\nmsg\r\n$%d\r\n%s\r\n$7\r\nattempt\r\n${len(attempt_text)}\r\n"
            f"{attempt_text}\r\n"
        )

    def _one(self, entry: Entry) -> str:
        """One record the run template does not fit (exception, non-ASCII, odd timestamp)."""
        sequence, timestamp, level, logger, source, message, attempt, exception = entry
        head = self._heads.get((level, logger, source)) or _head(level, logger, source)
        seq = str(sequence)
        ident = f"{attempt}-{seq}"
        ts = logfields.timestamp_text(timestamp)
        text = (
            f"*{17 if exception is None else 19}\r\n$4\r\nXADD\r\n{self._key}"
            f"${len(ident)}\r\n{ident}\r\n$3\r\nseq\r\n${len(seq)}\r\n{seq}\r\n"
            f"$2\r\nts\r\n${len(ts)}\r\n{ts}\r\n{head}$3\r\nmsg\r\n${_size(message)}\r\n"
            f"{message}\r\n$7\r\nattempt\r\n${len(ident) - len(seq) - 1}\r\n{attempt}\r\n"
        )
        if exception is not None:
            text += f"$3\r\nexc\r\n${_size(exception)}\r\n{exception}\r\n"
        return text


def pack_xadd(key: bytes, entry: Entry) -> bytes:
    """One XADD as bytes (what `XaddPacker` writes for it)."""
    return XaddPacker(key.decode()).batch([entry])[0]


class RedisStreamTransport:
    """XADD with explicit ids `<attempt>-<sequence>`, pipelined, plus a TTL on the stream.

    Its own connection (`resp.Connection`), used by the sender thread only.
    """

    def __init__(self, connection: resp.Connection, namespace: str, uid: str) -> None:
        self._connection = connection
        self._key = keys.logs_stream(namespace, uid)
        self._packer = XaddPacker(self._key)
        self._expire = resp.pack("EXPIRE", self._key, keys.DEFAULT_TTL_SECONDS)
        self._unconfirmed: collections.deque[tuple[bytes, Sequence[Entry]]] = collections.deque()
        self._check: resp.Connection | None = None  # reads rejected ids back

    def send(self, batch: Sequence[Entry]) -> int | None:
        """One round trip: every XADD of the batch and an EXPIRE, written at once.

        Returns how many records were rejected for an id that is not theirs.
        """
        self.write(batch)
        return self.confirm()

    def write(self, batch: Sequence[Entry]) -> None:
        """Every XADD of the batch and an EXPIRE, written at once; replies read by `confirm`."""
        payload, replies = self._packer.batch(batch)
        try:
            self._connection.send(payload + self._expire)
        except resp.RespError as exc:
            self._reset()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        self._unconfirmed.append((replies + b":1\r\n", batch))

    def confirm(self) -> int | None:
        """The replies of the oldest written batch: how many of its records were rejected
        for an id that holds something else (TransportError when not known yet)."""
        replies, batch = self._unconfirmed.popleft()
        try:
            errors = self._connection.expect(replies, len(batch) + 1)
        except resp.RespError as exc:
            self._reset()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self._reset()  # the replies left unread would poison the connection
            raise
        rejected = [
            batch[index]
            for index, error in errors
            if index < len(batch) and ALREADY_DELIVERED in str(error)
        ]
        problems = [
            str(error)
            for index, error in errors
            if index >= len(batch) or ALREADY_DELIVERED not in str(error)
        ]
        if problems:
            self._reset()  # the next batch's replies are not to be read as this one's
            raise TransportError(f"ReplyError: {problems[0]}")
        return self._not_ours(rejected) if rejected else None

    def _not_ours(self, rejected: Sequence[Entry]) -> int:
        """How many rejected records are not what the stream holds at their ids.

        Read on a connection of its own: the sender's may have the next batch's
        replies on the way, which an XRANGE's reply must not be mistaken for.
        """
        if self._check is None:
            self._check = resp.Connection(
                self._connection.address, connect_timeout=1.0, socket_timeout=5.0
            )
        lost = 0
        try:
            for entry in rejected:
                entry_id = entry.stream_id()
                found: Any = self._check.call("XRANGE", self._key, entry_id, entry_id, "COUNT", 1)
                if not found or not same_fields(_pairs(found[0][1]), entry.fields()):
                    lost += 1
        except resp.RespError as exc:
            self._check.close()
            self._reset()  # unknown yet: the batches on the wire are sent again, harmlessly
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return lost

    def _reset(self) -> None:
        self._connection.close()
        self._unconfirmed.clear()

    def close(self) -> None:
        self._connection.close()
        if self._check is not None:
            self._check.close()


def _pairs(flat: Any) -> dict[Any, Any]:
    """A RESP2 field list (name, value, name, value, ...) as a mapping."""
    items = list(flat)
    return dict(zip(items[::2], items[1::2], strict=False))


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
    """The pipe protocol (`contract.pipe`) on the file descriptor `kuberun run` reads."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, batch: Sequence[Entry]) -> int | None:
        self._write(b"".join(entry.json_line() for entry in batch))
        return None

    def send_result(self, result: outcome.RunResult) -> None:
        self._write(pipe.encode(pipe.RESULT, result.model_dump(mode="json", by_alias=True)))

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
