"""An Execution's log stream read straight from Redis (when no log API is configured), in
order, optionally followed.

The stream holds every attempt's records and the operator's engine records in
one order (entry ids `<attempt>-<sequence>`), so reading it from the start
prints exactly what happened, and a reader never has to sort. Redis keys are
scoped by the Execution's uid, which the caller reads from the API server.

With `keep_following` the reader waits on the stream (XREAD BLOCK) and stops
once `finished()` says the Execution is terminal and the last records are
read, like `kubectl logs -f` stops with its pod. `finished` is fed by a watch
of the Execution (`remote.PhaseWatch`), never by polling the API server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from kuberun.contract import logrecord
from kuberun.contract.phases import Phase

# How long one XREAD waits before the reader looks at `finished()` again.
BLOCK_MS = 500
PAGE = 1000


def terminal(phase: str | None) -> bool:
    """True for a phase an Execution never leaves."""
    try:
        return Phase(phase).terminal if phase else False
    except ValueError:
        return False


def show_stream(
    client: redis.Redis,
    stream: str,
    show: Callable[[str, logrecord.LogRecord], None],
    *,
    keep_following: bool,
    finished: Callable[[], bool],
    after: str = "0-0",
) -> int:
    """Show every record of `stream` after entry `after`, in order, as (entry id, record);
    when following, until `finished()` and drained. Returns the number of records shown."""
    last, shown = after, 0
    done = False
    while True:
        if keep_following:
            reply: Any = client.xread({stream: last}, count=PAGE, block=BLOCK_MS)
            entries = reply[0][1] if reply else []
        else:
            entries = client.xrange(stream, min=f"({last}", count=PAGE)  # exclusive of `last`
        for entry_id, fields in entries:
            last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            show(last, logrecord.LogRecord.from_fields(fields))
            shown += 1
        if not keep_following:
            if len(entries) < PAGE:
                return shown
            continue
        if done and not entries:
            return shown
        if not entries and finished():
            done = True  # one more read: records written just before the phase changed
