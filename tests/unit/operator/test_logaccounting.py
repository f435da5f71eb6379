"""Log accounting: which of the runner's lines the stream lacks, and what the status says."""

from __future__ import annotations

import pytest

from kuberun_operator import logaccounting as la


@pytest.mark.parametrize(
    "present, last, gaps",
    [
        ([], 0, []),
        ([1, 2, 3], 3, []),
        ([], 3, [(1, 3)]),
        ([41, 42, 43], 43, [(1, 40)]),  # Redis restarted without persistence mid-run
        ([1, 2, 5, 6, 9], 10, [(3, 4), (7, 8), (10, 10)]),
        ([3, 1, 2, 2], 2, []),  # order and duplicates do not matter; above `last` is ignored
        ([1, 2], 5, [(3, 5)]),  # the undelivered tail
    ],
)
def test_missing_ranges(present: list[int], last: int, gaps: list[tuple[int, int]]) -> None:
    assert la.missing(la.StreamSeen.of(present), last) == gaps


def test_seen_compacts_into_ranges() -> None:
    seen = la.StreamSeen.of([5, 1, 2, 3, 7, 6])
    assert seen.ranges == ((1, 3), (5, 7))
    assert (seen.top, seen.count()) == (7, 6)
    with pytest.raises(ValueError, match="start at 1"):
        la.StreamSeen.of([0, 1])


def test_status_compares_the_stream_with_the_runner_report() -> None:
    whole = la.logs_status(la.StreamSeen.of(range(1, 11)), 10, 0)
    assert whole is not None and (whole.complete, whole.missing) == (True, [])
    lost = la.logs_status(la.StreamSeen.of(range(6, 11)), 10, 0)
    assert lost is not None and (lost.complete, lost.missing, lost.dropped) == (False, [[1, 5]], 0)
    dropped = la.logs_status(la.StreamSeen.of(range(1, 11)), 10, 3)
    assert dropped is not None and (dropped.complete, dropped.dropped) == (False, 3)


def test_without_a_report_the_stream_top_is_the_last_sequence() -> None:
    got = la.logs_status(la.StreamSeen.of([1, 2, 4]), None, 0)
    assert got is not None
    assert (got.last_sequence, got.complete, got.missing) == (4, False, [[3, 3]])
    assert la.logs_status(None, None, 0) is None


def test_without_the_stream_only_the_runner_counts_speak() -> None:
    got = la.logs_status(None, 7, 0)
    assert got is not None and (got.last_sequence, got.complete, got.missing) == (7, True, [])


def test_the_status_keeps_a_bounded_number_of_ranges() -> None:
    seen = la.StreamSeen.of(range(2, 400, 2))  # every odd line lost
    got = la.logs_status(seen, 399, 0)
    assert got is not None and len(got.missing) == la.MAX_RANGES
    text = la.missing_message(1, la.missing(seen, 399))
    assert text.startswith("200 log line(s) of attempt 1 are missing")
    assert "and 190 more range(s)" in text and "appendonly yes" in text
