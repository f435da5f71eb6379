"""What the runner changes in its own process so the code's output and exits are its:
the capture of `print`/`logging`/fd 1 and 2, the signal handlers, the `os._exit`
wrapper, the fork hooks, and the threads that deliver.

`install()` puts them in place before the code is loaded; `stop_capture()` takes
the output capture down at the end (partial lines flushed, fd 1/2 restored) so
the final records are the last ones. The process's real `os._exit` is kept in
`REAL_EXIT` for the ending, which must exit past the wrapper.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from kuberun.runtime import cancelling, capturing, forking
from kuberun.sdk import context as sdk_context

if TYPE_CHECKING:
    from kuberun.runtime.delivering import Delivery
    from kuberun.runtime.echoing import Echo, Warn
    from kuberun.runtime.sequencing import Sequencer
    from kuberun.runtime.settings import Settings

REAL_EXIT = os._exit
# Partial lines (no newline yet) are sent after this long; the flusher looks this often.
_PARTIAL_POLL_SECONDS = 0.2


class ProcessHooks:
    """The runner's hold on the process for one attempt (installed once, never undone
    but for the output capture: the process ends with the attempt)."""

    def __init__(
        self,
        settings: Settings,
        *,
        log_level: int,
        out_fd: int,
        err_fd: int,
        warn: Warn,
        echo: Echo | None,
        sequencer: Sequencer,
        delivery: Delivery,
        interrupter: cancelling.Interrupter,
        watcher: cancelling.Watcher,
        handler: capturing.LogHandler,
        context: sdk_context.ExecutionContext,
        user_exit: Callable[[int], NoReturn],
    ) -> None:
        self.settings = settings
        self._log_level = log_level
        self._out_fd = out_fd
        self._err_fd = err_fd
        self._warn = warn
        self._echo = echo
        self._sequencer = sequencer
        self._delivery = delivery
        self._interrupter = interrupter
        self._watcher = watcher
        self._handler = handler
        self._context = context
        self._user_exit = user_exit
        self.pid = os.getpid()
        self.writers: list[capturing.LineWriter] = []
        self.fd_captures: list[capturing.FdCapture] = []
        self._partial_stop = threading.Event()

    def install(self) -> None:
        """Capture, signal handlers, threads. After this, user output goes to the sequencer."""
        # First: the delivery process is forked while this process has one thread and its
        # fd 1/2 are still its own (a child holding the capture pipes would keep them open).
        self._delivery.start()
        for fd in (self._out_fd, self._err_fd):
            os.set_inheritable(fd, False)
        with contextlib.suppress(Exception):
            faulthandler.enable(file=self._err_fd, all_threads=True)
        if self.settings.capture_fds:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, source in ((1, capturing.STDOUT), (2, capturing.STDERR)):
                try:
                    self.fd_captures.append(capturing.FdCapture(self._sequencer, fd, source))
                except OSError as exc:
                    self._warn(f"kuberun: cannot capture fd {fd}: {exc}")
        self.writers = [
            capturing.LineWriter(self._sequencer, capturing.STDOUT, 1, self._interrupter),
            capturing.LineWriter(self._sequencer, capturing.STDERR, 2, self._interrupter),
        ]
        sys.stdout, sys.stderr = self.writers
        root = logging.getLogger()
        for existing in list(root.handlers):
            root.removeHandler(existing)
        root.addHandler(self._handler)
        root.setLevel(min(self._log_level, logging.WARNING))
        self._interrupter.install()
        self._watcher.install_signal_handlers()
        os._exit = self._user_exit  # type: ignore[assignment]
        forking.ForkGuard(
            (signal.SIGTERM, signal.SIGINT, cancelling.INTERRUPT_SIGNAL), self._after_fork_in_child
        ).install()
        sdk_context.activate(self._context)
        self._watcher.start()
        threading.Thread(target=self._flush_partials, name="kuberun-partial", daemon=True).start()

    def stop_capture(self, budget: float) -> None:
        """End the output capture: partial lines sent, fd 1/2 back (their readers drained)."""
        self._partial_stop.set()
        for writer in self.writers:
            writer.flush_partial()
        for capture in self.fd_captures:
            with contextlib.suppress(OSError):
                capture.restore(timeout=min(1.0, budget / 2))

    def _after_fork_in_child(self) -> None:
        """A forked child (multiprocessing, os.fork) has no sender thread: its output goes
        as plain text to fd 1/2, which the parent's fd capture reads."""
        if os.getpid() == self.pid:
            return
        # The runner's signal handlers only make sense in the runner: a pool worker
        # must die on SIGTERM (Pool.terminate) as it would without the runner. They are
        # blocked until this returns (`forking`), so one sent meanwhile is not lost.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(cancelling.INTERRUPT_SIGNAL, signal.SIG_DFL)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        root = logging.getLogger()
        root.removeHandler(self._handler)
        stream_handler = logging.StreamHandler(sys.stderr)
        stream_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(stream_handler)

    def _flush_partials(self) -> None:
        while not self._partial_stop.wait(_PARTIAL_POLL_SECONDS):
            for writer in self.writers:
                writer.flush_partial(older_than=self.settings.partial_line_seconds)
            if self._echo is not None:
                self._echo.flush()  # also while the sender is stuck retrying an absent Redis
