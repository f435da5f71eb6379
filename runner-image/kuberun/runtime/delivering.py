"""The delivery process: with `KUBERUN_DELIVERY_PROCESS=1`, the log pipeline runs beside
the user's code instead of inside it.

Why a process: the code and a sender thread share one GIL, so everything the
sender does per record — formatting, sequencing, the echo, packing the XADD —
is time the user's thread waits for (`bench logs` measured a captured
`logging` call at 2.2× a call into a do-nothing handler with the pipeline as a
thread). So before any user code runs, the runner forks a process that holds
the sequencer's consumer side, the echo, the transport and the `Sender`. The
user's process keeps the producers' deque (`sequencing`) and one forwarder
thread that moves what was appended, a batch at a time, into a pipe: one
`marshal.dumps` per batch (C), and the write releases the GIL.

What crosses:

- parent → child, the pipe: length-prefixed frames, each a `marshal`led list
  of the producers' own items in the order appended (they are plain tuples for
  this), then `(CLOSE, seconds)` at the end. The child sequences them exactly
  as one process would: order, limits and drop counting are unchanged;
- child → parent, one shared page (`_Page`): transport health (the parent's
  producers wait for room only while it is healthy), the counts, what is
  pending, whether `kuberun run` is gone, and at the end what was left
  undelivered; plus one byte on the `done` pipe once the child has closed.

Faults:

- the child dies: the forwarder's write fails; the parent's producers then see
  an unhealthy transport (they never wait), and everything not delivered is
  counted as undelivered at the end;
- the parent dies (SIGKILL, OOM): the child notices (its parent changes),
  delivers what it has within `ORPHAN_FLUSH_SECONDS` and exits, so the lines
  up to the kill are kept;
- the fork fails (a pids limit): the pipeline runs as a thread of the user's
  process, which is also the default (`settings.DELIVERY_PROCESS_ENV` says why).

In a pod the runner is PID 1, so its death (the OOM killer) ends the delivery process
with it; the orphan case is `kuberun run` and any host where the runner is not PID 1.

The child ignores SIGTERM, SIGINT and the interrupt signal: stopping is the
user process's business, and the child ends when that process closes it or
dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import mmap
import os
import select
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from kuberun.runtime.cancelling import INTERRUPT_SIGNAL
from kuberun.runtime.sending import SWITCH_INTERVAL_SECONDS, Sender
from kuberun.runtime.sequencing import FIXED_TYPES, Counts, Sequencer, is_record

CLOSE = "close"
# Items per frame: a frame is written as one `os.write` while the pipe has room.
_FRAME_ITEMS = 1_000
# How often an idle forwarder looks at the child's health, and an idle child at its parent.
_IDLE_POLL_SECONDS = 0.1
# An orphaned child (its parent was killed) delivers what it has for at most this long.
ORPHAN_FLUSH_SECONDS = 5.0
# Beyond the close budget, how long the parent waits for the child to report before it
# kills it (the child's own deadline is the budget; this is only for a stuck child).
_CLOSE_MARGIN_SECONDS = 1.0
_LENGTH = struct.Struct("<I")
# The pipe's capacity: what may wait between the two processes adds to the latency from
# emit to readable under a flood (64 KiB, Linux's default, is ~1,000 records: ~15 ms at
# 60,000 lines/s); the producers' own bound (`sequencing.PRESSURE_RECORDS`) comes first.
PIPE_BYTES = 16 * 1024

MakeSequencer = Callable[[], Sequencer]
MakeSender = Callable[[Sequencer, Callable[[], None]], Sender]


@dataclass(frozen=True)
class _Report:
    """What the child last published on the shared page."""

    healthy: bool
    gone: bool
    closed: bool
    counts: Counts
    pending: int
    received: int
    undelivered: int


class _Page:
    """The shared page the child writes and the parent reads (fixed-size integers)."""

    _LAYOUT = struct.Struct("<12q")
    _FLAGS = struct.Struct("<2q")

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, mmap.PAGESIZE)  # anonymous and shared: survives the fork
        self.write(_Report(True, False, False, Counts(), 0, 0, 0))

    def write(self, report: _Report) -> None:
        c = report.counts
        self._LAYOUT.pack_into(
            self._map,
            0,
            report.healthy,
            report.gone,
            report.closed,
            c.emitted,
            c.sequenced,
            c.user_lines,
            c.bytes,
            c.dropped_limit,
            c.dropped_buffer,
            report.pending,
            report.received,
            report.undelivered,
        )

    def flags(self) -> tuple[int, int]:
        """(healthy, gone): what the forwarder looks at every round, read alone."""
        healthy, gone = self._FLAGS.unpack_from(self._map, 0)
        return healthy, gone

    def read(self) -> _Report:
        (healthy, gone, closed, *counts, pending, received, undelivered) = self._LAYOUT.unpack_from(
            self._map, 0
        )
        return _Report(
            bool(healthy), bool(gone), bool(closed), Counts(*counts), pending, received, undelivered
        )


def _plain(item: tuple[Any, ...]) -> tuple[Any, ...]:
    """An item `marshal` refused (a value of an odd type), with such values as text."""
    return tuple(
        value
        if type(value) in FIXED_TYPES
        else tuple(v if type(v) in FIXED_TYPES else str(v) for v in value)
        if type(value) is tuple
        else str(value)
        for value in item
    )


class Delivery:
    """The user process's side: starts the pipeline (a process, or a thread), forwards,
    answers for it (`pending`, `healthy`, `snapshot`) and closes it."""

    def __init__(
        self,
        sequencer: Sequencer,
        make_sequencer: MakeSequencer,
        make_sender: MakeSender,
        *,
        process: bool,
        warn: Callable[[str], None],
        on_consumer_gone: Callable[[], None] | None = None,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        self._sequencer = sequencer
        self._make_sequencer = make_sequencer
        self._make_sender = make_sender
        self._want_process = process
        self._warn = warn
        self._on_consumer_gone = on_consumer_gone
        self._after_batch = after_batch or (lambda: None)
        self._sender: Sender | None = None  # the pipeline as a thread of this process
        self._pid = 0
        self._page: _Page | None = None
        self._pipe = self._done = -1
        self._thread: threading.Thread | None = None
        self._closing = False
        self._close_deadline = 0.0
        self._dead = False  # the child is gone (a write failed)
        self._gone_seen = False
        self._forwarded = 0  # items written into the pipe
        self._unforwarded = 0  # records lost with a write that failed
        self._final: _Report | None = None

    # --- start -------------------------------------------------------------

    def start(self) -> None:
        """Fork the delivery process (or start the thread). Call before any other thread."""
        if self._want_process:
            try:
                self._fork()
                return
            except OSError as exc:
                self._warn(f"kuberun: cannot start the log delivery process ({exc}): a thread")
        self._sender = self._make_sender(self._sequencer, self._after_batch)
        if self._on_consumer_gone is not None:
            self._sender.when_consumer_gone(self._on_consumer_gone)
        self._sender.start()

    def _fork(self) -> None:
        page = _Page()
        read_end, write_end = os.pipe()
        with contextlib.suppress(OSError):  # a kernel without F_SETPIPE_SZ keeps its default
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        done_read, done_write = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            for fd in (read_end, write_end, done_read, done_write):
                os.close(fd)
            raise
        if pid == 0:
            os.close(write_end)
            os.close(done_read)
            self._serve(read_end, done_write, page, parent)
        os.close(read_end)
        os.close(done_write)
        self._pid, self._page, self._pipe, self._done = pid, page, write_end, done_read
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))
        self._thread = threading.Thread(target=self._forward, name="kuberun-forwarder", daemon=True)
        self._thread.start()

    # --- the parent: what the pipeline says --------------------------------

    @property
    def pid(self) -> int:
        """The delivery process's pid (0: the pipeline runs as a thread)."""
        return self._pid

    def _report(self) -> _Report:
        assert self._page is not None
        return self._final or self._page.read()

    @property
    def healthy(self) -> bool:
        """Whether records reach the log store."""
        if self._sender is not None:
            return self._sender.healthy
        return not self._dead and self._report().healthy

    @property
    def pending(self) -> int:
        """Records appended and not yet delivered (an estimate while it runs)."""
        if self._sender is not None:
            return self._sender.pending
        report = self._report()
        in_pipe = max(0, self._forwarded - report.received)
        return self._sequencer.waiting + in_pipe + report.pending + self._unforwarded

    def snapshot(self) -> Counts:
        """The counts of what was taken (sequenced or dropped) so far."""
        here = self._sequencer.snapshot()  # this side only counts the drops of producers
        if self._sender is not None:
            return here
        there = self._report().counts
        return Counts(**{name: getattr(here, name) + getattr(there, name) for name in vars(here)})

    # --- the parent: forwarding ----------------------------------------------

    def _forward(self) -> None:
        sequencer = self._sequencer
        while True:
            self._follow_child()
            items = sequencer.drain(_FRAME_ITEMS)
            if items:
                if not self._write(items):
                    return
                continue
            if self._closing:
                self._write([(CLOSE, max(0.0, self._close_deadline - time.monotonic()))])
                return
            sequencer.wait(_IDLE_POLL_SECONDS)

    def _follow_child(self) -> None:
        """The child's health to the producers; a gone `kuberun run` to the runtime."""
        assert self._page is not None
        healthy, gone = self._page.flags()
        if bool(healthy) != self._sequencer.healthy:
            self._sequencer.set_healthy(bool(healthy))
        if gone and not self._gone_seen:
            self._gone_seen = True
            if self._on_consumer_gone is not None:
                self._on_consumer_gone()

    def _write(self, items: list[Any]) -> bool:
        try:
            data = marshal.dumps(items)
        except ValueError:
            data = marshal.dumps([_plain(item) for item in items])
        header = _LENGTH.pack(len(data))
        try:
            written = os.writev(self._pipe, [header, data])  # one call, no copy of the batch
            if written < len(header) + len(data):  # the pipe took part of it: the rest in turn
                view = memoryview(header + data)[written:]
                while view:
                    view = view[os.write(self._pipe, view) :]
        except OSError as exc:
            self._dead = True
            self._unforwarded += sum(1 for item in items if is_record(item))
            self._sequencer.set_healthy(False)
            self._warn(f"kuberun: the log delivery process is gone ({exc})")
            return False
        self._forwarded += len(items)  # items, as the child counts what it received
        return True

    # --- the parent: the end -------------------------------------------------

    def close(self, timeout: float) -> int:
        """Deliver everything within `timeout` seconds; returns the count left undelivered."""
        if self._sender is not None:
            return self._sender.close(timeout)
        deadline = self._close_deadline = time.monotonic() + timeout
        self._closing = True
        self._sequencer.wake()
        assert self._thread is not None
        self._thread.join(timeout)
        report = self._wait_for_child(deadline + _CLOSE_MARGIN_SECONDS)
        self._final = report
        left = report.undelivered if report.closed else report.pending
        if not report.closed:
            left += max(0, self._forwarded - report.received)
        return left + self._unforwarded + self._sequencer.abandon()

    def _wait_for_child(self, deadline: float) -> _Report:
        """The child's last report once it closed, or as it stands when it is killed."""
        answer = None
        with contextlib.suppress(OSError):
            ready, _, _ = select.select([self._done], [], [], max(0.0, deadline - time.monotonic()))
            answer = os.read(self._done, 1) if ready else None
        if answer is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._warn("kuberun: the log delivery process did not close in time: stopped")
        elif answer != b"1" and not self._dead:
            self._warn("kuberun: the log delivery process is gone before it closed")
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)
        for fd in (self._pipe, self._done):
            with contextlib.suppress(OSError):
                os.close(fd)
        assert self._page is not None
        return self._page.read()

    # --- the child -------------------------------------------------------------

    def _serve(self, read_end: int, done: int, page: _Page, parent: int) -> NoReturn:
        """The delivery process's main: read frames, sequence and send; never returns."""
        code = 0
        try:
            for signum in (signal.SIGTERM, signal.SIGINT, INTERRUPT_SIGNAL):
                signal.signal(signum, signal.SIG_IGN)
            _Child(
                read_end,
                done,
                page,
                parent,
                self._make_sequencer,
                self._make_sender,
                self._after_batch,
            ).run()
        except BaseException:
            code = 70
            with contextlib.suppress(BaseException):
                self._warn("kuberun: the log delivery process failed:\n" + traceback.format_exc())
        os._exit(code)


