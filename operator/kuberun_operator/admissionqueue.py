"""Admission kept incrementally: the waiting executions in order, the slots counted.

`admission.plan()` decides from scratch — every live execution in, a sorted
queue out — which is right but costs O(n log n) per round, and a round follows
every new Execution: 10,000 created at once cost O(n² log n). This structure
gives the same answers (the same order, the same per-namespace limits, the same
positions) and is kept up to date by the watch events instead:

- an execution enters, moves or leaves in O(log n) search plus a memmove of
  pointers (`bisect.insort` on a flat list: at 100,000 waiting, tens of µs);
- admitting one costs O(namespaces with waiting executions): each namespace
  keeps its own ordered list, and the best head among namespaces still under
  their limit is taken, so a namespace at its limit blocks no one behind it;
- a position is a binary search; publishing positions walks the list once,
  and only when the order changed (`dirty`).

No I/O and no clock: `ClusterState` feeds it, the admission loop asks it.
It holds nothing the cluster does not show (it is rebuilt by listing).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator

from kuberun_operator.admission import Candidate

OrderKey = tuple[int, float, str, str]
Item = tuple[OrderKey, str]  # (order key, uid): unique, since the key ends in the name


class AdmissionQueue:
    """Who holds a slot, who waits in which order; see the module docstring."""

    def __init__(self) -> None:
        self._waiting: list[Item] = []  # every waiting execution, in admission order
        self._by_namespace: dict[str, list[Item]] = {}  # the same, split by namespace
        self._items: dict[str, tuple[Item, str]] = {}  # uid → (its item, its namespace)
        self._holding: dict[str, str] = {}  # uid → namespace
        self._held: Counter[str] = Counter()  # namespace → slots held
        self.dirty = False  # the waiting order changed since `positions()` last ran

    # --- feeding -------------------------------------------------------------------------
    def put(self, cand: Candidate | None, uid: str) -> None:
        """Record what an execution is now: waiting or holding (`cand`), or gone (None).

        Idempotent: putting the same thing twice changes nothing.
        """
        if cand is not None and cand.holds_slot:
            self._unwait(uid)
            if uid not in self._holding:
                self._holding[uid] = cand.namespace
                self._held[cand.namespace] += 1
            return
        self._release(uid)
        if cand is None:
            self._unwait(uid)
            return
        item: Item = (cand.order_key(), uid)
        known = self._items.get(uid)
        if known is not None and known[0] == item:
            return
        self._unwait(uid)
        self._items[uid] = (item, cand.namespace)
        bisect.insort(self._waiting, item)
        bisect.insort(self._by_namespace.setdefault(cand.namespace, []), item)
        self.dirty = True

    def _unwait(self, uid: str) -> None:
        known = self._items.pop(uid, None)
        if known is None:
            return
        item, namespace = known
        _remove(self._waiting, item)
        bucket = self._by_namespace[namespace]
        _remove(bucket, item)
        if not bucket:
            del self._by_namespace[namespace]
        self.dirty = True

    def _release(self, uid: str) -> None:
        namespace = self._holding.pop(uid, None)
        if namespace is not None:
            self._held[namespace] -= 1
            if not self._held[namespace]:
                del self._held[namespace]

    # --- deciding ------------------------------------------------------------------------
    def admit(self, max_running: int, max_per_namespace: int) -> list[str]:
        """Grant slots while both limits allow, best first; the granted now hold slots.

        Within a namespace the order is strict; across namespaces the best head
        whose namespace is under its limit goes next.
        """
        admitted: list[str] = []
        while len(self._holding) < max_running:
            best: tuple[Item, str] | None = None
            for namespace, bucket in self._by_namespace.items():
                if self._held[namespace] < max_per_namespace and (
                    best is None or bucket[0] < best[0]
                ):
                    best = (bucket[0], namespace)
            if best is None:
                break
            (key, uid), namespace = best
            self.put(Candidate(uid, namespace, key[3], holds_slot=True), uid)
            admitted.append(uid)
        return admitted

    def position(self, uid: str) -> int | None:
        """1-based place in the global order, or None when not waiting."""
        known = self._items.get(uid)
        if known is None:
            return None
        return bisect.bisect_left(self._waiting, known[0]) + 1

    def positions(self) -> Iterator[tuple[str, int]]:
        """(uid, position) of every waiting execution, in order; clears `dirty`."""
        self.dirty = False
        for index, (_, uid) in enumerate(self._waiting):
            yield uid, index + 1

    @property
    def running(self) -> int:
        return len(self._holding)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def holds(self, uid: str) -> bool:
        return uid in self._holding


def _remove(items: list[Item], item: Item) -> None:
    index = bisect.bisect_left(items, item)
    if index < len(items) and items[index] == item:
        del items[index]
