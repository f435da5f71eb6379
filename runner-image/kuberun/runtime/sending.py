"""The one sender: a thread that drains a bounded buffer into the transport in batches.

Producers (`offer`, called by the sequencer under its lock) only append to a
deque; all I/O happens on the sender thread, so a log call never waits for
Redis. When the buffer is full:

- while the transport is healthy (just slower than the code), the producer
  waits up to `backpressure_seconds` for room — a log flood stays lossless;
- while the transport is failing, the record is refused at once (the
  sequencer counts it) — user code never blocks on an unreachable Redis.

A failed batch is retried with exponential backoff (capped) until it goes
through or `close()`'s deadline passes; what is left then is counted as
`undelivered`. Records the transport could not store because another writer
holds their ids (`lost`) are undelivered too. Counters are exact:
offered = delivered + undelivered.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable

from kuberun.runtime.records import Entry
from kuberun.runtime.transports import ConsumerGone, Transport, TransportError

_FIRST_RETRY_SECONDS = 0.05
# After waking for a first record, wait this long for more: a burst then goes out
# in one batch (one round trip, one wakeup) instead of dribbling out record by record.
_LINGER_SECONDS = 0.002


class Sender:
    """Owns the buffer and the sender thread."""

    def __init__(
        self,
        transport: Transport,
        *,
        capacity: int,
        batch_records: int,
        backpressure_seconds: float,
        max_retry_seconds: float,
        after_batch: Callable[[], None] | None = None,
        warn: Callable[[str], None] | None = None,
        on_consumer_gone: Callable[[], None] | None = None,
    ) -> None:
        self._transport = transport
        self._capacity = capacity
        self._batch_records = batch_records
        self._backpressure = backpressure_seconds
        self._max_retry = max_retry_seconds
        self._after_batch = after_batch
        self._on_consumer_gone = on_consumer_gone
        self._warn = warn or (lambda text: print(text, file=sys.__stderr__))
        self._queue: collections.deque[Entry] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._idle = False
        self._closing = False
        self._abandon = threading.Event()
        self.healthy = True
        self.offered = 0
        self.delivered = 0
        self.lost = 0  # rejected by the store: their ids hold something else
        self.last_delivered_sequence = 0
        self._thread = threading.Thread(target=self._run, name="kuberun-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, entry: Entry, wait: float | None = None) -> bool:
        """Append one entry; False if the buffer stayed full (see module docstring)."""
        with self._cond:
            if len(self._queue) >= self._capacity:
                budget = wait if wait is not None else (self._backpressure if self.healthy else 0.0)
                deadline = time.monotonic() + budget
                while len(self._queue) >= self._capacity:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._abandon.is_set():
                        return False
                    if wait is None and not self.healthy:
                        return False  # the transport failed while we waited: stop waiting
                    self._cond.wait(remaining)
            self._queue.append(entry)
            self.offered += 1
            if self._idle:
                self._cond.notify_all()
            return True

    @property
    def pending(self) -> int:
        return self.offered - self.delivered

    def close(self, timeout: float) -> int:
        """Deliver what is buffered within `timeout` seconds; returns the count left undelivered."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._abandon.set()
                with self._cond:
                    self._cond.notify_all()
                self._thread.join(1.0)
        with self._cond:
            return self.offered - self.delivered

    def _run(self) -> None:
        while True:
            with self._cond:
                woke = False
                while not self._queue and not self._closing:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                    woke = True
                if not self._queue:
                    return
            if woke and not self._closing and len(self._queue) < self._batch_records:
                time.sleep(_LINGER_SECONDS)  # let a burst gather into one batch
            with self._cond:
                count = min(len(self._queue), self._batch_records)
                batch = [self._queue.popleft() for _ in range(count)]
                self._cond.notify_all()  # producers waiting for room
            if not self._deliver(batch):
                return
            if self._after_batch is not None:
                self._after_batch()

    def _set_unhealthy(self) -> None:
        with self._cond:
            self.healthy = False
            self._cond.notify_all()  # producers waiting for room stop waiting

    def _deliver(self, batch: list[Entry]) -> bool:
        """Send until it goes through (True) or the close deadline abandons it (False)."""
        delay = _FIRST_RETRY_SECONDS
        while True:
            try:
                lost = self._transport.send(batch) or 0
            except TransportError as exc:
                if isinstance(exc, ConsumerGone):
                    # Nobody will ever read again: stop sending (what is left is counted
                    # as undelivered) and tell the runtime.
                    self._set_unhealthy()
                    if self._on_consumer_gone is not None:
                        self._on_consumer_gone()
                    return False
                if self.healthy:
                    self._warn(f"kuberun: log delivery failing, buffering and retrying: {exc}")
                self._set_unhealthy()
                if self._abandon.wait(delay):
                    return False
                delay = min(delay * 2, self._max_retry)
                continue
            except Exception as exc:  # a bug in a transport must not kill the sender silently
                if self.healthy:
                    self._warn(f"kuberun: log delivery error: {type(exc).__name__}: {exc}")
                self._set_unhealthy()
                if self._abandon.wait(delay):
                    return False
                delay = min(delay * 2, self._max_retry)
                continue
            if lost:
                self._warn(
                    f"kuberun: {lost} record(s) rejected: their stream ids hold other entries"
                )
            with self._cond:
                if not self.healthy:
                    self._warn("kuberun: log delivery recovered")
                self.healthy = True
                self.delivered += len(batch) - lost
                self.lost += lost
                self.last_delivered_sequence = batch[-1].sequence
            return True
