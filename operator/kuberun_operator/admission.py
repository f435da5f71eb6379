"""Who may start: global and per-namespace limits, priority-then-age order, queue positions.

Pure. `plan()` takes every live execution (admitted or waiting) and says which
waiting ones start now and where the others stand. The operator keeps no
admission state that cannot be rebuilt: an execution holds a slot when its
status has an attempt (`status.attempt >= 1`) and is not terminal, so listing
Executions after a restart gives the same picture.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    """One non-terminal execution as admission sees it."""

    uid: str
    namespace: str
    name: str
    priority: int = 0
    created_at: float = 0.0
    holds_slot: bool = False  # admitted: a Job exists or is being created for it

    def order_key(self) -> tuple[int, float, str, str]:
        """Higher priority first, then older first; names break ties deterministically."""
        return (-self.priority, self.created_at, self.namespace, self.name)


@dataclass(frozen=True)
class Plan:
    """The outcome of one admission round."""

    admit: tuple[str, ...] = ()
    positions: dict[str, int] = field(default_factory=dict)  # waiting uid → 1-based position
    running: int = 0
    waiting: int = 0


def plan(candidates: Iterable[Candidate], max_running: int, max_per_namespace: int) -> Plan:
    """Admit waiting executions in order while both limits allow; number the rest.

    A namespace at its limit does not block others behind it (no head-of-line
    blocking across tenants); within a namespace the order is strict.
    """
    items = list(candidates)
    holding = [c for c in items if c.holds_slot]
    per_namespace: Counter[str] = Counter(c.namespace for c in holding)
    free = max_running - len(holding)
    admit: list[str] = []
    positions: dict[str, int] = {}
    for cand in sorted((c for c in items if not c.holds_slot), key=Candidate.order_key):
        if free > 0 and per_namespace[cand.namespace] < max_per_namespace:
            admit.append(cand.uid)
            per_namespace[cand.namespace] += 1
            free -= 1
        else:
            positions[cand.uid] = len(positions) + 1
    return Plan(
        admit=tuple(admit),
        positions=positions,
        running=len(holding) + len(admit),
        waiting=len(positions),
    )


# Positions up to here are always written exactly: "you are next" must be true.
EXACT_POSITIONS = 10
# Beyond that, a position is rewritten only when it moved by this fraction: in a
# queue of hundreds, every start would otherwise rewrite every queued status.
POSITION_STEP = 0.2
# At most this many positions are written per publication (each is a status patch):
# cancelling thousands of queued ones from the front would otherwise move every
# position behind them by a fifth again and again. The front goes first; positions
# further back stay coarse a little longer.
POSITION_WRITES_PER_ROUND = 100


def worth_publishing(written: int | None, position: int) -> bool:
    """Whether a queue position differs enough from the one in status to write it."""
    if written is None or position <= EXACT_POSITIONS:
        return written != position
    return abs(written - position) >= written * POSITION_STEP
