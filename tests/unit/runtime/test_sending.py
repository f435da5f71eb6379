"""The sender: order, batching, retry after failures, bounded buffer, exact counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from kuberun.runtime.records import Entry
from kuberun.runtime.sending import Sender
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


def entry(n: int) -> Entry:
    return Entry(n, 0.0, "INFO", "", "stdout", f"m{n}", 1)


def sender(transport: FlakyTransport, capacity: int = 100) -> Sender:
    return Sender(
        transport,
        capacity=capacity,
        batch_records=10,
        backpressure_seconds=0.5,
        max_retry_seconds=0.05,
        warn=lambda text: None,
    )


def test_everything_arrives_once_in_order_in_batches() -> None:
    transport = FlakyTransport()
    s = sender(transport)
    s.start()
    for n in range(1, 51):
        assert s.offer(entry(n))
    assert s.close(2.0) == 0
    delivered = [n for batch in transport.batches for n in batch]
    assert delivered == list(range(1, 51))
    assert max(len(b) for b in transport.batches) <= 10
    assert (s.offered, s.delivered, s.last_delivered_sequence) == (50, 50, 50)


def test_failed_batches_are_retried_after_recovery() -> None:
    transport = FlakyTransport()
    transport.up.clear()
    s = sender(transport)
    s.start()
    for n in range(1, 21):
        s.offer(entry(n))
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
    s = sender(transport, capacity=10)
    s.start()
    accepted = 0
    started = time.monotonic()
    for n in range(1, 100):
        if s.offer(entry(accepted + 1)):
            accepted += 1
        if not s.healthy and n > 40:
            break
    assert time.monotonic() - started < 1.0  # never blocked for the backpressure budget
    assert accepted <= 21  # the buffer plus one batch in flight
    assert s.close(0.2) == accepted


def test_backpressure_waits_for_a_healthy_but_slow_transport() -> None:
    class Slow(FlakyTransport):
        def send(self, batch: Sequence[Entry]) -> None:
            time.sleep(0.01)
            super().send(batch)

    transport = Slow()
    s = sender(transport, capacity=10)
    s.start()
    for n in range(1, 101):
        assert s.offer(entry(n))  # waits for room instead of dropping
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
    s = Sender(
        transport,
        capacity=10,
        batch_records=10,
        backpressure_seconds=5.0,
        max_retry_seconds=0.05,
        warn=lambda text: None,
    )
    s.start()
    threading.Timer(0.1, release.set).start()
    started = time.monotonic()
    accepted = [s.offer(entry(n)) for n in range(1, 40)]
    # Producers waited (the transport looked healthy) only until the send failed,
    # not for the 5 s backpressure budget; then they were refused at once.
    assert time.monotonic() - started < 1.0
    assert not all(accepted)
    s.close(0.1)


def test_records_the_store_rejected_as_not_theirs_are_undelivered() -> None:
    """A transport that finds another writer's entry at a record's id: lost, not delivered."""

    class Taken:
        def send(self, batch: Sequence[Entry]) -> int | None:
            return 1 if any(e.sequence == 2 for e in batch) else None

        def close(self) -> None:
            return None

    warnings: list[str] = []
    sender = Sender(
        Taken(),
        capacity=10,
        batch_records=1,
        backpressure_seconds=1,
        max_retry_seconds=0.1,
        warn=warnings.append,
    )
    sender.start()
    for seq in (1, 2, 3):
        assert sender.offer(Entry(seq, 1.0, "INFO", "x", "log", f"line {seq}", 1))
    assert sender.close(5) == 1
    assert (sender.delivered, sender.lost) == (2, 1)
    assert any("rejected" in text for text in warnings)
