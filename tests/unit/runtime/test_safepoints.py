"""Every runner module a `print` or `logging` call runs through defers interrupts.

The capture path's modules declare themselves (`safepoints.capture_path`); this
profiles real calls into it — while delivering, with the buffer full, after the
final record — and fails if one runs through a runner module that has not, so
a rename, a split or a new helper cannot silently open a place where a cancel
raises inside the runner's own state.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from kuberun.runtime import cancelling, capturing, safepoints
from kuberun.runtime.echoing import Echo
from kuberun.runtime.sequencing import Sequencer
from kuberun.sdk.context import Cancellation
from kuberun.sdk.errors import ExecutionCancelled


class _NoDeferral:
    deferred = False

    def raise_deferred(self) -> None:
        raise AssertionError("nothing was deferred")


def _runner_modules_entered(calls: Any) -> set[str]:
    entered: set[str] = set()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            module = str(frame.f_globals.get("__name__", ""))
            if module.startswith("kuberun."):
                entered.add(module)

    sys.setprofile(profile)
    try:
        calls()
    finally:
        sys.setprofile(None)
    return entered


@pytest.fixture
def echo_fd() -> Iterator[int]:
    fd = os.open(os.devnull, os.O_WRONLY)
    yield fd
    os.close(fd)


@pytest.mark.parametrize("state", ["delivering", "buffer-full", "finished"])
def test_every_module_on_the_capture_path_defers_interrupts(state: str, echo_fd: int) -> None:
    sequencer = Sequencer(
        attempt=1, max_lines=1000, max_bytes=1_000_000, capacity=4, pressure=4,
        backpressure_seconds=0.0, echo=Echo(echo_fd),
    )  # fmt: skip
    if state == "buffer-full":
        for i in range(4):
            sequencer.emit("INFO", "", "stdout", f"filler {i}")
    elif state == "finished":
        sequencer.finish("INFO", "end")
    writer = capturing.LineWriter(sequencer, capturing.STDOUT, 1, _NoDeferral())
    handler = capturing.LogHandler(
        sequencer, capturing.Workspace([], [], ["app"]), logging.DEBUG, _NoDeferral()
    )
    logger = logging.getLogger("app")
    logger.addHandler(handler)
    logger.propagate = False

    def user_code() -> None:
        print("hello", 1, file=writer)
        writer.write("partial")
        writer.write(" line\nnext")
        writer.flush_partial()
        writer.buffer.write(b"bytes\n")
        logger.info("m %s", "x")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")

    try:
        entered = _runner_modules_entered(user_code)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert entered, "the capture path ran no runner module"
    undeclared = entered - safepoints.capture_modules()
    assert not undeclared, f"on the capture path but not declared: {sorted(undeclared)}"


def test_an_interrupt_in_the_capture_path_is_deferred_and_in_user_code_it_is_not() -> None:
    frames: list[FrameType] = []

    def echo(entries: object) -> None:
        frames.append(sys._getframe(1))  # the sequencer's frame, as a signal would see it

    sequencer = Sequencer(attempt=1, max_lines=10, max_bytes=100, capacity=0, echo=echo)
    sequencer.finish("INFO", "end")
    sequencer.emit("INFO", "", "stdout", "x")  # after the end: echoed on the caller's thread
    assert frames and safepoints.in_capture(frames[0])
    assert not safepoints.in_capture(sys._getframe())

    cancellation = Cancellation()
    interrupter = cancelling.Interrupter(cancellation)
    cancellation.request("stop")
    with pytest.raises(ExecutionCancelled), interrupter.sync_code():
        interrupter._on_signal(cancelling.INTERRUPT_SIGNAL, frames[0])  # deferred: no raise
        assert interrupter.deferred
        interrupter._on_signal(cancelling.INTERRUPT_SIGNAL, sys._getframe())  # user code
