from __future__ import annotations

import json

import pytest

from kuberun_operator.api import sse


def test_an_event_carries_its_id_name_and_one_line_of_json() -> None:
    frame = sse.event("log", {"id": "1-2", "message": "two\nlines"}, event_id="1-2")
    assert frame == b'id: 1-2\nevent: log\ndata: {"id":"1-2","message":"two\\nlines"}\n\n'
    [parsed] = sse.parse(frame.decode())
    assert parsed["id"] == "1-2" and parsed["event"] == "log"
    assert json.loads(parsed["data"])["message"] == "two\nlines"


def test_parse_drops_comments_and_splits_events() -> None:
    body = (
        sse.retry(1000) + sse.PING + sse.event("log", {"n": 1}, "0-1") + sse.event("end", {"p": 1})
    ).decode()
    events = sse.parse(body)
    assert [e.get("event") for e in events] == [None, "log", "end"]
    assert events[0] == {"retry": "1000"}
    assert "id" not in events[2]


def test_non_ascii_text_is_kept_as_utf8() -> None:
    frame = sse.event("log", {"message": "héllo ✓"})
    assert "héllo ✓" in frame.decode("utf-8")


def test_an_id_cannot_break_the_framing() -> None:
    with pytest.raises(ValueError):
        sse.event("log", {}, event_id="1-2\ndata: x")
