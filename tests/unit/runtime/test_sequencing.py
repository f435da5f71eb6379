"""One gapless order, limits with one marker, drops counted and reported."""

from __future__ import annotations

import logging
import threading
import time

from kuberun.contract import logrecord
from kuberun.runtime.records import Entry
from kuberun.runtime.sequencing import Sequencer, shorten


def make(**limits: int) -> Sequencer:
    return Sequencer(
        attempt=2,
        max_lines=limits.get("max_lines", 1000),
        max_bytes=limits.get("max_bytes", 1_000_000),
        capacity=limits.get("capacity", 1000),
        backpressure_seconds=0.0,
        clock=lambda: 100.0,
    )


def test_sequences_are_gapless_from_one_and_carry_the_attempt() -> None:
    seq = make()
    for i in range(5):
        seq.emit("INFO", "app", "log", f"m{i}")
    entries = seq.take(100)
    assert [e.sequence for e in entries] == [1, 2, 3, 4, 5]
    assert {e.attempt for e in entries} == {2}
    assert entries[0].stream_id() == "2-1"


def test_records_are_sequenced_in_the_order_they_were_appended_across_takes() -> None:
    seq = make()
    record = logging.LogRecord("app", logging.INFO, "/ws/a.py", 1, "n=%d", (1,), None)
    seq.log(record)
    seq.emit("INFO", "", "stdout", "printed")
    first = seq.take(1)
    seq.engine("INFO", "note")
    rest = seq.take(10)
    assert [(e.sequence, e.message) for e in first + rest] == [
        (1, "n=1"),
        (2, "printed"),
        (3, "note"),
    ]
    assert rest[-1].source == logrecord.Origin.ENGINE.value


def test_line_limit_emits_one_marker_and_counts_the_rest() -> None:
    seq = make(max_lines=3)
    for i in range(10):
        seq.emit("INFO", "app", "stdout", f"m{i}")
    entries = seq.take(100)
    messages = [e.message for e in entries]
    assert messages[:3] == ["m0", "m1", "m2"]
    assert len(messages) == 4 and "log limit reached" in messages[3]
    assert entries[3].source == logrecord.Origin.ENGINE.value
    counts = seq.snapshot()
    assert (counts.dropped_limit, counts.emitted, counts.sequenced) == (7, 10, 4)
    assert seq.engine("INFO", "final")  # engine records pass the limit
    assert seq.take(10)[-1].sequence == 5


def test_byte_limit() -> None:
    seq = make(max_bytes=25)
    for _ in range(5):
        seq.emit("INFO", "app", "log", "0123456789")
    assert [e.message for e in seq.take(100)][:2] == ["0123456789", "0123456789"]
    assert seq.snapshot().dropped_limit == 3


def test_dropped_while_failing_are_echoed_counted_and_reported_where_they_happened() -> None:
    echoed: list[str] = []
    seq = make()
    seq._echo = lambda entries: echoed.extend(e.message for e in entries)
    seq.emit("INFO", "app", "log", "kept")
    kept = seq.take(10)
    for i in range(3):
        seq.emit("INFO", "app", "log", f"lost{i}")
    assert seq.take(10, keep=False) == []  # the transport fails and the buffer is full
    seq.emit("INFO", "app", "log", "after")
    after = seq.take(10)
    assert [e.sequence for e in kept + after] == [1, 2, 3]
    assert "3 record(s) dropped" in after[0].message
    assert after[1].message == "after"
    assert echoed == ["kept", "lost0", "lost1", "lost2", after[0].message, "after"]
    assert seq.snapshot().dropped_buffer == 3


def test_a_full_deque_refuses_at_once_while_failing_and_marks_the_loss_in_place() -> None:
    seq = make(capacity=2)
    seq.set_healthy(False)
    assert seq.emit("INFO", "app", "log", "a")
    assert seq.emit("INFO", "app", "log", "b")
    assert not seq.emit("INFO", "app", "log", "c")  # full: dropped, not waited for
    assert not seq.emit("INFO", "app", "log", "d")
    assert seq.snapshot().dropped_buffer == 2
    assert [e.message for e in seq.take(10)] == ["a", "b"]
    assert seq.emit("INFO", "app", "log", "e")
    entries = seq.take(10)
    assert [e.message for e in entries][1:] == ["e"]
    assert "2 record(s) dropped" in entries[0].message
    assert [e.sequence for e in entries] == [3, 4]
    assert seq.snapshot().dropped_buffer == 2


