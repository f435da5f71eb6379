"""Echo records as text lines to the process's original stdout, so `kubectl logs` works
even when Redis is away. Buffered: the producer only appends to an in-memory
buffer; the sender thread flushes after each batch."""

from __future__ import annotations

import contextlib
import io
import os
import time

from kuberun.runtime.records import Entry


class Echo:
    """`HH:MM:SS.mmm LEVEL logger: message` lines on a file descriptor."""

    def __init__(self, fd: int) -> None:
        self._file = io.BufferedWriter(io.FileIO(fd, "wb", closefd=False), buffer_size=1 << 16)
        self._second = -1
        self._prefix = ""

    def __call__(self, entry: Entry) -> None:
        whole = int(entry.timestamp)
        if whole != self._second:  # strftime once a second, not once a line
            self._second = whole
            self._prefix = time.strftime("%H:%M:%S", time.localtime(whole))
        millis = int((entry.timestamp - whole) * 1000)
        who = entry.logger or entry.source
        line = f"{self._prefix}.{millis:03d} {entry.level:<7} {who}: {entry.message}\n"
        if entry.exception:
            line += entry.exception.rstrip("\n") + "\n"
        with contextlib.suppress(OSError, ValueError):
            self._file.write(line.encode("utf-8", "replace"))

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
