"""Archive rows: built only for terminal executions, keyed by stream entry ids."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.contract import logrecord
from kuberun_operator import archiving


def execution(phase: str | None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": "u-1",
            "namespace": "team-a",
            "name": "hello",
            "creationTimestamp": "2026-11-26T10:00:00Z",
        },
        "spec": {"source": {"inline": "result = 1"}, "organization": "acme"},
        "status": {"phase": phase, "attempt": 2, **status} if phase else {},
    }


@pytest.mark.parametrize("phase", [None, "PENDING", "RUNNING", "CANCELLING"])
def test_live_executions_are_not_archived(phase: str | None) -> None:
    with pytest.raises(archiving.NotArchivable):
        archiving.execution_row(execution(phase))


@pytest.mark.parametrize("phase", ["SUCCESS", "FAILED", "TIMED_OUT", "CANCELLED"])
def test_terminal_executions_become_rows(phase: str) -> None:
    row = archiving.execution_row(
        execution(phase, result={"n": 1}, completionTime="2026-11-26T10:00:05Z")
    )
    assert (row.uid, row.phase, row.attempts, row.organization) == ("u-1", phase, 2, "acme")
    assert row.result_json == '{"n": 1}'
    assert row.finished_at is not None and row.created_at is not None
    assert (row.finished_at - row.created_at).total_seconds() == 5


def test_log_rows_are_keyed_by_stream_entry_id() -> None:
    runner = logrecord.LogRecord(sequence=3, timestamp=1.0, message="hi", attempt=1)
    engine = logrecord.LogRecord(
        sequence=4, timestamp=2.0, message="timed out", attempt=1, source=logrecord.Origin.ENGINE
    )
    rows = archiving.log_rows("u-1", [(b"1-3", runner.to_fields()), ("1-4", engine.to_fields())])
    assert [(r[1], r[2], r[6], r[7]) for r in rows] == [
        (1, 3, "log", "hi"),
        (1, 4, "engine", "timed out"),
    ]
