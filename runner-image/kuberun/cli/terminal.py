"""Colour and a spinner, only for a person at a terminal.

Colour when the stream is a terminal, `TERM` is not `dumb` and `NO_COLOR` is
unset or empty (https://no-color.org); `--color always|never` overrides. The
spinner (on stderr, so piped stdout stays clean) shows while nothing else is
printed, e.g. while an Execution is queued; it erases itself before each
line, so lines never mix with it.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Mapping
from typing import IO

_CODES = {
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "dim": "2",
    "bold": "1",
}
PHASE_COLOURS = {
    "SUCCESS": "green",
    "COMPLETED_WITH_ERRORS": "yellow",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "CANCELLING": "magenta",
    "CANCELLED": "magenta",
    "RUNNING": "cyan",
    "PENDING": "dim",
}
LEVEL_COLOURS = {"DEBUG": "dim", "WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}
_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def wants_colour(
    stream: IO[str], choice: str = "auto", env: Mapping[str, str] | None = None
) -> bool:
    """Whether to colour output to `stream`. Pure given `env` and the stream's isatty."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    env = os.environ if env is None else env
    if env.get("NO_COLOR"):
        return False
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, colour: str | None, enabled: bool) -> str:
    if not enabled or not colour or colour not in _CODES:
        return text
    return f"\x1b[{_CODES[colour]}m{text}\x1b[0m"


def phase(text: str, enabled: bool) -> str:
    return paint(text, PHASE_COLOURS.get(text), enabled)


class Spinner:
    """A one-line spinner on stderr; a no-op when disabled (not a terminal, or NO_COLOR)."""

    def __init__(self, enabled: bool, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self._stream = stream or sys.stderr
        self._text = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False

    def start(self, text: str) -> Spinner:
        self._text = text
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._spin, name="spinner", daemon=True)
            self._thread.start()
        return self

    def update(self, text: str) -> None:
        self._text = text

    def _spin(self) -> None:
        for frame in itertools.cycle(_FRAMES):
            if self._stop.wait(0.1):
                return
            with self._lock:
                self._stream.write(f"\r\x1b[2K{frame} {self._text}")
                self._stream.flush()
                self._shown = True

    def clear(self) -> None:
        """Erase the spinner's line (call before printing a line of output)."""
        if not self.enabled:
            return
        with self._lock:
            if self._shown:
                self._stream.write("\r\x1b[2K")
                self._stream.flush()
                self._shown = False

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None
        self.clear()

    def __enter__(self) -> Spinner:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
