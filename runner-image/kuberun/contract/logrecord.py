"""The log record: one line of an execution's log, in one total order.

Records of one attempt carry a gapless `sequence` starting at 1. In Redis the
stream entry id is `<attempt>-<sequence>`, so ids increase across attempts
(one stream for all attempts) and a resend of an already delivered record is
rejected by Redis instead of duplicated. The operator's engine records keep
that single order without racing the runner:

- before an attempt's pod runs ("starting attempt N"): id `<N>-0`, which sorts
  before the runner's first record `<N>-1` and, written with an explicit id,
  is idempotent (a second write is rejected);
- after the attempt ("logs missing", "timed out", "cancelled", "retrying"):
  `<N>-<ENGINE_SEQUENCE_BASE + k>`, k = 1, 2, ... — an id space of their own
  that no runner sequence reaches, so an engine record can never take an id
  the runner may still write, and it still sorts after every runner line of
  attempt N and before `<N+1>-0`. The operator writes these only once the
  attempt's runner process is gone (Redis rejects an id below the stream's
  top, so a runner line written after them would be lost);
- before any attempt ("queued"): `0-1`.

A reader tells runner lines from engine records by `is_engine_id`; the
record's `seq` field of an after-attempt engine record is k.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import Field

from kuberun.contract.spec import Model

# A single message is cut here: one runaway line must not blow the stream or
# the reader's memory; the cut is marked in the message itself.
MAX_MESSAGE_BYTES = 64 * 1024


class Origin(enum.StrEnum):
    """Where a record came from (its `source` field on the wire)."""

    LOG = "log"
    STDOUT = "stdout"
    STDERR = "stderr"
    ENGINE = "engine"


class LogRecord(Model):
    """One line of output, as stored and as shown."""

    sequence: int = Field(ge=1)
    timestamp: float = Field(description="Unix time in seconds when the line was emitted.")
    level: str = "INFO"
    logger: str = ""
    source: Origin = Origin.LOG
    message: str = ""
    attempt: int = Field(default=1, ge=0)
    exception: str | None = None

    def stream_id(self) -> str:
        """The Redis stream entry id that makes a resend idempotent."""
        return stream_id(self.attempt, self.sequence)

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for XADD (Redis stream values are strings)."""
        fields = {
            "seq": str(self.sequence),
            "ts": repr(self.timestamp),
            "level": self.level,
            "logger": self.logger,
            "source": self.source.value,
            "msg": self.message,
            "attempt": str(self.attempt),
        }
        if self.exception is not None:
            fields["exc"] = self.exception
        return fields

    @classmethod
    def from_fields(cls, fields: dict[Any, Any]) -> LogRecord:
        """Inverse of `to_fields`; accepts bytes or str keys and values."""

        def text(value: Any) -> str:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

        flat = {text(k): text(v) for k, v in fields.items()}
        return cls(
            sequence=int(flat["seq"]),
            timestamp=float(flat["ts"]),
            level=flat.get("level", "INFO"),
            logger=flat.get("logger", ""),
            source=Origin(flat.get("source", "log")),
            message=flat.get("msg", ""),
            attempt=int(flat.get("attempt", "1")),
            exception=flat.get("exc"),
        )


# Sequence numbers from here on belong to the operator's after-attempt engine
# records. 2**62: far above any runner's count, and the id's sequence part still
# fits PostgreSQL's bigint (the archive keys log rows by it).
ENGINE_SEQUENCE_BASE = 2**62


def engine_stream_id(attempt: int, k: int) -> str:
    """Entry id of the k-th (from 1) engine record written after attempt `attempt`."""
    if k < 1:
        raise ValueError(f"engine record index must be at least 1, not {k}")
    return stream_id(attempt, ENGINE_SEQUENCE_BASE + k)


def is_engine_sequence(sequence: int) -> bool:
    """True for the sequence part of an after-attempt engine record's id."""
    return sequence > ENGINE_SEQUENCE_BASE


def runner_range(attempt: int) -> tuple[str, str]:
    """(min, max) entry ids of the runner's own lines of an attempt, for XRANGE."""
    return stream_id(attempt, 1), stream_id(attempt, ENGINE_SEQUENCE_BASE)


def engine_range(attempt: int) -> tuple[str, str]:
    """(min, max) entry ids of the after-attempt engine records of an attempt."""
    return stream_id(attempt, ENGINE_SEQUENCE_BASE + 1), f"{attempt}-18446744073709551615"


def stream_id(attempt: int, sequence: int) -> str:
    """Entry id for a record: attempts order first, then sequence."""
    return f"{attempt}-{sequence}"


def parse_stream_id(entry_id: str | bytes) -> tuple[int, int]:
    """(attempt, sequence) of a stream entry id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    attempt, _, sequence = text.partition("-")
    return int(attempt), int(sequence)
