"""Echo records as text lines to the process's original stdout, so `kubectl logs` works
even when Redis is away. Called by the sender thread with each batch it
sequences (never on the user's thread, except for a record dropped there),
buffered, and flushed after each batch it sends."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time

from kuberun.runtime import safepoints, speedups
from kuberun.runtime.records import Entry

safepoints.capture_path(__name__)  # an interrupt waits for the way out

# One echoed line; milliseconds truncated (`%03d` of a float), as `format_text` shows them.
_LINE = "%s.%03d %-7s %s: %s\n"


class Echo:
    """`HH:MM:SS.mmm LEVEL logger: message` lines on a file descriptor."""

    def __init__(self, fd: int) -> None:
        self._file = io.BufferedWriter(io.FileIO(fd, "wb", closefd=False), buffer_size=1 << 16)
        self._second = -1
        self._prefix = ""
        self._lock = threading.Lock()  # the sender, and a producer echoing a dropped record

    def __call__(self, entries: list[Entry]) -> None:
        with self._lock:
            self._write(entries)

    def _write(self, entries: list[Entry]) -> None:
        native = speedups.native
        done = (
            native.echo(entries, self._second, self._prefix)
            if native is not None and type(entries) is list
            else None
        )
        if done is None:
            self._write_python(entries)
            return
        data, self._second, self._prefix = done
        with contextlib.suppress(OSError, ValueError):
            self._file.write(data)

    def _write_python(self, entries: list[Entry]) -> None:
        """One `%` over a repeated template for the whole batch: per line only the values."""
        values: list[object] = []
        add = values.extend
        second, prefix = self._second, self._prefix
        for _, timestamp, level, logger, source, message, _, exception in entries:
            whole = int(timestamp)
            if whole != second:  # strftime once a second, not once a line
                second = whole
                prefix = time.strftime("%H:%M:%S", time.localtime(whole))
            if exception:
                message = f"{message}\n{exception.rstrip()}"
            add((prefix, (timestamp - whole) * 1000, level, logger or source, message))
        self._second, self._prefix = second, prefix
        text = _LINE * len(entries) % tuple(values)
        with contextlib.suppress(OSError, ValueError):
            self._file.write(text.encode("utf-8", "replace"))

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._file.flush()


class Warn:
    """The runner's own messages: straight to the original stderr, never into the user's log."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __call__(self, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self._fd, (text.rstrip("\n") + "\n").encode("utf-8", "replace"))
