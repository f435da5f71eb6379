"""One pod per cache stampede: who computes a missing data-provider result, who waits.

Fifty Executions asking for the same data provider with the same parameters in
the same cache scope at once would each get a pod whose runner then waits on
the cache lock (`kuberun.runtime.caching`): fifty pods, forty-nine idle. The
operator groups them by their cache entry (`cachehits.lookup_key`) instead:
one of them, the *leader*, goes through admission and runs; the others stay
PENDING/WaitingForCache without a slot or a pod, and each pass of theirs looks
up the cache entry first, so when the leader has stored it they end
SUCCESS/CacheHit from it. When the leader ends without an entry (it failed,
its pod died, it was cancelled or deleted), the group chooses again: exactly
one waiter, the first in admission order, becomes the leader.

Pure. Leadership is derived, never stored: from the group's live Executions
as the cluster shows them, so an operator restart chooses the same leader
(an Execution that started an attempt always leads; else the first in
admission order: highest priority, then oldest).

The operator cannot tell a data provider from a workflow by its spec, only by
how the leader ended: a run that succeeded without using the cache
(`status.cache` absent) shows the entrypoint is not a cached data provider,
and then the group is *released*: everyone runs on their own. That memory is
the operator's only one here; a restart loses it, and then costs one more
leader's run before the group is released again — never a wrong result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kuberun.contract.phases import Phase
from kuberun_operator import cachehits


@dataclass(frozen=True)
class Member:
    """One live Execution of a cache group, as the stampede decision needs it."""

    uid: str
    name: str
    created_at: float
    started: bool  # holds a slot: an attempt started (or was granted) — it computes
    priority: int = 0
    namespace: str = ""  # an organization's group may span namespaces

    def order_key(self) -> tuple[int, float, str, str, str]:
        """Admission's order (higher priority, then older), so the leader is the one
        admission would take first."""
        return (-self.priority, self.created_at, self.namespace, self.name, self.uid)


def leader(members: Iterable[Member]) -> Member | None:
    """The member that computes: a started one (the first in admission order, if several),
    else the first in admission order (highest priority, then oldest)."""
    items = list(members)
    if not items:
        return None
    started = [m for m in items if m.started]
    pool = started or items
    return min(pool, key=Member.order_key)


def waiters(members: Iterable[Member], released: bool = False) -> dict[str, str]:
    """Waiting member uid → the name of the leader it waits for.

    Started members never wait (they run already). In a released group nobody
    waits. Several started members (a released group, or created before the
    guard was on) are all left running; the unstarted ones wait for the oldest.
    """
    if released:
        return {}
    items = list(members)
    head = leader(items)
    if head is None:
        return {}
    return {m.uid: head.name for m in items if not m.started and m.uid != head.uid}


# Phases of a leader's end that show the entrypoint did not use the cache (when its
# status has no `cache` field): a workflow, or a provider with caching turned off.
_RAN_WITHOUT_CACHE = frozenset({Phase.SUCCESS, Phase.COMPLETED_WITH_ERRORS})


def releases(status: Mapping[str, Any]) -> bool:
    """Whether a member's final status shows its group has nothing to wait for."""
    try:
        phase = Phase(str(status.get("phase")))
    except ValueError:
        return False
    return phase in _RAN_WITHOUT_CACHE and status.get("cache") is None


def group_key(raw_spec: Mapping[str, Any], namespace: str) -> str | None:
    """The cache group of an Execution body's spec (its cache entry), or None.

    Read from the raw spec (admission's view is built on every watch event, so no
    model validation here); a spec too odd to read belongs to no group and just runs.
    """
    entrypoint = raw_spec.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint or raw_spec.get("cancel") is True:
        return None
    cache = raw_spec.get("cache")
    if isinstance(cache, Mapping) and (cache.get("bypass") is True or cache.get("ttlSeconds") == 0):
        return None
    parameters = raw_spec.get("parameters") or {}
    organization = raw_spec.get("organization")
    if not isinstance(parameters, dict) or not (
        organization is None or isinstance(organization, str)
    ):
        return None
    return cachehits.entry_key(organization, namespace, entrypoint, parameters)