def test_a_full_deque_waits_for_room_while_healthy() -> None:
    seq = Sequencer(attempt=1, max_lines=100, max_bytes=10_000, capacity=1, backpressure_seconds=5)
    seq.emit("INFO", "", "stdout", "first")
    threading.Timer(0.05, lambda: seq.take(10)).start()
    assert seq.emit("INFO", "", "stdout", "second")  # waited for the take, not dropped
    assert [e.message for e in seq.take(10)] == ["second"]


def test_the_final_record_counts_everything_before_it_and_later_output_is_only_echoed() -> None:
    echoed: list[str] = []
    seq = make()
    seq._echo = lambda entries: echoed.extend(e.message for e in entries)
    seq.emit("INFO", "", "stdout", "one")
    seq.emit("INFO", "", "stdout", "two")
    seq.finish("INFO", "{user_lines} line(s)")
    assert not seq.emit("INFO", "", "stdout", "late")
    entries = seq.take(10)
    assert [e.message for e in entries] == ["one", "two", "2 line(s)"]
    assert echoed == ["late", "one", "two", "2 line(s)"]


def test_long_lines_are_cut_with_a_marker() -> None:
    text, size = shorten("é" * 40_000)
    assert size == 80_000
    assert len(text.encode()) <= logrecord.MAX_MESSAGE_BYTES
    assert text.endswith("[truncated: line of 80000 bytes]")
    assert shorten("short") == ("short", 5)
    seq = make()
    seq.emit("INFO", "", "stdout", "x" * 100_000)
    entry: Entry = seq.take(1)[0]
    assert entry.message.endswith("[truncated: line of 100000 bytes]")


def test_abandoned_records_are_echoed_and_counted() -> None:
    echoed: list[str] = []
    seq = make()
    seq._echo = lambda entries: echoed.extend(e.message for e in entries)
    seq.emit("INFO", "", "stdout", "never sent")
    assert seq.abandon() == 1
    assert echoed == ["never sent"]


def test_a_record_factorys_own_message_is_kept() -> None:
    class Shouting(logging.LogRecord):
        def getMessage(self) -> str:
            return super().getMessage().upper()

    seq = make()
    seq.log(Shouting("app", logging.INFO, "/ws/a.py", 1, "n=%d", (1,), None))
    seq.log(logging.LogRecord("app", logging.INFO, "/ws/a.py", 1, "n=%d", (2,), None))
    seq.log(logging.LogRecord("app", logging.INFO, "/ws/a.py", 1, "%d %d", (3,), None))
    assert [e.message for e in seq.take(10)] == [
        "N=1",
        "n=2",
        "'%d %d' % (3,) (formatting failed: not enough arguments for format string)",
    ]


def test_while_healthy_a_flood_waits_at_a_shallow_depth_and_an_outage_may_fill_the_buffer() -> None:
    seq = Sequencer(
        attempt=1,
        max_lines=1000,
        max_bytes=10**6,
        capacity=20,
        pressure=5,
        backpressure_seconds=0.05,
    )
    for n in range(5):
        seq.emit("INFO", "", "stdout", f"m{n}")
    started = time.monotonic()
    assert seq.emit("INFO", "", "stdout", "sixth")  # waited for the sender, then kept
    assert time.monotonic() - started >= 0.05
    seq.set_healthy(False)
    started = time.monotonic()
    kept = [seq.emit("INFO", "", "stdout", f"x{n}") for n in range(20)]
    assert time.monotonic() - started < 0.05  # an outage: no waiting, the buffer fills
    assert kept.count(True) == 20 - 6 and seq.snapshot().dropped_buffer == 6


def test_received_items_past_the_capacity_while_failing_are_dropped_and_counted() -> None:
    """The delivery process's intake: a consumer that stopped taking (its reader is gone)
    must not grow without bound."""
    seq = make(capacity=10)
    seq.set_healthy(False)
    seq.receive([("INFO", "", "stdout", f"m{i}", None, 100.0, False) for i in range(10)])
    over = ("INFO", "", "stdout", "over", None, 100.0, False)
    seq.receive([over, ("final", "INFO", "end: {dropped} dropped")])
    assert seq.waiting == 12  # the ten, the drop's marker and the final record
    seq.set_healthy(True)
    entries = seq.take(100)
    assert [e.message for e in entries] == [f"m{i}" for i in range(10)] + ["end: 1 dropped"]
    counts = seq.snapshot()
    assert (counts.dropped_buffer, counts.sequenced) == (1, 11)
