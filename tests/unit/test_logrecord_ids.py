"""The stream's id spaces: runner lines, then the operator's after-attempt records, then the
next attempt — and no runner sequence can reach the operator's space."""

from __future__ import annotations

import pytest

from kuberun.contract import logrecord


def key(entry_id: str) -> tuple[int, int]:
    return logrecord.parse_stream_id(entry_id)


def test_engine_records_sort_after_every_runner_line_and_before_the_next_attempt() -> None:
    ids = [
        "0-1",
        logrecord.stream_id(1, 0),
        logrecord.stream_id(1, 1),
        logrecord.stream_id(1, 10**12),  # far more lines than any run writes
        logrecord.engine_stream_id(1, 1),
        logrecord.engine_stream_id(1, 2),
        logrecord.stream_id(2, 0),
    ]
    assert sorted(ids, key=key) == ids
    low, high = logrecord.runner_range(1)
    assert key(low) <= key(ids[2]) and key(ids[3]) <= key(high) < key(ids[4])
    elow, ehigh = logrecord.engine_range(1)
    assert key(elow) == key(ids[4]) and key(ids[5]) <= key(ehigh) < key(ids[6])


def test_the_engine_space_is_recognisable_and_fits_a_bigint() -> None:
    _, sequence = key(logrecord.engine_stream_id(3, 7))
    assert logrecord.is_engine_sequence(sequence)
    assert not logrecord.is_engine_sequence(10**12)
    assert sequence < 2**63  # the archive's bigint key
    with pytest.raises(ValueError):
        logrecord.engine_stream_id(1, 0)
