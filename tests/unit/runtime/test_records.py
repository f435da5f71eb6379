"""The fast in-memory entry matches the contract's LogRecord exactly."""

from __future__ import annotations

import json
from typing import Any

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
        source=logrecord.Origin.LOG,
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


def test_hand_packed_xadd_is_what_the_redis_client_would_send() -> None:
    from redis.connection import Connection

    from kuberun.runtime.transports import pack_xadd

    entry = records.Entry(3, 1.5, "INFO", "app", "log", "héllo\r\nworld $5", 2, "exc\n")
    fields = [part for pair in entry.fields().items() for part in pair]
    connection: Any = Connection  # redis-py leaves Connection untyped
    expected = b"".join(connection().pack_command("XADD", "k", entry.stream_id(), *fields))
    assert pack_xadd(b"k", entry) == expected
