"""The delivery process: what producers append in this process comes out of the forked one
in order, once, with the counts of one process; its death loses nothing silently."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kuberun.contract import pipe
from kuberun.runtime import redacting
from kuberun.runtime.delivering import Delivery
from kuberun.runtime.sending import Sender
from kuberun.runtime.sequencing import Sequencer
from kuberun.runtime.transports import PipeTransport


class PipeReader:
    """Reads what the delivery process writes into a pipe (the `kuberun run` protocol)."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.records: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        data = b""
        while chunk := os.read(self.read_end, 1 << 16):
            data += chunk
        for line in data.splitlines():
            decoded = pipe.decode(line)
            if decoded is not None and decoded[0] == pipe.RECORD:
                self.records.append(decoded[1])

    def done(self) -> list[dict[str, Any]]:
        os.close(self.write_end)  # the child's copy closed when it exited
        self._thread.join(10)
        return self.records


def make(
    reader: PipeReader, *, capacity: int = 10_000, process: bool = True
) -> tuple[Delivery, Sequencer, list[str]]:
    warnings: list[str] = []

    def make_sequencer() -> Sequencer:
        return Sequencer(
            attempt=1,
            max_lines=100_000,
            max_bytes=10_000_000,
            capacity=capacity,
            backpressure_seconds=0.5,
        )

    def make_sender(sequencer: Sequencer, after_batch: Callable[[], None]) -> Sender:
        return Sender(
            PipeTransport(reader.write_end),
            sequencer,
            capacity=capacity,
            batch_records=100,
            max_retry_seconds=0.05,
            after_batch=after_batch,
            warn=warnings.append,
        )

    sequencer = make_sequencer()
    delivery = Delivery(
        sequencer, make_sequencer, make_sender, process=process, warn=warnings.append
    )
    return delivery, sequencer, warnings


@pytest.fixture
def reader() -> Iterator[PipeReader]:
    yield PipeReader()


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("app", logging.INFO, __file__, 1, message, args, None)


@pytest.mark.parametrize("process", [True, False], ids=["process", "thread"])
def test_every_record_arrives_once_in_order_with_exact_counts(
    reader: PipeReader, process: bool
) -> None:
    delivery, sequencer, warnings = make(reader, process=process)
    delivery.start()
    for n in range(5_000):
        if n % 2:
            assert sequencer.log(record("log %d of %s", n, "many"))
        else:
            assert sequencer.emit("INFO", "", "stdout", f"print {n}")
    sequencer.engine("INFO", "an engine note")
    sequencer.finish("INFO", "done: {user_lines} line(s), {dropped} dropped")
    assert delivery.close(10.0) == 0
    records = reader.done()
    assert [r["sequence"] for r in records] == list(range(1, 5_003))
    messages = [r["message"] for r in records]
    assert messages[:3] == ["print 0", "log 1 of many", "print 2"]
    assert messages[-2:] == ["an engine note", "done: 5000 line(s), 0 dropped"]
    counts = delivery.snapshot()
    assert (counts.emitted, counts.sequenced, counts.user_lines, counts.dropped) == (
        5_002,
        5_002,
        5_000,
        0,
    )
    assert delivery.pending == 0
    assert delivery.healthy
    assert warnings == []


def test_secrets_are_hidden_in_the_delivery_process(reader: PipeReader) -> None:
    delivery, sequencer, _ = make(reader)
    delivery.start()
    sequencer.set_redaction(redacting.Redactor(["hunter22"]))
    sequencer.log(record("password is %s", "hunter22"))
    sequencer.emit("INFO", "", "stdout", "printed hunter22 too")
    sequencer.finish("INFO", "end")
    assert delivery.close(10.0) == 0
    assert [r["message"] for r in reader.done()] == ["password is ***", "printed *** too", "end"]


def test_values_marshal_cannot_carry_still_arrive_as_text(reader: PipeReader) -> None:
    delivery, sequencer, _ = make(reader)
    delivery.start()

    class Odd(str):
        """A str subclass as a logger name: `marshal` refuses it."""

    sequencer.emit("INFO", Odd("odd"), "log", "an odd logger")
    sequencer.finish("INFO", "end")
    assert delivery.close(10.0) == 0
    records = reader.done()
    assert [(r["logger"], r["message"]) for r in records] == [
        ("odd", "an odd logger"),
        ("kuberun", "end"),
    ]


def test_a_killed_delivery_process_is_counted_and_never_blocks_the_code(
    reader: PipeReader,
) -> None:
    delivery, sequencer, warnings = make(reader, capacity=200)
    delivery.start()
    for n in range(100):
        sequencer.emit("INFO", "", "stdout", f"before {n}")
    deadline = time.monotonic() + 5
    while delivery.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(delivery.pid, signal.SIGKILL)  # the fault under test
    started = time.monotonic()
    for n in range(1_000):  # past every buffer: dropped and counted, at once
        sequencer.emit("INFO", "", "stdout", f"after {n}")
    assert time.monotonic() - started < 2.0  # never the 0.5 s back-pressure per line
    sequencer.finish("INFO", "end")
    undelivered = delivery.close(2.0)
    counts = delivery.snapshot()
    delivered = reader.done()
    assert [r["message"] for r in delivered] == [f"before {n}" for n in range(100)]
    assert undelivered + counts.dropped == 1_000  # every later record is accounted for
    assert any("delivery process is gone" in text for text in warnings), warnings
