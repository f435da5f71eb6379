from __future__ import annotations

import pytest

from kuberun.contract import logrecord
from kuberun_operator.api.cursor import BadQuery, LogFilter, StreamId, cursor_of, flag


def record(level: str = "INFO", source: str = "log", attempt: int = 1) -> logrecord.LogRecord:
    return logrecord.LogRecord(
        sequence=1, timestamp=0.0, level=level, source=logrecord.Origin(source), attempt=attempt
    )


def test_stream_ids_order_by_attempt_then_sequence_not_as_text() -> None:
    ids = [StreamId.parse(t) for t in ["1-10", "0-1", "2-0", "1-9", "1-100"]]
    assert [str(i) for i in sorted(ids)] == ["0-1", "1-9", "1-10", "1-100", "2-0"]


@pytest.mark.parametrize(
    "text", ["", "12", "1-", "-1", "a-1", "1-2-3", "1.5-2", "1-99999999999999999999999"]
)
def test_a_malformed_cursor_is_a_clear_error(text: str) -> None:
    with pytest.raises(BadQuery, match="not a log cursor"):
        StreamId.parse(text)


def test_last_event_id_wins_over_the_urls_after() -> None:
    assert cursor_of({"after": "1-3"}, "1-7") == StreamId(1, 7)
    assert cursor_of({"after": "1-3"}, None) == StreamId(1, 3)
    assert cursor_of({"after": "1-3"}, "  ") == StreamId(1, 3)
    assert cursor_of({}, None) is None


def test_filters_are_case_insensitive_comma_lists() -> None:
    wanted = LogFilter.from_query({"level": "info, Error", "source": "STDOUT,log"})
    entry = StreamId(1, 1)
    assert wanted.passes(entry, record("INFO", "stdout"))
    assert wanted.passes(entry, record("error", "log"))
    assert not wanted.passes(entry, record("WARNING", "log"))
    assert not wanted.passes(entry, record("INFO", "engine"))


def test_the_attempt_filter_uses_the_entry_id() -> None:
    wanted = LogFilter.from_query({"attempt": "2"})
    assert wanted.passes(StreamId(2, 5), record(attempt=2))
    assert not wanted.passes(StreamId(1, 5), record(attempt=1))
    assert LogFilter.from_query({}).passes(StreamId(0, 1), record(attempt=0))


@pytest.mark.parametrize(
    ("query", "message"),
    [({"source": "stdin"}, "unknown source stdin"), ({"attempt": "two"}, "whole number")],
)
def test_bad_filters_are_refused(query: dict[str, str], message: str) -> None:
    with pytest.raises(BadQuery, match=message):
        LogFilter.from_query(query)


def test_flags() -> None:
    assert flag({"follow": "true"}, "follow") and flag({"follow": "1"}, "follow")
    assert not flag({}, "follow") and not flag({"follow": "false"}, "follow")
    with pytest.raises(BadQuery):
        flag({"follow": "maybe"}, "follow")
