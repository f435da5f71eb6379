"""Where a log read is served from: Redis, the archive, or nowhere (410). Pure.

Redis holds a stream for a day and may be trimmed; the archive holds every
line of a finished execution. A read is served from Redis while Redis still
has everything after the cursor, else from the archive when it has the
execution, else it is refused: a reader is told its logs are gone, never
handed a silent gap.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kuberun_operator.api.cursor import START, StreamId


class Source(enum.Enum):
    REDIS = "redis"
    ARCHIVE = "archive"
    EXPIRED = "expired"


@dataclass(frozen=True)
class StreamState:
    """What Redis says of a stream: whether it exists, and the largest id ever
    deleted from it (XINFO STREAM's `max-deleted-entry-id`; 0-0 when none was)."""

    exists: bool
    max_deleted: StreamId = START


def choose(cursor: StreamId | None, stream: StreamState, archived: bool, terminal: bool) -> Source:
    """The source of a read after `cursor` (None = from the first record)."""
    after = cursor or START
    if stream.exists and after >= stream.max_deleted:
        return Source.REDIS  # nothing after the cursor was ever removed
    if archived:
        return Source.ARCHIVE
    if stream.exists or terminal:
        return Source.EXPIRED  # trimmed past the cursor, or expired after the end
    return Source.REDIS  # not started yet: the stream appears with the first record
