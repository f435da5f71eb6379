"""Capture `logging`, `print`/`sys.stdout`/`sys.stderr` and fd 1/2 into the sequencer.

Three producers, one order (the sequencer's):

- `LogHandler` on the root logger: records of *workspace* code (the record's
  file is in the workspace, or the logger is the context's) at the requested
  level; everything else (third-party libraries) at WARNING and above; the
  runner's own loggers (`kuberun.*` outside the workspace) never.
- `LineWriter` replaces `sys.stdout`/`sys.stderr`: text is split into lines,
  a partial line is sent after a short delay or at exit, bytes written to
  `.buffer` are decoded as UTF-8 with replacement.
- `FdCapture` puts a pipe over fd 1 and fd 2, so writes from C code and
  subprocesses are captured too (a reader thread per fd). Their order
  relative to Python-level writes is the order in which they reach the
  runner, not a strict one.
"""

from __future__ import annotations

import codecs
import io
import logging
import math
import os
import select
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from kuberun.contract import logfields
from kuberun.runtime import safepoints
from kuberun.runtime.sequencing import Sequencer

safepoints.capture_path(__name__)  # an interrupt waits for the way out

STDOUT = logfields.Origin.STDOUT.value
STDERR = logfields.Origin.STDERR.value
LOG = logfields.Origin.LOG.value
# (logger, file) pairs whose threshold is remembered; past it, decided each time.
_MAX_THRESHOLDS = 10_000
_RUNNER_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
# The runner's own threads are all named so; whatever they log is the runner's business.
RUNNER_THREAD_PREFIX = "kuberun-"


class Workspace:
    """Decides whether a log record comes from the user's code (a pure, cached decision)."""

    def __init__(
        self, roots: Iterable[str], files: Iterable[str], logger_names: Iterable[str]
    ) -> None:
        self._roots = tuple(str(Path(r).resolve()) + os.sep for r in roots)
        self._files = frozenset(files) | frozenset(str(Path(f).resolve()) for f in files)
        self._names = frozenset(logger_names)
        self._cache: dict[tuple[str, str], bool] = {}

    def owns(self, logger_name: str, pathname: str) -> bool:
        key = (logger_name, pathname)
        found = self._cache.get(key)
        if found is None:
            found = self._decide(logger_name, pathname)
            if len(self._cache) < 10_000:
                self._cache[key] = found
        return found

    def _decide(self, logger_name: str, pathname: str) -> bool:
        if pathname in self._files or logger_name in self._names:
            return True
        if pathname.startswith(self._roots):
            return True
        try:
            resolved = str(Path(pathname).resolve())
        except (OSError, ValueError):
            return False
        return resolved in self._files or resolved.startswith(self._roots)


def is_runner_internal(logger_name: str, pathname: str) -> bool:
    """The runner's own records, which never mix into the user's stream."""
    return logger_name.startswith("kuberun.") and pathname.startswith(_RUNNER_PACKAGE_DIR)


class SafePoint(Protocol):
    """Where the capture path lets a deferred interrupt out (see `cancelling.Interrupter`)."""

    deferred: bool

    def raise_deferred(self) -> None: ...


