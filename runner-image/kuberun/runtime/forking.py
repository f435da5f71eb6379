"""Fork the runner's process without losing a signal sent to the child while it starts.

The runner handles SIGTERM, SIGINT and its interrupt signal in Python, and a
forked child (a `multiprocessing` worker) inherits those handlers until its
after-fork hook puts the defaults back. A signal that reaches the child in
between is caught by the inherited handler and then discarded (CPython clears
signals tripped before the fork, and the Python handler that would run is the
default by then): the child lives on. Under CPU load that window is wide — a
`Pool` worker that was not scheduled yet when `Pool.terminate()` sent it
SIGTERM survived it, then blocked for ever on the task queue's lock, and the
parent joined it for ever.

So these signals are blocked in the forking thread from just before the fork
until the hooks ran: the child gets the defaults while they are blocked, and a
SIGTERM that came meanwhile is delivered, and kills it, the moment they are
unblocked. The parent unblocks them at once after the fork (a signal sent to
it meanwhile is only delayed by the fork itself).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable


class ForkGuard:
    """Blocks `signals` across `os.fork()`; `child` runs in the child while they are blocked."""

    def __init__(self, signals: Iterable[signal.Signals], child: Callable[[], None]) -> None:
        self.signals = frozenset(signals)
        self._child = child
        self._masks = threading.local()  # forks may happen on several threads

    def install(self) -> None:
        os.register_at_fork(
            before=self._before, after_in_parent=self._restore, after_in_child=self._in_child
        )

    def _before(self) -> None:
        self._masks.previous = signal.pthread_sigmask(signal.SIG_BLOCK, self.signals)

    def _restore(self) -> None:
        previous = getattr(self._masks, "previous", None)
        if previous is not None:
            self._masks.previous = None
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _in_child(self) -> None:
        try:
            self._child()
        finally:
            self._restore()
