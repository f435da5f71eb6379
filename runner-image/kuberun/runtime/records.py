"""The runner's in-memory log entry: cheap to build on the sender thread.

`Entry` carries exactly the fields of the contract's `LogRecord` without
pydantic validation on the hot path; `fields()` is byte-for-byte what
`LogRecord.to_fields()` produces (a unit test holds them together). It is a
named tuple because the sender builds one per record: `tuple.__new__` costs a
fraction of a dataclass `__init__`, and unpacking it in the packer's loop is
the cheapest read there is.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple

from kuberun.contract import logfields, pipe

if TYPE_CHECKING:  # the model costs the runner's start; only `to_record` builds one
    from kuberun.contract import logrecord


class Entry(NamedTuple):
    """One sequenced record of the current attempt (sequence 0: echoed, never sent)."""

    sequence: int
    timestamp: float
    level: str
    logger: str
    source: str
    message: str
    attempt: int
    exception: str | None = None

    def stream_id(self) -> str:
        return f"{self.attempt}-{self.sequence}"

    def fields(self) -> dict[str, str]:
        """Flat string fields for XADD, as `LogRecord.to_fields()`."""
        fields = {
            "seq": str(self.sequence),
            "ts": logfields.timestamp_text(self.timestamp),
            "level": self.level,
            "logger": self.logger,
            "source": self.source,
            "msg": self.message,
            "attempt": str(self.attempt),
        }
        if self.exception is not None:
            fields["exc"] = self.exception
        return fields

    def to_record(self) -> logrecord.LogRecord:
        from kuberun.contract import logrecord

        return logrecord.LogRecord.from_fields(self.fields())

    def json_line(self) -> bytes:
        """One `record` line of the pipe protocol (`contract.pipe`)."""
        data: dict[str, object] = {
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "level": self.level,
            "logger": self.logger,
            "source": self.source,
            "message": self.message,
            "attempt": self.attempt,
        }
        if self.exception is not None:
            data["exception"] = self.exception
        return pipe.encode(pipe.RECORD, data)


def format_text(record: logrecord.LogRecord | Entry) -> str:
    """`HH:MM:SS.mmm LEVEL logger: message` (+ exception text), as the CLI and the echo show it."""
    local = time.localtime(record.timestamp)
    millis = int((record.timestamp % 1) * 1000)
    source = record.source if isinstance(record.source, str) else record.source.value
    who = record.logger or source
    text = (
        f"{time.strftime('%H:%M:%S', local)}.{millis:03d} {record.level:<7} {who}: {record.message}"
    )
    if record.exception:
        text = f"{text}\n{record.exception.rstrip()}"
    return text
