"""One total order for everything the code outputs: sequence numbers, limits, drop counting.

Every producer (logging handler, stdout/stderr writers, fd readers, the
runtime's engine records) calls `Sequencer.emit`, which under one lock gives
the next sequence number and hands the entry to the sink (the sender's
buffer). Records that cannot be kept get *no* sequence number, so the
delivered sequence stays gapless; instead they are counted, and one marker
record says how many were dropped and why:

- past `max_lines`/`max_bytes`: a single "log limit reached" marker, then
  silence (counted);
- sink full (Redis unreachable and the buffer bounded): counted, and a marker
  with the count is emitted as soon as the sink accepts records again.

Engine records (`engine()`: outcome, tracebacks) pass any limit.

`redact`, when set, runs over every message and exception text before it is
kept (secret values become `***`): one place, so no output path can skip it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kuberun.contract import logrecord
from kuberun.runtime.records import Entry

ENGINE_LOGGER = "kuberun"
_TRUNCATED = "…[truncated: line of {size} bytes]"

Sink = Callable[[Entry, float | None], bool]
Echo = Callable[[Entry], None]
Redact = Callable[[str], str]


@dataclass
class Counts:
    """What happened to the records of this attempt so far."""

    emitted: int = 0  # every record produced (user and engine), kept or not
    sequenced: int = 0  # records given a sequence number: the last sequence
    user_lines: int = 0  # kept records of user output (what max_lines bounds)
    bytes: int = 0  # message bytes of kept user records (what max_bytes bounds)
    dropped_limit: int = 0  # past max_lines / max_bytes
    dropped_buffer: int = 0  # the sink was full

    @property
    def dropped(self) -> int:
        return self.dropped_limit + self.dropped_buffer


def shorten(message: str, limit: int = logrecord.MAX_MESSAGE_BYTES) -> tuple[str, int]:
    """(message cut to `limit` UTF-8 bytes with a marker, its original size in bytes)."""
    if len(message) * 4 <= limit:  # cannot exceed the limit: skip encoding
        return message, len(message)
    raw = message.encode("utf-8", "replace")
    if len(raw) <= limit:
        return message, len(raw)
    marker = _TRUNCATED.format(size=len(raw))
    cut = raw[: limit - len(marker.encode())].decode("utf-8", "ignore")
    return cut + marker, len(raw)


class Sequencer:
    """Gives each kept record the next sequence number and passes it on, in order."""

    def __init__(
        self,
        *,
        attempt: int,
        max_lines: int,
        max_bytes: int,
        sink: Sink,
        echo: Echo | None = None,
        clock: Callable[[], float] = time.time,
        redact: Redact | None = None,
    ) -> None:
        self.attempt = attempt
        self.redact = redact
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.counts = Counts()
        self._sink = sink
        self._echo = echo
        self._clock = clock
        self._lock = threading.Lock()
        self._cut = False
        self._unreported_buffer_drops = 0
        self._closed = False

    def close(self) -> None:
        """After the final record: later output (stray threads) only reaches the echo."""
        with self._lock:
            self._closed = True

    def emit(
        self,
        level: str,
        logger: str,
        source: str,
        message: str,
        exception: str | None = None,
        timestamp: float | None = None,
        *,
        wait: float | None = None,
    ) -> bool:
        """Sequence and pass on one record of user output; False if it was dropped (and counted).

        `len(message)` approximates its UTF-8 size for the byte limit (exact
        for ASCII; multi-byte text is undercounted by at most 4x).
        """
        if self.redact is not None:
            message = self.redact(message)
            exception = None if exception is None else self.redact(exception)
        message, size = shorten(message)
        if exception is not None:
            exception, exc_size = shorten(exception)
            size += exc_size
        if timestamp is None:
            timestamp = self._clock()
        with self._lock:
            if self._closed:
                if self._echo is not None:
                    self._echo(Entry(0, timestamp, level, logger, source, message, self.attempt))
                return False
            counts = self.counts
            counts.emitted += 1
            if self._cut:
                counts.dropped_limit += 1
                return False
            if counts.user_lines >= self.max_lines or counts.bytes + size > self.max_bytes:
                self._cut = True
                counts.dropped_limit += 1
                self._marker(
                    f"log limit reached (at most {self.max_lines} lines and {self.max_bytes}"
                    " bytes per execution): further output is dropped and counted in the final"
                    " record",
                    wait,
                )
                return False
            entry = Entry(
                counts.sequenced + 1,
                timestamp,
                level,
                logger,
                source,
                message,
                self.attempt,
                exception,
            )
            if self._unreported_buffer_drops:
                if not self._marker(
                    f"{self._unreported_buffer_drops} record(s) dropped: the log buffer was full"
                    " while the log store was unreachable",
                    wait,
                ):
                    counts.dropped_buffer += 1
                    self._unreported_buffer_drops += 1
                    if self._echo is not None:
                        self._echo(entry)
                    return False
                self._unreported_buffer_drops = 0
                entry.sequence = counts.sequenced + 1
            if not self._sink(entry, wait):
                counts.dropped_buffer += 1
                self._unreported_buffer_drops += 1
                if self._echo is not None:
                    self._echo(entry)  # dropped from delivery, still on the process's stdout
                return False
            counts.sequenced += 1
            counts.user_lines += 1
            counts.bytes += size
            if self._echo is not None:
                self._echo(entry)
            return True

    def engine(
        self, level: str, message: str, exception: str | None = None, *, wait: float | None = None
    ) -> bool:
        """An engine record (source `engine`), past any limit: outcome, tracebacks, warnings."""
        if self.redact is not None:
            message = self.redact(message)
            exception = None if exception is None else self.redact(exception)
        if exception is not None:
            exception, _ = shorten(exception)
        message, _ = shorten(message)
        with self._lock:
            self.counts.emitted += 1
            if self._marker(message, wait, level=level, exception=exception, counted=True):
                return True
            self.counts.dropped_buffer += 1
            return False

    def _marker(
        self,
        message: str,
        wait: float | None,
        *,
        level: str = "WARNING",
        exception: str | None = None,
        counted: bool = False,
    ) -> bool:
        """Sequence an engine record (lock held); a marker counts as emitted once it is kept."""
        entry = Entry(
            self.counts.sequenced + 1,
            self._clock(),
            level,
            ENGINE_LOGGER,
            logrecord.Origin.ENGINE.value,
            message,
            self.attempt,
            exception,
        )
        if not self._sink(entry, wait):
            return False
        if not counted:
            self.counts.emitted += 1
        self.counts.sequenced += 1
        if self._echo is not None:
            self._echo(entry)
        return True

    def snapshot(self) -> Counts:
        """A consistent copy of the counts."""
        with self._lock:
            return Counts(**vars(self.counts))