class LogHandler(logging.Handler):
    """Sends accepted `logging` records to the sequencer, as they are (it formats them later).

    This runs on the user's thread for every call: a cached level threshold per
    (logger, file) and an append, nothing more.
    """

    def __init__(
        self,
        sequencer: Sequencer,
        workspace: Workspace,
        level: int,
        safe_point: SafePoint | None = None,
    ) -> None:
        super().__init__(logging.DEBUG)
        self._sequencer = sequencer
        self._log = sequencer.log
        self._workspace = workspace
        self._level = level
        self._safe_point = safe_point
        self._thresholds: dict[tuple[str, str], float] = {}

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @workspace.setter
    def workspace(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._thresholds = {}

    def _threshold(self, logger_name: str, pathname: str) -> float:
        """The lowest level kept for records of this logger from this file (inf: none)."""
        if self._workspace.owns(logger_name, pathname):
            return self._level
        if is_runner_internal(logger_name, pathname):
            return math.inf
        return logging.WARNING

    def _remember(self, logger_name: str, pathname: str) -> float:
        threshold = self._threshold(logger_name, pathname)
        if len(self._thresholds) < _MAX_THRESHOLDS:
            self._thresholds[(logger_name, pathname)] = threshold
        return threshold

    def handle(self, record: logging.LogRecord) -> bool:
        """The level check and the append, in one frame: this is the user's thread's
        share of every call. No handler lock: the append needs none."""
        threshold = self._thresholds.get((record.name, record.pathname))
        if threshold is None:
            threshold = self._remember(record.name, record.pathname)
        if record.levelno < threshold:
            return False
        thread_name = record.threadName  # e.g. redis-py warning about the sender's connection
        if thread_name and thread_name.startswith(RUNNER_THREAD_PREFIX):
            return False
        self._log(record)
        safe_point = self._safe_point
        if safe_point is not None and safe_point.deferred:
            safe_point.raise_deferred()
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self._sequencer.log(record)


class _LineSplitter:
    """Text in, complete lines out; keeps a partial line until a newline or `flush_partial`."""

    def __init__(self, emit: Callable[[str], object]) -> None:
        self._emit = emit
        self._partial: list[str] = []
        self._partial_since = 0.0
        self._lock = threading.RLock()

    def feed(self, text: str) -> None:
        with self._lock:
            if "\n" not in text:
                if text:
                    if not self._partial:
                        self._partial_since = time.monotonic()
                    self._partial.append(text)
                return
            lines = text.split("\n")
            if self._partial:
                lines[0] = "".join(self._partial) + lines[0]
                self._partial.clear()
            rest = lines.pop()
            for line in lines:
                self._emit(line.removesuffix("\r"))
            if rest:
                self._partial.append(rest)
                self._partial_since = time.monotonic()

    def flush_partial(self, older_than: float = 0.0) -> None:
        """Send a pending partial line (if it waited at least `older_than` seconds)."""
        with self._lock:
            if self._partial and time.monotonic() - self._partial_since >= older_than:
                line = "".join(self._partial)
                self._partial.clear()
                self._emit(line)


class _BinaryAdapter(io.RawIOBase):
    """`sys.stdout.buffer`: bytes decoded as UTF-8 with replacement, then split into lines."""

    def __init__(self, owner: LineWriter) -> None:
        super().__init__()
        self._owner = owner
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raw = bytes(data)
        with self._lock:
            self._owner.write(self._decoder.decode(raw))
        return len(raw)

    def fileno(self) -> int:
        return self._owner.fileno()


class LineWriter(io.TextIOBase):
    """A `sys.stdout`/`sys.stderr` replacement that turns writes into records."""

    def __init__(
        self, sequencer: Sequencer, source: str, fd: int, safe_point: SafePoint | None = None
    ) -> None:
        super().__init__()
        self._source = source
        self._fd = fd
        self._safe_point = safe_point
        level = "INFO" if source == STDOUT else "ERROR"
        self._splitter = _LineSplitter(lambda line: sequencer.emit(level, "", source, line))
        self._buffer = _BinaryAdapter(self)

    @property
    def buffer(self) -> _BinaryAdapter:
        return self._buffer

    encoding = "utf-8"
    errors = "replace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._splitter.feed(text)
        if self._safe_point is not None and self._safe_point.deferred:
            self._safe_point.raise_deferred()
        return len(text)

    def flush(self) -> None:
        """A no-op: a partial line waits for its newline (or the partial-line delay)."""

    def flush_partial(self, older_than: float = 0.0) -> None:
        self._splitter.flush_partial(older_than)


class FdCapture:
    """A pipe over one file descriptor, read by a thread into the sequencer."""

    def __init__(self, sequencer: Sequencer, fd: int, source: str) -> None:
        self._fd = fd
        self._source = source
        level = "INFO" if source == STDOUT else "ERROR"
        self._splitter = _LineSplitter(lambda line: sequencer.emit(level, "", source, line))
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.saved = os.dup(fd)
        os.set_inheritable(self.saved, False)
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self._read_end = read_end
        self._restored = False
        self._thread = threading.Thread(target=self._run, name=f"kuberun-fd{fd}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self._read_end], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not ready:
                self._splitter.flush_partial(older_than=0.5)
                continue
            try:
                chunk = os.read(self._read_end, 65536)
            except OSError:
                return
            if not chunk:
                self._splitter.feed(self._decoder.decode(b"", final=True))
                self._splitter.flush_partial()
                return
            self._splitter.feed(self._decoder.decode(chunk))

    def flush_partial(self, older_than: float = 0.0) -> None:
        self._splitter.flush_partial(older_than)

    def restore(self, timeout: float = 1.0) -> None:
        """Put the original fd back and read what is left in the pipe (EOF or `timeout`)."""
        if self._restored:
            return
        self._restored = True
        os.dup2(self.saved, self._fd)  # closes our pipe's write end at this fd
        self._thread.join(timeout)
        self._splitter.flush_partial()
