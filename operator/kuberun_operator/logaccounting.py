"""Log accounting: does the stream hold every line the runner numbered?

The runner gives each kept record the next sequence (gapless from 1) and
reports its last sequence and what it dropped (termination message and
RunResult). Once the attempt's runner process is gone, the operator reads the
sequences of the attempt's runner lines in the stream and compares: any
sequence of 1..last that is not there is *missing* — lost inside Redis (a
restart without persistence, a failover to a replica that lagged, memory
eviction) or never delivered. Without a report (a runner killed at the hard
deadline) the stream's own top stands for the last sequence, so gaps below it
are still found.

Pure: sequences in, a `LogsStatus` and the text of an engine record out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kuberun.contract import status

# The status keeps this many missing ranges; the engine record counts them all.
MAX_RANGES = 50


@dataclass(frozen=True)
class StreamSeen:
    """The runner's lines of one attempt found in the stream, as inclusive ranges."""

    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, sequences: Iterable[int]) -> StreamSeen:
        """Compact sequences (any order, duplicates allowed) into sorted ranges."""
        ranges: list[tuple[int, int]] = []
        for seq in sorted(set(sequences)):
            if seq < 1:
                raise ValueError(f"runner sequences start at 1, not {seq}")
            if ranges and seq == ranges[-1][1] + 1:
                ranges[-1] = (ranges[-1][0], seq)
            else:
                ranges.append((seq, seq))
        return cls(tuple(ranges))

    @property
    def top(self) -> int:
        return self.ranges[-1][1] if self.ranges else 0

    def count(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)


def missing(seen: StreamSeen, last: int) -> list[tuple[int, int]]:
    """The inclusive ranges of 1..last that the stream does not hold."""
    gaps: list[tuple[int, int]] = []
    expected = 1
    for low, high in seen.ranges:
        if low > last:
            break
        if low > expected:
            gaps.append((expected, low - 1))
        expected = max(expected, high + 1)
    if expected <= last:
        gaps.append((expected, last))
    return gaps


def missing_lines(gaps: Iterable[tuple[int, int]]) -> int:
    return sum(high - low + 1 for low, high in gaps)


def logs_status(
    seen: StreamSeen | None, last_sequence: int | None, dropped: int
) -> status.LogsStatus | None:
    """The status' `logs` from the stream and the runner's report.

    `last_sequence` None: the runner did not report (then the stream's top is
    the last sequence known). `seen` None: the stream could not be read (then
    only the runner's own counts speak). None when there is nothing to say.
    """
    if seen is None:
        if last_sequence is None:
            return None
        return status.LogsStatus(
            last_sequence=last_sequence, complete=dropped == 0, dropped=dropped
        )
    last = seen.top if last_sequence is None else last_sequence
    gaps = missing(seen, last)
    return status.LogsStatus(
        last_sequence=last,
        complete=dropped == 0 and not gaps,
        dropped=dropped,
        missing=[[low, high] for low, high in gaps[:MAX_RANGES]],
    )


def missing_message(attempt: int, gaps: list[tuple[int, int]]) -> str:
    """The engine record's text for lines missing from the stream."""
    shown = ", ".join(f"{low}-{high}" if low != high else str(low) for low, high in gaps[:10])
    more = f" and {len(gaps) - 10} more range(s)" if len(gaps) > 10 else ""
    return (
        f"{missing_lines(gaps)} log line(s) of attempt {attempt} are missing from the log"
        f" store (sequences {shown}{more}): Redis lost them or they were never delivered;"
        " Redis keeps every line only with AOF persistence (appendonly yes)"
    )
