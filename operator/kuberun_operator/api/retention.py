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


class Serving(enum.Enum):
    """Where a read is served from, or EXPIRED: refused, its lines are gone (410)."""

    REDIS = "redis"
    ARCHIVE = "archive"
    EXPIRED = "expired"


@dataclass(frozen=True)
class StreamState:
    """What Redis says of a stream: whether it exists, and the smallest cursor
    after which nothing was ever removed from it (`kept_after`, see `kept_after`)."""

    exists: bool
    kept_after: StreamId = START


def kept_after(
    max_deleted: StreamId, added: int, length: int, first: StreamId | None, last: StreamId
) -> StreamId:
    """The smallest cursor with nothing missing after it, from XINFO STREAM.

    XDEL raises `max-deleted-entry-id`; XTRIM does not, but leaves fewer entries
    than were ever added, all removed from the front: then only a reader that
    has the entry just before the first one kept (same attempt, previous
    sequence) has missed nothing. Readers at any other earlier cursor are told
    their logs are gone, even where that entry never existed: a refusal the
    archive can answer, never a silent gap.
    """
    if added <= length:
        return max_deleted
    front = first if first is not None else last
    before = StreamId(front.attempt, front.sequence - 1) if front.sequence > 0 else front
    return max(max_deleted, before)


def choose(cursor: StreamId | None, stream: StreamState, archived: bool, terminal: bool) -> Serving:
    """The source of a read after `cursor` (None = from the first record)."""
    after = cursor or START
    if stream.exists and after >= stream.kept_after:
        return Serving.REDIS  # nothing after the cursor was ever removed
    if archived:
        return Serving.ARCHIVE
    if stream.exists or terminal:
        return Serving.EXPIRED  # trimmed past the cursor, or expired after the end
    return Serving.REDIS  # not started yet: the stream appears with the first record
