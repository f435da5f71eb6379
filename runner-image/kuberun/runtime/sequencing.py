"""One total order for everything the code outputs: sequence numbers, limits, drop counting.

Two sides, so that a log call costs the user's thread almost nothing:

- **producers** (the logging handler, the stdout/stderr writers, the fd
  readers, the runtime's engine records) only append to one deque: a
  `logging` record's message, arguments, level, logger and time, or a small
  tuple for a line. The order of appends is the total order (a deque append is
  atomic under the GIL), so a producer takes no lock, formats nothing and
  counts nothing;
- the **consumer** (the sender thread, `take()`) turns what was appended into
  `Entry`s, in that order: formats the message, cuts long lines, applies the
  line/byte limits, gives each kept record the next sequence number, echoes
  it, and counts.

Records that cannot be kept get *no* sequence number, so the delivered
sequence stays gapless; instead they are counted, and one marker record says
how many were dropped and why:

- past `max_lines`/`max_bytes`: a single "log limit reached" marker, then
  silence (counted);
- buffer full while the log store is unreachable: counted (and still echoed),
  and a marker with the count is sequenced where the loss happened, as soon
  as there is room again. The deque itself is bounded too: a producer that
  finds it full waits up to the back-pressure budget while the transport is
  healthy (a flood stays lossless), and is refused at once while it fails.

Engine records (`engine()`, `finish()`) pass any limit. Messages whose
arguments could change after the call (anything but str, numbers, bytes,
None) are formatted on the caller's thread, so deferring never changes what
a line says.

`redact`, when set, runs over every message and exception text before it is
kept or echoed (secret values become `***`), on the sender thread where the
lines are formatted: one place, so no output path can skip it.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kuberun.contract import logfields
from kuberun.runtime import redacting, safepoints, speedups
from kuberun.runtime.records import Entry

safepoints.capture_path(__name__)  # an interrupt waits for the way out

ENGINE_LOGGER = "kuberun"
ENGINE = logfields.Origin.ENGINE.value
LOG = logfields.Origin.LOG.value
_TRUNCATED = "…[truncated: line of {size} bytes]"
# Argument types whose text cannot change after the call: formatting them later,
# on the sender thread, gives the very line the caller would have got.
FIXED_TYPES = frozenset({str, int, float, bool, type(None), bytes, complex})

# A healthy transport keeps up with all but a flood; in a flood, the code waits once this
# many records are waiting to be taken, so the backlog (emit → readable latency) stays
# about a batch deep instead of growing to the whole buffer; an outage may still fill the
# buffer. Measured with `bench logs` (100k-line flood, same run): p99 17–24 ms at 500,
# 28–39 ms at 1,000, 46–49 ms at 2,000, 30–120 ms with no such limit, for ~10 % less
# throughput at 500.
PRESSURE_RECORDS = 500
EchoBatch = Callable[[list[Entry]], None]
# `Entry` from a tuple of its fields without the named tuple's Python-level `__new__`.
_new_entry: Callable[[tuple[Any, ...]], Entry] = functools.partial(tuple.__new__, Entry)
# A line: (level, logger, source, message, exception, timestamp, engine?)
Line = tuple[str, str, str, str, "str | None", float, bool]
Redact = Callable[[str], str]


@dataclass
class Counts:
    """What happened to the records of this attempt so far."""

    emitted: int = 0  # every record produced (user and engine), kept or not
    sequenced: int = 0  # records given a sequence number: the last sequence
    user_lines: int = 0  # kept records of user output (what max_lines bounds)
    bytes: int = 0  # message bytes of kept user records (what max_bytes bounds)
    dropped_limit: int = 0  # past max_lines / max_bytes
    dropped_buffer: int = 0  # the buffer was full

    @property
    def dropped(self) -> int:
        return self.dropped_limit + self.dropped_buffer


# What producers append, all plain tuples of plain values (so that `marshal` carries them
# to the delivery process, see `delivering`), told apart by their length:
#   5: a `logging` record to format later  (msg, args, levelname, name, created)
#   7: a line                               (level, logger, source, message, exception,
#                                            timestamp, engine?)
#   2: `(DROPPED, count)`                   producers had to drop `count` records here
#   3: `(FINAL, level, summary)`            the attempt's last record; `summary` is a
#                                           `str.format` template over the counts
#   2: `(REDACT, pattern)`                  secret values to hide from here on
DEFERRED_LENGTH = 5
LINE_LENGTH = 7
DROPPED = "dropped"
FINAL = "final"
REDACT = "redact"


def is_record(item: tuple[Any, ...]) -> bool:
    """Whether an appended item is a record (a deferred `logging` record or a line)."""
    return len(item) in (DEFERRED_LENGTH, LINE_LENGTH)


def summary_text(template: str, counts: Counts) -> str:
    """The final record's text: `template` with the counts' fields (and `dropped`) filled in."""
    fields = dict(vars(counts), dropped=counts.dropped)
    try:
        return template.format_map(fields)
    except (KeyError, ValueError, IndexError):  # a template bug must not lose the final record
        return f"{template} ({counts.user_lines} line(s), {counts.dropped} dropped)"


def shorten(message: str, limit: int = logfields.MAX_MESSAGE_BYTES) -> tuple[str, int]:
    """(message cut to `limit` UTF-8 bytes with a marker, its original size in bytes)."""
    if len(message) * 4 <= limit:  # cannot exceed the limit: skip encoding
        return message, len(message)
    raw = message.encode("utf-8", "replace")
    if len(raw) <= limit:
        return message, len(raw)
    marker = _TRUNCATED.format(size=len(raw))
    cut = raw[: limit - len(marker.encode())].decode("utf-8", "ignore")
    return cut + marker, len(raw)


def record_message(record: logging.LogRecord) -> str:
    """`record.getMessage()`, or a text saying why it failed: a bad format never loses a line."""
    try:
        return record.getMessage()
    except Exception as exc:
        return f"{record.msg!r} % {record.args!r} (formatting failed: {exc})"


def _format(msg: str, args: tuple[Any, ...]) -> str:
    """`msg % args` as `LogRecord.getMessage` does it, or a text saying why it failed."""
    try:
        return msg % args
    except Exception as exc:  # a bad format must not lose the line
        return f"{msg!r} % {args!r} (formatting failed: {exc})"


def record_exception(record: logging.LogRecord) -> str | None:
    """The traceback text (and stack) a record carries, if any."""
    exception = None
    if record.exc_info and record.exc_info[0] is not None:
        exception = "".join(traceback.format_exception(*record.exc_info))
    elif record.exc_text:
        exception = record.exc_text
    if record.stack_info:
        exception = (exception or "") + record.stack_info
    return exception


class Sequencer:
    """The ordered intake of every record, and its conversion into sequenced entries."""

    def __init__(
        self,
        *,
        attempt: int,
        max_lines: int,
        max_bytes: int,
        capacity: int = 10_000,
        pressure: int = PRESSURE_RECORDS,
        backpressure_seconds: float = 5.0,
        echo: EchoBatch | None = None,
        clock: Callable[[], float] = time.time,
        redact: Redact | None = None,
    ) -> None:
        self.attempt = attempt
        self.redact = redact
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.capacity = capacity
        # While the transport is healthy, producers wait once this many records are
        # waiting (the rest of the capacity is for riding out an outage): see `_limit`.
        self.pressure = min(capacity, pressure)
        self._limit = self.pressure
        self.backpressure_seconds = backpressure_seconds
        self.counts = Counts()
        self.healthy = True  # set by the sender: whether the transport delivers
        self._echo = echo
        self._clock = clock
        self._raw: collections.deque[Any] = collections.deque()
        # Producers take the slow path (under `_room`) when this is set: records were
        # dropped and the marker is not in yet, or the attempt is finished.
        self._divert = False
        self._producer_drops = 0
        self._closed = False  # producers: the final record is in
        self._finished = False  # consumer: the final record was taken
        self._unreported_drops = 0
        self._cut = False
        self._room = threading.Condition(threading.Lock())
        self._waiting = 0
        self._counting = threading.Lock()
        self._wake = threading.Event()
        self._idle = False

    # --- producers (any thread) ---------------------------------------------

    def log(self, record: logging.LogRecord) -> bool:
        """Append an accepted `logging` record; False if it was dropped (and counted)."""
        args = record.args
        item: Any
        # Formatted later unless that could change the line: a message that is not a str
        # (its str() may change), a traceback or stack (frames move on), arguments that
        # are a mapping (`%(name)s`) or of a type whose text can change after the call;
        # and a record factory's subclass, whose getMessage may differ.
        if (
            type(record) is logging.LogRecord
            and type(record.msg) is str
            and not (record.exc_info or record.exc_text or record.stack_info)
            and (not args or (type(args) is tuple and FIXED_TYPES.issuperset(map(type, args))))
        ):
            # Only what the line needs: the record itself is freed at once, so a flood
            # reuses hot memory instead of keeping thousands of records alive.
            item = (record.msg, args, record.levelname, record.name, record.created)
        else:
            item = (
                record.levelname,
                record.name,
                LOG,
                record_message(record),
                record_exception(record),
                record.created,
                False,
            )
        raw = self._raw
        if self._divert or len(raw) >= self._limit:
            return self._append_slowly(item)
        raw.append(item)
        if self._idle:
            self._wake.set()
        return True

    def emit(
        self,
        level: str,
        logger: str,
        source: str,
        message: str,
        exception: str | None = None,
        timestamp: float | None = None,
    ) -> bool:
        """Append one line of user output (stdout, stderr, fd); False if it was dropped."""
        item = (
            level,
            logger,
            source,
            message,
            exception,
            self._clock() if timestamp is None else timestamp,
            False,
        )
        raw = self._raw
        if self._divert or len(raw) >= self._limit:
            return self._append_slowly(item)
        raw.append(item)
        if self._idle:
            self._wake.set()
        return True

    def engine(self, level: str, message: str, exception: str | None = None) -> bool:
        """An engine record (source `engine`): outcome, tracebacks, notes; past any limit."""
        item = (level, ENGINE_LOGGER, ENGINE, message, exception, self._clock(), True)
        with self._room:
            if self._closed:
                return False
            self._flush_producer_drops()
            self._raw.append(item)
        self._wake.set()
        return True

    def set_redaction(self, redactor: redacting.Redactor) -> None:
        """Hide `redactor`'s secrets in every record not taken yet, here and (by a record in
        the order) in the delivery process."""
        self.redact = redactor.text if redactor else None
        with self._room:
            self._raw.append((REDACT, redactor.pattern))
        self._wake.set()

    def finish(self, level: str, summary: str) -> None:
        """The final record: `summary_text(summary, counts)` once everything before it is
        counted (a template, not a function, so that it can cross to the delivery process).

        Later output (threads the code left running) only reaches the echo.
        """
        with self._room:
            self._flush_producer_drops()
            self._raw.append((FINAL, level, summary))
            self._closed = self._divert = True
        self._wake.set()

    def _flush_producer_drops(self) -> None:
        if self._producer_drops:  # `_room` held
            self._raw.append((DROPPED, self._producer_drops))
            self._producer_drops = 0
            self._divert = self._closed

    def _append_slowly(self, item: Any) -> bool:
        """The deque is full, records were dropped, or the attempt is finished."""
        with self._room:
            if self._closed:
                self._echo_items([item])
                return False
            if len(self._raw) >= self._limit:
                budget = self.backpressure_seconds if self.healthy else 0.0
                deadline = time.monotonic() + budget
                self._waiting += 1
                try:
                    while len(self._raw) >= self._limit and self.healthy:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._room.wait(remaining)
                finally:
                    self._waiting -= 1
                if len(self._raw) >= self.capacity:
                    self._producer_drops += 1
                    self._divert = True
                    self._echo_items([item])  # dropped from delivery, still on stdout
                    return False
            self._flush_producer_drops()
            self._raw.append(item)
        self._wake.set()
        return True

    def drain(self, limit: int) -> list[Any]:
        """Up to `limit` appended items, as they are (the delivery process's forwarder:
        they are sequenced over there)."""
        raw = self._raw
        popleft = raw.popleft
        items = [popleft() for _ in range(min(limit, len(raw)))]
        if self._waiting:
            with self._room:
                self._room.notify_all()
        return items

    # --- the consumer (the sender thread) -------------------------------------

    def receive(self, items: list[Any]) -> None:
        """Items a producer process drained (`drain`), appended in their order.

        The producers there bounded them already (and counted what they dropped), so
        while the transport is healthy this waits for room (the pipe then fills and the
        producers' own back-pressure applies); while it fails, `take(keep=False)`
        drains at once. Only when nothing takes any more (the sender stopped: `kuberun
        run` is gone) and the capacity is reached are records dropped here, counted where
        they were, as producers count theirs. A redaction applies at once to everything
        not taken yet, as `set_redaction` does in one process.
        """
        for item in items:
            if len(item) == 2 and item[0] == REDACT:
                pattern = item[1]
                self.redact = None if pattern is None else redacting.Redactor.of(pattern).text
        with self._room:
            while len(self._raw) >= self._limit and self.healthy and not self._closed:
                self._waiting += 1
                try:
                    self._room.wait(1.0)
                finally:
                    self._waiting -= 1
            if len(self._raw) >= self.capacity:  # failing and nobody takes: bounded anyway
                dropped = []
                for item in items:  # records counted where they were; markers always kept
                    if is_record(item):
                        dropped.append(item)
                        self._producer_drops += 1
                    else:
                        self._flush_producer_drops()
                        self._raw.append(item)
                self._echo_items(dropped)  # dropped from delivery, still on stdout
            else:
                self._flush_producer_drops()
                self._raw.extend(items)
        self._wake.set()

    @property
    def waiting(self) -> int:
        """Records appended and not yet taken."""
        return len(self._raw)

    def wait(self, timeout: float | None) -> None:
        """Block until something is appended (or `timeout`); returns at once if there is."""
        self._wake.clear()
        self._idle = True
        try:
            if not self._raw:
                self._wake.wait(timeout)
        finally:
            self._idle = False

    def wake(self) -> None:
        """Let a `wait()` return now (closing, abandoning)."""
        self._wake.set()

    def set_healthy(self, healthy: bool) -> None:
        """The transport's state; producers waiting for room stop waiting when it fails."""
        with self._room:
            self.healthy = healthy
            self._limit = self.pressure if healthy else self.capacity
            if not healthy and self._waiting:
                self._room.notify_all()

    def take(self, limit: int, *, keep: bool = True) -> list[Entry]:
        """Sequence up to `limit` appended records, in order; echo them; count them.

        `keep=False` (the buffer is full and the transport failing): user
        records are counted as dropped (and echoed) instead of sequenced.

        This loop is the per-record cost of the whole pipeline on the sender's
        side, paid under the GIL the user's code needs too: counts live in
        locals until the end, and the common record (a `logging.LogRecord`
        with plain arguments) is formatted inline.
        """
        raw = self._raw
        count = min(limit, len(raw))
        if count <= 0:
            return []
        popleft = raw.popleft
        kept: list[Entry] = []
        echoed: list[Entry] = []
        keep_entry, echo_entry = kept.append, echoed.append
        new = _new_entry
        attempt, max_lines, max_bytes = self.attempt, self.max_lines, self.max_bytes
        cheap_size = logfields.MAX_MESSAGE_BYTES // 4
        deferred, line = DEFERRED_LENGTH, LINE_LENGTH
        redact = self.redact
        with self._counting:
            counts = self.counts
            sequenced, lines, nbytes = counts.sequenced, counts.user_lines, counts.bytes
            emitted = counts.emitted
            native = speedups.native
            left = count
            while left > 0:
                if (
                    native is not None
                    and redact is None
                    and keep
                    and not (self._finished or self._cut or self._unreported_drops)
                ):
                    # The plain records at the head, in C; it stops at the first one
                    # that needs a decision below (and leaves that one in the deque).
                    got, sequenced, lines, nbytes = native.take(
                        raw, left, attempt, sequenced, lines, nbytes, max_lines, max_bytes,
                        cheap_size, Entry, LOG,
                    )  # fmt: skip
                    if got:
                        left -= len(got)
                        emitted += len(got)
                        kept += got
                        echoed += got
                        if left <= 0:
                            break
                left -= 1
                item = popleft()
                length = len(item)
                if length == deferred:
                    msg, args, level, logger, timestamp = item
                    message = _format(msg, args) if args else msg
                    source, exception, engine = LOG, None, False
                elif length == line:
                    level, logger, source, message, exception, timestamp, engine = item
                elif item[0] == DROPPED:
                    emitted += item[1]
                    counts.dropped_buffer += item[1]
                    self._unreported_drops += item[1]
                    continue
                elif item[0] == REDACT:
                    continue  # applied when it was appended (`set_redaction`, `receive`)
                else:
                    assert item[0] == FINAL, item
                    self._finished = True
                    emitted += 1
                    counts.sequenced, counts.user_lines, counts.bytes = sequenced, lines, nbytes
                    counts.emitted = emitted
                    entry = self._sequence(item[1], summary_text(item[2], counts), None)
                    sequenced = counts.sequenced
                    keep_entry(entry)
                    echo_entry(entry)
                    continue
                if redact is not None:
                    message = redact(message)
                    if exception is not None:
                        exception = redact(exception)
                if self._finished:  # output after the final record: the echo only
                    echo_entry(
                        new((0, timestamp, level, logger, source, message, attempt, exception))
                    )
                    continue
                emitted += 1
                if engine:
                    message = shorten(message)[0]
                    exception = shorten(exception)[0] if exception is not None else None
                    sequenced += 1
                    entry = new(
                        (sequenced, timestamp, level, logger, source, message, attempt, exception)
                    )
                    keep_entry(entry)
                    echo_entry(entry)
                    continue
                if self._cut:
                    counts.dropped_limit += 1
                    continue
                size = len(message)
                if size > cheap_size:
                    message, size = shorten(message)
                if exception is not None:
                    exception, exception_size = shorten(exception)
                    size += exception_size
                if lines >= max_lines or nbytes + size > max_bytes:
                    self._cut = True
                    counts.dropped_limit += 1
                    counts.sequenced = sequenced
                    marker = self._sequence(
                        "WARNING",
                        f"log limit reached (at most {max_lines} lines and {max_bytes}"
                        " bytes per execution): further output is dropped and counted in the"
                        " final record",
                        None,
                    )
                    sequenced = counts.sequenced
                    keep_entry(marker)
                    echo_entry(marker)
                    continue
                if not keep:
                    counts.dropped_buffer += 1
                    self._unreported_drops += 1
                    echo_entry(
                        new((0, timestamp, level, logger, source, message, attempt, exception))
                    )
                    continue
                if self._unreported_drops:
                    counts.sequenced = sequenced
                    marker = self._sequence(
                        "WARNING",
                        f"{self._unreported_drops} record(s) dropped: the log buffer was full"
                        " while the log store was unreachable",
                        None,
                    )
                    sequenced = counts.sequenced
                    self._unreported_drops = 0
                    keep_entry(marker)
                    echo_entry(marker)
                sequenced += 1
                lines += 1
                nbytes += size
                entry = new(
                    (sequenced, timestamp, level, logger, source, message, attempt, exception)
                )
                keep_entry(entry)
                echo_entry(entry)
            counts.sequenced, counts.user_lines, counts.bytes = sequenced, lines, nbytes
            counts.emitted = emitted
        if self._waiting:
            with self._room:
                self._room.notify_all()
        if self._echo is not None and echoed:
            self._echo(echoed)
        return kept

    def _sequence(self, level: str, message: str, exception: str | None) -> Entry:
        """An engine record with the next sequence number (`_counting` held)."""
        self.counts.sequenced += 1
        return _new_entry(
            (
                self.counts.sequenced,
                self._clock(),
                level,
                ENGINE_LOGGER,
                ENGINE,
                shorten(message if self.redact is None else self.redact(message))[0],
                self.attempt,
                exception,
            )
        )

    def abandon(self) -> int:
        """After the sender gave up: echo what was never taken; how many records that was.

        Records producers dropped meanwhile are counted as dropped, not returned.
        """
        left: list[Any] = []
        while True:
            try:
                left.append(self._raw.popleft())
            except IndexError:
                break
        dropped = sum(item[1] for item in left if item[0] == DROPPED and len(item) == 2)
        with self._room:
            dropped += self._producer_drops
            self._producer_drops = 0
        with self._counting:
            self.counts.emitted += dropped
            self.counts.dropped_buffer += dropped
        self._echo_items(left)
        return sum(1 for item in left if is_record(item))

    def _echo_items(self, items: Iterable[Any]) -> None:
        """Echo records that will never be sequenced (dropped, or after the end)."""
        if self._echo is None:
            return
        entries = []
        for item in items:
            if len(item) == DEFERRED_LENGTH:
                msg, args, level, logger, timestamp = item
                source, message, exception = LOG, _format(msg, args) if args else msg, None
            elif len(item) == LINE_LENGTH:
                level, logger, source, message, exception, timestamp, _ = item
            else:
                continue
            if self.redact is not None:
                message = self.redact(message)
                exception = None if exception is None else self.redact(exception)
            entries.append(
                Entry(0, timestamp, level, logger, source, message, self.attempt, exception)
            )
        if entries:
            self._echo(entries)

    def snapshot(self) -> Counts:
        """A consistent copy of the counts (of what was taken so far)."""
        with self._counting:
            counts = Counts(**vars(self.counts))
        with self._room:
            counts.emitted += self._producer_drops
            counts.dropped_buffer += self._producer_drops
        return counts
