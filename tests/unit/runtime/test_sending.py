"""The sender: order, batching, retry after failures, bounded buffer, exact counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from kuberun.runtime.records import Entry
from kuberun.runtime.sending import Sender
from kuberun.runtime.sequencing import Sequencer
from kuberun.runtime.transports import TransportError


class FlakyTransport:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.up = threading.Event()
        self.up.set()
        self.failures = 0

    def send(self, batch: Sequence[Entry]) -> None:
        if not self.up.is_set():
            self.failures += 1
            raise TransportError("down")
        self.batches.append([e.sequence for e in batch])

    def close(self) -> None:
        pass


def sender(
    transport: FlakyTransport, capacity: int = 100, backpressure: float = 0.5
) -> tuple[Sender, Sequencer]:
    sequencer = Sequencer(
        attempt=1,
        max_lines=100_000,
        max_bytes=10_000_000,
        capacity=capacity,
        backpressure_seconds=backpressure,
    )
    s = Sender(
        transport,
        sequencer,
        capacity=capacity,
        batch_records=10,
        max_retry_seconds=0.05,
        warn=lambda text: None,
    )
    return s, sequencer


def line(sequencer: Sequencer, n: int) -> bool:
    return sequencer.emit("INFO", "", "stdout", f"m{n}")


def test_everything_arrives_once_in_order_in_batches() -> None:
    transport = FlakyTransport()
    s, sequencer = sender(transport)
    s.start()
    for n in range(1, 51):
        assert line(sequencer, n)
    assert s.close(2.0) == 0
    delivered = [n for batch in transport.batches for n in batch]
    assert delivered == list(range(1, 51))
    assert max(len(b) for b in transport.batches) <= 10
    assert (s.sequenced, s.delivered, s.last_delivered_sequence) == (50, 50, 50)


def test_a_quiet_stream_is_sent_at_once_one_record_at_a_time() -> None:
    transport = FlakyTransport()
    s, sequencer = sender(transport)
    s.start()
    for n in range(1, 4):
        line(sequencer, n)
        deadline = time.monotonic() + 1
        while s.delivered < n and time.monotonic() < deadline:
            time.sleep(0.001)
    assert transport.batches == [[1], [2], [3]]  # no linger gathering them
    s.close(1.0)


def test_failed_batches_are_retried_after_recovery() -> None:
    transport = FlakyTransport()
    transport.up.clear()
    s, sequencer = sender(transport)
    s.start()
    for n in range(1, 21):
        line(sequencer, n)
    deadline = time.monotonic() + 1
    while transport.failures < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not s.healthy
    transport.up.set()
    assert s.close(2.0) == 0
    assert [n for batch in transport.batches for n in batch] == list(range(1, 21))
    assert s.healthy


def test_full_buffer_while_failing_refuses_at_once_and_close_counts_the_rest() -> None:
    transport = FlakyTransport()
    transport.up.clear()
    s, sequencer = sender(transport, capacity=10, backpressure=5.0)
    s.start()
    started = time.monotonic()
    for n in range(1, 100):
        line(sequencer, n)
    assert time.monotonic() - started < 1.0  # never blocked for the backpressure budget
    assert not s.healthy
    undelivered = s.close(0.2)
    counts = sequencer.snapshot()
    assert 0 < undelivered <= 20  # at most the undelivered list and the deque
    assert counts.dropped_buffer == 99 - undelivered  # every record is delivered or counted


def test_backpressure_waits_for_a_healthy_but_slow_transport() -> None:
    class Slow(FlakyTransport):
        def send(self, batch: Sequence[Entry]) -> None:
            time.sleep(0.01)
            super().send(batch)

    transport = Slow()
    s, sequencer = sender(transport, capacity=10)
    s.start()
    for n in range(1, 101):
        assert line(sequencer, n)  # waits for room instead of dropping
    assert s.close(2.0) == 0
    assert [n for batch in transport.batches for n in batch] == list(range(1, 101))


def test_a_producer_waiting_for_room_stops_waiting_when_the_transport_fails() -> None:
    release = threading.Event()

    class Hanging(FlakyTransport):
        def send(self, batch: Sequence[Entry]) -> None:
            release.wait(1.0)  # the first send hangs, then fails
            self.up.clear()
            super().send(batch)

    transport = Hanging()
    s, sequencer = sender(transport, capacity=10, backpressure=5.0)
    s.start()
    threading.Timer(0.1, release.set).start()
    started = time.monotonic()
    accepted = [line(sequencer, n) for n in range(1, 40)]
    # Producers waited (the transport looked healthy) only until the send failed,
    # not for the 5 s backpressure budget; then they were refused at once.
    assert time.monotonic() - started < 1.0
    assert not all(accepted)
    s.close(0.1)


class PipelinedTransport:
    """Writes now, confirms later; can lose every unconfirmed batch once, like a broken pipe."""

    def __init__(self, fail_confirm_at: int = 0) -> None:
        self.stored: list[int] = []
        self.written: list[list[int]] = []
        self._unconfirmed: list[list[int]] = []
        self._fail_at = fail_confirm_at
        self.confirms = 0
        self.most_in_flight = 0

    def send(self, batch: Sequence[Entry]) -> None:
        self.write(batch)
        self.confirm()

    def write(self, batch: Sequence[Entry]) -> None:
        self.written.append([e.sequence for e in batch])
        self._unconfirmed.append([e.sequence for e in batch])
        self.most_in_flight = max(self.most_in_flight, len(self._unconfirmed))

    def confirm(self) -> None:
        self.confirms += 1
        if self.confirms == self._fail_at:
            self._unconfirmed.clear()  # the connection broke: nothing written is known
            raise TransportError("broken pipe")
        for sequence in self._unconfirmed.pop(0):
            if sequence > (self.stored[-1] if self.stored else 0):
                self.stored.append(sequence)  # an id at or below the top is rejected

    def close(self) -> None:
        pass


def test_a_pipelined_transport_has_at_most_two_batches_on_the_wire_and_resends_after_a_break() -> (
    None
):
    transport = PipelinedTransport(fail_confirm_at=2)
    sequencer = Sequencer(attempt=1, max_lines=10_000, max_bytes=10**7, capacity=1000)
    s = Sender(
        transport,
        sequencer,
        capacity=1000,
        batch_records=10,
        max_retry_seconds=0.01,
        warn=lambda text: None,
    )
    for n in range(1, 301):
        line(sequencer, n)
    s.start()
    assert s.close(5.0) == 0
    assert transport.stored == list(range(1, 301))  # once each, in order
    assert transport.most_in_flight == 2
    resent = [n for batch in transport.written for n in batch]
    assert len(resent) > 300  # what was on the wire at the break went again
    assert s.delivered == 300


def test_records_the_store_rejected_as_not_theirs_are_undelivered() -> None:
    """A transport that finds another writer's entry at a record's id: lost, not delivered."""

    class Taken:
        def send(self, batch: Sequence[Entry]) -> int | None:
            return 1 if any(e.sequence == 2 for e in batch) else None

        def close(self) -> None:
            return None

    warnings: list[str] = []
    sequencer = Sequencer(attempt=1, max_lines=100, max_bytes=10**6, capacity=10)
    sender = Sender(
        Taken(),
        sequencer,
        capacity=10,
        batch_records=1,
        max_retry_seconds=0.1,
        warn=warnings.append,
    )
    for n in (1, 2, 3):
        line(sequencer, n)
    sender.start()
    assert sender.close(5) == 1
    assert (sender.delivered, sender.lost) == (2, 1)
    assert sender.pending == 0
    assert any("rejected" in text for text in warnings)
