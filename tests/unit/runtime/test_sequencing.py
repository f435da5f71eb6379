"""One gapless order, limits with one marker, drops counted and reported."""

from __future__ import annotations

from kuberun.contract import logrecord
from kuberun.runtime.records import Entry
from kuberun.runtime.sequencing import Sequencer, shorten


class Sink:
    def __init__(self, capacity: int = 1_000_000) -> None:
        self.entries: list[Entry] = []
        self.capacity = capacity

    def __call__(self, entry: Entry, wait: float | None) -> bool:
        if len(self.entries) >= self.capacity:
            return False
        self.entries.append(entry)
        return True


def make(sink: Sink, **limits: int) -> Sequencer:
    return Sequencer(
        attempt=2,
        max_lines=limits.get("max_lines", 1000),
        max_bytes=limits.get("max_bytes", 1_000_000),
        sink=sink,
        clock=lambda: 100.0,
    )


def test_sequences_are_gapless_from_one_and_carry_the_attempt() -> None:
    sink = Sink()
    seq = make(sink)
    for i in range(5):
        seq.emit("INFO", "app", "log", f"m{i}")
    assert [e.sequence for e in sink.entries] == [1, 2, 3, 4, 5]
    assert {e.attempt for e in sink.entries} == {2}
    assert sink.entries[0].stream_id() == "2-1"


def test_line_limit_emits_one_marker_and_counts_the_rest() -> None:
    sink = Sink()
    seq = make(sink, max_lines=3)
    for i in range(10):
        seq.emit("INFO", "app", "stdout", f"m{i}")
    messages = [e.message for e in sink.entries]
    assert messages[:3] == ["m0", "m1", "m2"]
    assert len(messages) == 4 and "log limit reached" in messages[3]
    assert sink.entries[3].source == logrecord.Origin.ENGINE.value
    counts = seq.snapshot()
    assert (counts.dropped_limit, counts.emitted, counts.sequenced) == (7, 11, 4)
    assert seq.engine("INFO", "final")  # engine records pass the limit
    assert sink.entries[-1].sequence == 5


def test_byte_limit() -> None:
    sink = Sink()
    seq = make(sink, max_bytes=25)
    for _ in range(5):
        seq.emit("INFO", "app", "log", "0123456789")
    assert [e.message for e in sink.entries][:2] == ["0123456789", "0123456789"]
    assert seq.snapshot().dropped_limit == 3


def test_a_full_sink_drops_without_a_gap_and_reports_the_count_once_it_has_room() -> None:
    sink = Sink(capacity=2)
    seq = make(sink)
    for i in range(5):
        seq.emit("INFO", "app", "log", f"m{i}")
    assert seq.snapshot().dropped_buffer == 3
    sink.capacity = 100
    seq.emit("INFO", "app", "log", "after")
    assert [e.sequence for e in sink.entries] == [1, 2, 3, 4]
    assert "3 record(s) dropped" in sink.entries[2].message
    assert sink.entries[3].message == "after"


def test_long_lines_are_cut_with_a_marker() -> None:
    text, size = shorten("é" * 40_000)
    assert size == 80_000
    assert len(text.encode()) <= logrecord.MAX_MESSAGE_BYTES
    assert text.endswith("[truncated: line of 80000 bytes]")
    assert shorten("short") == ("short", 5)


def test_after_close_output_only_reaches_the_echo() -> None:
    sink = Sink()
    echoed: list[str] = []
    seq = Sequencer(
        attempt=1, max_lines=10, max_bytes=1000, sink=sink, echo=lambda e: echoed.append(e.message)
    )
    seq.emit("INFO", "", "stdout", "before")
    seq.close()
    assert not seq.emit("INFO", "", "stdout", "late")
    assert [e.message for e in sink.entries] == ["before"]
    assert echoed == ["before", "late"]
