"""The fast in-memory entry matches the contract's LogRecord exactly."""

from __future__ import annotations

import json

import pytest

from kuberun.contract import logrecord
from kuberun.runtime import records


@pytest.mark.parametrize("exception", [None, "Traceback ...\nValueError: x"])
def test_fields_match_the_contract(exception: str | None) -> None:
    entry = records.Entry(7, 1700000000.123456, "WARNING", "app.db", "log", "héllo", 3, exception)
    record = logrecord.LogRecord(
        sequence=7,
        timestamp=1700000000.123456,
        level="WARNING",
        logger="app.db",
        source=logrecord.Source.LOG,
        message="héllo",
        attempt=3,
        exception=exception,
    )
    assert entry.fields() == record.to_fields()
    assert entry.stream_id() == record.stream_id()
    assert entry.to_record() == record
    data = json.loads(entry.json_line())
    assert data.pop("type") == "record"
    assert logrecord.LogRecord.model_validate(data) == record


def test_text_format() -> None:
    entry = records.Entry(1, 0.25, "INFO", "", "stdout", "hi", 1)
    text = records.format_text(entry)
    assert text.endswith(".250 INFO    stdout: hi")
