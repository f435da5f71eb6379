"""Line splitting, workspace decisions and the logging filter."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kuberun.runtime import capturing
from kuberun.runtime.sequencing import Sequencer


def test_splitter_joins_partial_writes_and_keeps_a_partial_line() -> None:
    lines: list[str] = []
    splitter = capturing._LineSplitter(lines.append)
    for chunk in ["hel", "lo ", "world\r\nsecond\n", "\n", "tail"]:
        splitter.feed(chunk)
    assert lines == ["hello world", "second", ""]
    splitter.flush_partial(older_than=60)
    assert lines == ["hello world", "second", ""]
    splitter.flush_partial()
    assert lines[-1] == "tail"


def test_workspace_by_path_file_and_logger_name(tmp_path: Path) -> None:
    workspace = capturing.Workspace([str(tmp_path)], ["<inline>"], ["nightly"])
    assert workspace.owns("helpers", str(tmp_path / "pkg" / "helpers.py"))
    assert workspace.owns("root", "<inline>")
    assert workspace.owns("nightly", "/usr/lib/python3/logging/__init__.py")
    assert not workspace.owns("urllib3", "/venv/site-packages/urllib3/pool.py")


def _sequencer() -> Sequencer:
    return Sequencer(attempt=1, max_lines=10, max_bytes=1000)


def _record(name: str, level: int, pathname: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, pathname, 1, "m %s", ("x",), None)


@pytest.mark.parametrize(
    "name, level, pathname, accepted",
    [
        ("app", logging.DEBUG, "/ws/app.py", True),
        ("app", logging.DEBUG - 1, "/ws/app.py", False),
        ("urllib3", logging.INFO, "/site-packages/urllib3/x.py", False),
        ("urllib3", logging.WARNING, "/site-packages/urllib3/x.py", True),
        ("kuberun.runtime.sending", logging.ERROR, capturing.__file__, False),
    ],
    ids=["workspace-debug", "below-level", "third-party-info", "third-party-warning", "runner"],
)
def test_handler_levels(name: str, level: int, pathname: str, accepted: bool) -> None:
    seq = _sequencer()
    handler = capturing.LogHandler(seq, capturing.Workspace(["/ws"], [], []), logging.DEBUG)
    handler.handle(_record(name, level, pathname))
    entries = seq.take(10)
    assert bool(entries) is accepted
    if accepted:
        assert (entries[0].message, entries[0].logger, entries[0].source) == ("m x", name, "log")


def test_records_from_the_runners_own_threads_are_not_the_users() -> None:
    seq = _sequencer()
    handler = capturing.LogHandler(seq, capturing.Workspace(["/ws"], [], []), logging.DEBUG)
    record = _record("redis.connection", logging.ERROR, "/site-packages/redis/connection.py")
    record.threadName = "kuberun-sender"
    handler.handle(record)
    assert seq.take(10) == []


def test_bad_format_arguments_do_not_lose_the_line() -> None:
    seq = _sequencer()
    handler = capturing.LogHandler(seq, capturing.Workspace(["/ws"], [], []), logging.DEBUG)
    handler.handle(logging.LogRecord("app", logging.INFO, "/ws/a.py", 1, "%d items", ("x",), None))
    assert "formatting failed" in seq.take(10)[0].message


def test_a_message_whose_arguments_may_change_is_formatted_at_the_call() -> None:
    seq = _sequencer()
    handler = capturing.LogHandler(seq, capturing.Workspace(["/ws"], [], []), logging.DEBUG)
    rows = [1]
    handler.handle(logging.LogRecord("app", logging.INFO, "/ws/a.py", 1, "rows %s", (rows,), None))
    handler.handle(logging.LogRecord("app", logging.INFO, "/ws/a.py", 1, "n=%d", (7,), None))
    rows.append(2)  # after the call: the line must still say what it said then
    assert [e.message for e in seq.take(10)] == ["rows [1]", "n=7"]


def test_the_level_threshold_follows_a_new_workspace() -> None:
    seq = _sequencer()
    handler = capturing.LogHandler(seq, capturing.Workspace([], [], []), logging.DEBUG)
    handler.handle(_record("app", logging.INFO, "/ws/app.py"))  # not the user's (yet)
    handler.workspace = capturing.Workspace(["/ws"], [], [])
    handler.handle(_record("app", logging.INFO, "/ws/app.py"))
    assert [e.logger for e in seq.take(10)] == ["app"]
