"""Log cursors and filters: the pure rules a log read follows.

A cursor is a stream entry id, `<attempt>-<sequence>`, the same in Redis and
in the archive (whose rows are keyed by the parts of that id), so a reader
that switches source mid-way resumes at the same place. The cursor is
exclusive: a read `after` it starts with the next record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kuberun.contract import logrecord

_ID = re.compile(r"^(\d{1,19})-(\d{1,20})$")
# The largest sequence Redis accepts in an entry id: the end of an attempt's range.
MAX_SEQUENCE = 2**64 - 1


class BadQuery(ValueError):
    """A query parameter the API cannot use (answered with 400 and this message)."""


@dataclass(frozen=True, order=True)
class StreamId:
    """One entry id; ordered as Redis orders them (attempt, then sequence)."""

    attempt: int
    sequence: int

    @classmethod
    def parse(cls, text: str | bytes) -> StreamId:
        raw = text.decode() if isinstance(text, bytes) else text
        match = _ID.match(raw.strip())
        if match is None:
            raise BadQuery(f"not a log cursor: {raw!r} (expected <attempt>-<sequence>, e.g. 1-42)")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return logrecord.stream_id(self.attempt, self.sequence)


#: Before every record (the "queued" engine record is 0-1).
START = StreamId(0, 0)


def cursor_of(query: Mapping[str, str], last_event_id: str | None) -> StreamId | None:
    """The exclusive cursor of a request: `Last-Event-ID` (an EventSource
    reconnecting) wins over `?after=`, since it is newer than the URL the page opened."""
    for raw in (last_event_id, query.get("after")):
        if raw is not None and raw.strip():
            return StreamId.parse(raw)
    return None


_SOURCES = {source.value for source in logrecord.Origin}


@dataclass(frozen=True)
class LogFilter:
    """Which records a reader wants; None means every value passes."""

    levels: frozenset[str] | None = None
    sources: frozenset[str] | None = None
    attempt: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> LogFilter:
        levels = _names(query.get("level"))
        sources = _names(query.get("source"), lower=True)
        if sources is not None and not sources <= _SOURCES:
            unknown = ", ".join(sorted(sources - _SOURCES))
            raise BadQuery(f"unknown source {unknown} (known: {', '.join(sorted(_SOURCES))})")
        return cls(levels=levels, sources=sources, attempt=attempt_of(query))

    def passes(self, entry: StreamId, record: logrecord.LogRecord) -> bool:
        if self.attempt is not None and entry.attempt != self.attempt:
            return False
        if self.levels is not None and record.level.upper() not in self.levels:
            return False
        return self.sources is None or record.source.value in self.sources


def attempt_of(query: Mapping[str, str]) -> int | None:
    raw = query.get("attempt")
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit():
        raise BadQuery(f"attempt must be a whole number, not {raw!r}")
    return int(raw)


def _names(raw: str | None, lower: bool = False) -> frozenset[str] | None:
    if raw is None or not raw.strip():
        return None
    names = {part.strip() for part in raw.split(",") if part.strip()}
    return frozenset(n.lower() if lower else n.upper() for n in names)


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter (`true`/`false`, `1`/`0`, `yes`/`no`); absent = false."""
    raw = query.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise BadQuery(f"{name} must be true or false, not {raw!r}")
