from __future__ import annotations

from kuberun_operator.api.cursor import StreamId
from kuberun_operator.api.retention import Serving, StreamState, choose, kept_after

WHOLE = StreamState(exists=True)
TRIMMED = StreamState(exists=True, kept_after=StreamId(1, 100))
GONE = StreamState(exists=False)


def test_an_untrimmed_stream_serves_every_cursor() -> None:
    assert choose(None, WHOLE, archived=False, terminal=False) is Serving.REDIS
    assert choose(StreamId(1, 5), WHOLE, archived=True, terminal=True) is Serving.REDIS


def test_a_trimmed_stream_serves_only_cursors_at_or_past_the_cut() -> None:
    assert choose(StreamId(1, 100), TRIMMED, archived=False, terminal=False) is Serving.REDIS
    assert choose(StreamId(1, 150), TRIMMED, archived=False, terminal=True) is Serving.REDIS
    assert choose(StreamId(1, 99), TRIMMED, archived=False, terminal=True) is Serving.EXPIRED
    assert choose(None, TRIMMED, archived=False, terminal=False) is Serving.EXPIRED


def test_the_archive_serves_what_redis_lost() -> None:
    assert choose(StreamId(1, 99), TRIMMED, archived=True, terminal=True) is Serving.ARCHIVE
    assert choose(None, GONE, archived=True, terminal=True) is Serving.ARCHIVE
    assert choose(StreamId(2, 3), GONE, archived=True, terminal=True) is Serving.ARCHIVE


def test_expired_logs_of_a_finished_execution_are_refused_not_empty() -> None:
    assert choose(None, GONE, archived=False, terminal=True) is Serving.EXPIRED
    assert choose(StreamId(1, 3), GONE, archived=False, terminal=True) is Serving.EXPIRED


def test_an_execution_that_has_not_logged_yet_waits_on_redis() -> None:
    assert choose(None, GONE, archived=False, terminal=False) is Serving.REDIS


def test_kept_after_from_xinfo() -> None:
    nothing = StreamId(0, 0)
    # Never trimmed nor deleted.
    assert kept_after(nothing, 10, 10, StreamId(0, 1), StreamId(1, 9)) == nothing
    # XDEL of 1-4: only readers past it are whole.
    assert kept_after(StreamId(1, 4), 10, 9, StreamId(0, 1), StreamId(1, 9)) == StreamId(1, 4)
    # XTRIM up to 1-50: a reader at 1-50 has all; at 1-49 it missed 1-50.
    assert kept_after(nothing, 100, 50, StreamId(1, 51), StreamId(1, 100)) == StreamId(1, 50)
    # Trimmed to an attempt's first entry N-0: the previous attempt's end is unknown.
    assert kept_after(nothing, 100, 50, StreamId(2, 0), StreamId(2, 49)) == StreamId(2, 0)
    # Trimmed empty.
    assert kept_after(nothing, 5, 0, None, StreamId(1, 5)) == StreamId(1, 4)
