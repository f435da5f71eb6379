"""The one sender: a thread that sequences what the code output and sends it in batches.

Producers only append to the sequencer's deque (see `sequencing`); this
thread does the rest, so a log call never waits for Redis and never formats:
it takes what was appended (sequencing, echoing, counting), keeps it in a
bounded list of records not yet delivered, and sends from that list.

Batching adapts by itself: the thread sends whatever is there the moment it
wakes — one record when the code logs now and then (no linger: the line is
readable within a round trip), up to `batch_records` when a backlog built up
while the previous batch was on the wire.

When the undelivered list is full:

- while the transport is healthy (just slower than the code), the thread
  stops taking records, so the deque fills and producers wait up to the
  back-pressure budget for room — a log flood stays lossless;
- while the transport is failing, records are still taken (echoed, counted
  as dropped, a marker later says how many) — user code never blocks on an
  unreachable Redis, and `kubectl logs` keeps up.

A failed batch is retried with exponential backoff (capped; but every
`_FIRST_RETRY_SECONDS` while records would otherwise be dropped) until it goes
through or `close()`'s deadline passes; what is left then is counted as
`undelivered`. Records the transport could not store because another writer
holds their ids (`lost`) are undelivered too. Counters are exact:
sequenced = delivered + undelivered.
"""

from __future__ import annotations

import collections
import functools
import sys
import threading
import time
from collections.abc import Callable

from kuberun.runtime.records import Entry
from kuberun.runtime.sequencing import Sequencer
from kuberun.runtime.transports import ConsumerGone, Pipelined, Transport, TransportError

_FIRST_RETRY_SECONDS = 0.05
# The interpreter hands the GIL to a waiting thread after this long (default 5 ms).
# The sender gives the GIL up at every socket call and needs it back to go on, so with
# 5 ms each batch waited up to 15 ms for the user's busy loop and a flood's backlog grew
# to the buffer's bound; 1 ms keeps it short, for a few hundred switches a second more.
SWITCH_INTERVAL_SECONDS = 0.001
# An idle sender still wakes this often: a safety net, never a delay (a record
# appended wakes it at once).
_IDLE_WAKE_SECONDS = 1.0


