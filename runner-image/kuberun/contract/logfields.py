"""The log record's plain parts: sources, the size cut, stream entry ids. No pydantic.

The runner's hot path and its start need these without the `LogRecord`
model (`kuberun.contract.logrecord`, which re-exports them): importing
pydantic and building the contract's models costs a trivial execution more
than the rest of its start.
"""

from __future__ import annotations

import enum

# A single message is cut here: one runaway line must not blow the stream or
# the reader's memory; the cut is marked in the message itself.
MAX_MESSAGE_BYTES = 64 * 1024


class Origin(enum.StrEnum):
    """Where a record came from."""

    LOG = "log"
    STDOUT = "stdout"
    STDERR = "stderr"
    ENGINE = "engine"


def timestamp_text(timestamp: float) -> str:
    """A record's `ts` field: Unix seconds to the microsecond (what `time.time()` resolves).

    Fixed-point rather than `repr`, so every timestamp of this era has the same
    width (17 characters), which lets the runner's sender pack a whole batch with
    one format operation instead of measuring each value.
    """
    return f"{timestamp:.6f}"


def stream_id(attempt: int, sequence: int) -> str:
    """Entry id for a record: attempts order first, then sequence."""
    return f"{attempt}-{sequence}"


def parse_stream_id(entry_id: str | bytes) -> tuple[int, int]:
    """(attempt, sequence) of a stream entry id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    attempt, _, sequence = text.partition("-")
    return int(attempt), int(sequence)
