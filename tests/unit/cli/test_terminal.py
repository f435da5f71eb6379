"""Colour and the spinner only for a person at a terminal; never when piped or NO_COLOR."""

from __future__ import annotations

import io

import pytest

from kuberun.cli import terminal


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "stream, choice, env, expected",
    [
        (Tty(), "auto", {}, True),
        (io.StringIO(), "auto", {}, False),
        (Tty(), "auto", {"NO_COLOR": "1"}, False),
        (Tty(), "auto", {"NO_COLOR": ""}, True),  # no-color.org: set and non-empty
        (Tty(), "auto", {"TERM": "dumb"}, False),
        (io.StringIO(), "always", {"NO_COLOR": "1"}, True),
        (Tty(), "never", {}, False),
    ],
    ids=["tty", "pipe", "no-color", "empty-no-color", "dumb", "always", "never"],
)
def test_wants_colour(
    stream: io.StringIO, choice: str, env: dict[str, str], expected: bool
) -> None:
    assert terminal.wants_colour(stream, choice, env) is expected


def test_a_disabled_spinner_writes_nothing() -> None:
    out = io.StringIO()
    with terminal.Spinner(False, out).start("waiting") as spinner:
        spinner.update("still")
        spinner.clear()
    assert out.getvalue() == ""


def test_an_enabled_spinner_erases_itself() -> None:
    out = io.StringIO()
    spinner = terminal.Spinner(True, out).start("waiting")
    for _ in range(100):
        if "waiting" in out.getvalue():
            break
        spinner._stop.wait(0.01)
    spinner.stop()
    text = out.getvalue()
    assert "waiting" in text and text.endswith("\r\x1b[2K")


def test_paint() -> None:
    assert terminal.paint("x", "red", True) == "\x1b[31mx\x1b[0m"
    assert terminal.paint("x", "red", False) == "x"
    assert terminal.phase("FAILED", True).startswith("\x1b[31m")