class Sender:
    """Owns the undelivered records and the sender thread."""

    def __init__(
        self,
        transport: Transport,
        sequencer: Sequencer,
        *,
        capacity: int,
        batch_records: int,
        max_retry_seconds: float,
        after_batch: Callable[[], None] | None = None,
        warn: Callable[[str], None] | None = None,
        on_consumer_gone: Callable[[], None] | None = None,
    ) -> None:
        self._transport = transport
        self._sequencer = sequencer
        self._capacity = capacity
        self._batch_records = batch_records
        self._max_retry = max_retry_seconds
        self._after_batch = after_batch
        self._on_consumer_gone = on_consumer_gone
        self._warn = warn or (lambda text: print(text, file=sys.__stderr__))
        self._pending: collections.deque[Entry] = collections.deque()
        self._closing = False
        self._abandon = threading.Event()
        self._gone = False
        self._lock = threading.Lock()
        self.healthy = True
        self.sequenced = 0
        self.delivered = 0
        self.lost = 0  # rejected by the store: their ids hold something else
        self.last_delivered_sequence = 0
        self._thread = threading.Thread(target=self._run, name="kuberun-sender", daemon=True)
        # Redis: the next batch is packed while the previous one is processed (at most
        # two on the wire); records stay in `_pending` until their batch is confirmed.
        self._pipelined = transport if isinstance(transport, Pipelined) else None
        self._in_flight: collections.deque[int] = collections.deque()
        self._lost_now = 0  # rejected as not ours in what the last step confirmed

    def when_consumer_gone(self, callback: Callable[[], None]) -> None:
        """Call `callback` (once) if the reader of the records is gone for good."""
        self._on_consumer_gone = callback

    def start(self) -> None:
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))
        self._thread.start()

    @property
    def pending(self) -> int:
        """Records appended or sequenced and not yet delivered."""
        return self._sequencer.waiting + self.sequenced - self.delivered - self.lost

    def close(self, timeout: float) -> int:
        """Deliver everything within `timeout` seconds; returns the count left undelivered."""
        self._closing = True
        self._sequencer.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._abandon.set()
                self._sequencer.wake()
                self._thread.join(1.0)
        with self._lock:
            left = self.sequenced - self.delivered
        return left + self._sequencer.abandon()

    def _run(self) -> None:
        sequencer, pending = self._sequencer, self._pending
        retry_at = attempted = 0.0
        delay = _FIRST_RETRY_SECONDS
        while not self._abandon.is_set():
            if not pending and not sequencer.waiting:
                if self._closing:
                    return
                sequencer.wait(_IDLE_WAKE_SECONDS)
                continue
            room = self._capacity - len(pending)
            if room > 0:
                # A batch at a time while sending goes well, so a backlog goes out as it is
                # sequenced; everything while it fails, so the echo keeps up.
                taken = sequencer.take(min(room, self._batch_records) if self.healthy else room)
            elif not self.healthy and time.monotonic() - attempted >= _FIRST_RETRY_SECONDS:
                taken = []  # records would be dropped: first see whether the store is back
                retry_at = 0.0
            elif not self.healthy:
                taken = sequencer.take(self._capacity, keep=False)  # echoed, counted as dropped
            else:
                taken = []  # healthy but behind: leave records to the producers' back-pressure
            if taken:
                pending.extend(taken)
                with self._lock:
                    self.sequenced += len(taken)
            if not pending:
                continue
            if not self.healthy:
                now = time.monotonic()
                if now < retry_at:
                    sequencer.wait(retry_at - now)  # wakes early to take (and echo) new records
                    continue
            attempted = time.monotonic()
            if self._pipelined is not None:
                done = self._pipeline(self._pipelined)
            else:
                batch = [pending[i] for i in range(min(len(pending), self._batch_records))]
                done = (
                    len(batch)
                    if self._attempt(functools.partial(self._transport.send, batch))
                    else 0
                )
            lost, self._lost_now = self._lost_now, 0
            if done is None:
                continue  # a batch went out; take and pack the next while it is processed
            if done:
                for _ in range(done):
                    entry = pending.popleft()
                if lost:
                    self._warn(
                        f"kuberun: {lost} record(s) rejected: their stream ids hold other entries"
                    )
                with self._lock:
                    self.delivered += done - lost
                    self.lost += lost
                    self.last_delivered_sequence = entry.sequence
                delay = _FIRST_RETRY_SECONDS
                if self._after_batch is not None:
                    self._after_batch()
            elif self._gone:
                return
            else:
                self._in_flight.clear()
                retry_at = time.monotonic() + delay
                delay = min(delay * 2, self._max_retry)

    def _pipeline(self, transport: Pipelined) -> int | None:
        """Write the next batch, or confirm the oldest: records confirmed, None (wrote one), 0
        (failed)."""
        pending, in_flight = self._pending, self._in_flight
        flying = sum(in_flight)
        if flying < len(pending) and len(in_flight) < 2:
            batch = [
                pending[i] for i in range(flying, min(len(pending), flying + self._batch_records))
            ]
            if not self._attempt(functools.partial(transport.write, batch), confirms=False):
                return 0
            in_flight.append(len(batch))
            if len(in_flight) < 2 and self._sequencer.waiting:
                return None
        if not self._attempt(transport.confirm):
            return 0
        return in_flight.popleft()

    def _set_healthy(self, healthy: bool) -> None:
        if healthy != self.healthy:
            self.healthy = healthy
            self._sequencer.set_healthy(healthy)

    def _attempt(self, step: Callable[[], int | None], *, confirms: bool = True) -> bool:
        """One attempt at one step of sending; True once it went through (the records
        the store rejected as not theirs are added to `_lost_now`).

        Only a step that read the store's answer (`confirms`) says delivery works again: a
        write into a socket succeeds while Redis is black-holed, until its buffer is full.
        """
        try:
            lost = step()
        except TransportError as exc:
            if isinstance(exc, ConsumerGone):
                # Nobody will ever read again: stop sending (what is left is counted
                # as undelivered) and tell the runtime.
                self._gone = True
                self._set_healthy(False)
                if self._on_consumer_gone is not None:
                    self._on_consumer_gone()
                return False
            if self.healthy:
                self._warn(f"kuberun: log delivery failing, buffering and retrying: {exc}")
            self._set_healthy(False)
            return False
        except Exception as exc:  # a bug in a transport must not kill the sender silently
            if self.healthy:
                self._warn(f"kuberun: log delivery error: {type(exc).__name__}: {exc}")
            self._set_healthy(False)
            return False
        if not confirms:
            return True
        if not self.healthy:
            self._warn("kuberun: log delivery recovered")
        self._set_healthy(True)
        self._lost_now += lost or 0
        return True
