"""One log read: from the right source, after a cursor, filtered, optionally following.

`plan` decides the source before anything is sent, so an expired cursor gets
its 410 instead of a stream that starts and then stops. `records` then yields
what the response writes: records, `Tick`s while a follower waits (the writer
sends keep-alives on them), and an `End` once the execution is terminal and
every record was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from kuberun.contract import keys
from kuberun_operator.api import retention
from kuberun_operator.api.cursor import START, LogFilter, StreamId
from kuberun_operator.api.logsource import PAGE, ArchiveLogs, Entry, RedisLogs
from kuberun_operator.api.summary import is_terminal

#: How long one XREAD waits before the follower looks at the Execution's phase again.
BLOCK_MS = 1000


class Expired(Exception):
    """The records after the cursor are no longer retained anywhere (410)."""


@dataclass(frozen=True)
class Target:
    """The execution a read is about (live in the API server, or only archived)."""

    namespace: str
    name: str
    uid: str
    phase: str | None
    reason: str | None
    archived: bool  # the archive has its row (and so, being terminal, all its logs)


@dataclass(frozen=True)
class End:
    phase: str | None
    reason: str | None


@dataclass(frozen=True)
class Tick:
    """Nothing new during one wait."""


Item = Entry | End | Tick
#: The latest (phase, reason) of the target; the follower asks after every wait.
PhaseOf = Callable[[], Awaitable[tuple[str | None, str | None]]]


async def plan(
    target: Target,
    cursor: StreamId | None,
    redis: RedisLogs | None,
    archive: ArchiveLogs | None,
) -> retention.Serving:
    state = (
        await redis.state(keys.logs_stream(target.namespace, target.uid))
        if redis is not None
        else retention.StreamState(exists=False)
    )
    source = retention.choose(
        cursor,
        state,
        archived=target.archived and archive is not None,
        terminal=is_terminal(target.phase),
    )
    if source is retention.Serving.REDIS and redis is None:
        source = retention.Serving.EXPIRED
    if source is retention.Serving.EXPIRED:
        where = f"after {cursor}" if cursor is not None else "from the start"
        raise Expired(
            f"the logs of {target.namespace}/{target.name} {where} are no longer retained"
            " (Redis trimmed or expired them and the archive does not have them)"
        )
    return source


async def records(
    target: Target,
    source: retention.Serving,
    cursor: StreamId | None,
    wanted: LogFilter,
    follow: bool,
    phase_of: PhaseOf,
    redis: RedisLogs | None,
    archive: ArchiveLogs | None,
) -> AsyncIterator[Item]:
    last = cursor or START
    if source is retention.Serving.ARCHIVE:
        assert archive is not None
        async for entry in _pages(
            lambda after: archive.page(target.uid, after, PAGE, wanted.attempt), last
        ):
            if wanted.passes(*entry):
                yield entry
        yield End(target.phase, target.reason)
        return
    assert redis is not None
    key = keys.logs_stream(target.namespace, target.uid)
    phase, reason = target.phase, target.reason
    while True:
        async for entry in _pages(lambda after: redis.page(key, after, PAGE, wanted.attempt), last):
            last = entry[0]
            if wanted.passes(*entry):
                yield entry
        if finished(phase, reason):
            # Every record is written before the phase turns terminal: this drain was the last.
            yield End(phase, reason)
            return
        if not follow:
            return
        waited = await redis.wait(key, last, BLOCK_MS, PAGE)
        for entry in waited:
            last = entry[0]
            if wanted.passes(*entry):
                yield entry
        if not waited:
            yield Tick()
        phase, reason = await phase_of()


def finished(phase: str | None, reason: str | None) -> bool:
    """Terminal, or deleted (a deleted Execution writes no more records)."""
    return is_terminal(phase) or reason == "Deleted"


async def _pages(
    read: Callable[[StreamId], Awaitable[list[Entry]]], after: StreamId
) -> AsyncIterator[Entry]:
    while True:
        page = await read(after)
        for entry in page:
            yield entry
        if len(page) < PAGE:
            return
        after = page[-1][0]