class _Child:
    """The delivery process: the pipeline, fed by the frames of the pipe."""

    def __init__(
        self,
        read_end: int,
        done: int,
        page: _Page,
        parent: int,
        make_sequencer: MakeSequencer,
        make_sender: MakeSender,
        flush_echo: Callable[[], None],
    ) -> None:
        self._read_end, self._done, self._page, self._parent = read_end, done, page, parent
        self._make_sequencer, self._make_sender = make_sequencer, make_sender
        self._flush_echo = flush_echo  # also the sender's after-batch step
        self._gone = False
        self._received = 0

    def run(self) -> None:
        sequencer = self._make_sequencer()
        sender = self._make_sender(sequencer, self._flush_echo)
        sender.when_consumer_gone(self._consumer_gone)
        sender.start()
        budget = self._read(sequencer, sender)
        undelivered = sender.close(budget)
        self._publish(sequencer, sender, closed=True, undelivered=undelivered)
        os.write(self._done, b"1")

    def _consumer_gone(self) -> None:
        self._gone = True

    def _publish(
        self, sequencer: Sequencer, sender: Sender, *, closed: bool = False, undelivered: int = 0
    ) -> None:
        """The state to the parent, and the echo out (also while the sender is stuck
        retrying an absent log store: `kubectl logs` keeps up)."""
        self._flush_echo()
        self._page.write(
            _Report(
                sender.healthy,
                self._gone,
                closed,
                sequencer.snapshot(),
                sender.pending,
                self._received,
                undelivered,
            )
        )

    def _read(self, sequencer: Sequencer, sender: Sender) -> float:
        """Frames into the sequencer until `CLOSE` (its budget) or the parent is gone."""
        buffer = bytearray()
        poller = select.poll()
        poller.register(self._read_end, select.POLLIN)
        while True:
            if not poller.poll(_IDLE_POLL_SECONDS * 1000):
                self._publish(sequencer, sender)
                if os.getppid() != self._parent:
                    return ORPHAN_FLUSH_SECONDS
                continue
            chunk = os.read(self._read_end, 1 << 16)
            if not chunk:  # the parent is gone (or closed without a word)
                return ORPHAN_FLUSH_SECONDS
            buffer += chunk
            while len(buffer) >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buffer)
                end = _LENGTH.size + length
                if len(buffer) < end:
                    break
                items = marshal.loads(bytes(buffer[_LENGTH.size : end]))
                del buffer[:end]
                last = items[-1] if items else None
                if last is not None and len(last) == 2 and last[0] == CLOSE:
                    self._receive(sequencer, items[:-1])
                    self._received += 1  # the close itself, as the parent counted it
                    return float(last[1])
                self._receive(sequencer, items)
            self._publish(sequencer, sender)

    def _receive(self, sequencer: Sequencer, items: list[Any]) -> None:
        if items:
            sequencer.receive(items)
            self._received += len(items)
