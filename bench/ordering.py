"""Pure checks on what a reader saw: gaps, duplicates, order, latency percentiles.

Used by the log pipeline benchmark (`bench.logs`) on the entries an XREAD
reader received and on a full XRANGE of the stream afterwards. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OrderCheck:
    """How a sequence of numbers differs from `first, first+1, …, first+expected-1`."""

    count: int
    missing: int
    duplicates: int
    out_of_order: int

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicates == 0 and self.out_of_order == 0

    def describe(self) -> str:
        if self.ok:
            return f"ok ({self.count:,} in order)"
        problems = [
            f"{self.missing:,} missing" if self.missing else "",
            f"{self.duplicates:,} duplicated" if self.duplicates else "",
            f"{self.out_of_order:,} out of order" if self.out_of_order else "",
        ]
        return "FAIL (" + ", ".join(p for p in problems if p) + ")"


def check_order(values: Sequence[int], first: int, expected: int | None = None) -> OrderCheck:
    """Compare `values` (in arrival order) with the gapless run starting at `first`.

    `expected` is the run's length; None means "up to the largest value seen"
    (for streams whose total is not known in advance). `out_of_order` counts
    arrivals smaller than one already seen.
    """
    seen = set(values)
    last = first + expected - 1 if expected is not None else max(values, default=first - 1)
    missing = sum(1 for v in range(first, last + 1) if v not in seen)
    duplicates = len(values) - len(seen)
    out_of_order = 0
    highest = first - 1
    for value in values:
        if value < highest:
            out_of_order += 1
        highest = max(highest, value)
    return OrderCheck(
        count=len(values), missing=missing, duplicates=duplicates, out_of_order=out_of_order
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in [0, 1]); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]
