"""The incremental admission queue gives `admission.plan()`'s answers, event by event."""

from __future__ import annotations

import asyncio
import random
import time
from typing import cast

import pytest

from kuberun_operator import admission, clusterstate, handlers
from kuberun_operator.admission import Candidate
from kuberun_operator.admissionqueue import AdmissionQueue
from kuberun_operator.context import OperatorContext
from kuberun_operator.kubeio import Kube
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings
from tests.unit.operator import factories as f
from tests.unit.operator.test_clusterstate import execution


def cand(uid: str, ns: str = "a", prio: int = 0, at: float = 0.0, holds: bool = False) -> Candidate:
    return Candidate(uid, ns, uid, prio, at, holds)


@pytest.mark.parametrize("seed", range(40))
def test_same_admissions_and_positions_as_the_full_plan(seed: int) -> None:
    rng = random.Random(seed)
    live: dict[str, Candidate] = {}
    queue = AdmissionQueue()
    max_running, per_ns = rng.randint(1, 6), rng.randint(1, 4)
    for step in range(120):
        roll = rng.random()
        if roll < 0.55 or not live:  # a new one
            uid = f"e{step:03d}"
            c = cand(uid, rng.choice("abc"), rng.choice([0, 0, 1, 5]), float(rng.randint(0, 30)))
            live[uid] = c
            queue.put(c, uid)
        elif roll < 0.8:  # one ends (running or queued)
            uid = rng.choice(sorted(live))
            del live[uid]
            queue.put(None, uid)
        else:  # an event repeats what is known: changes nothing
            uid = rng.choice(sorted(live))
            queue.put(live[uid], uid)
        expected = admission.plan(live.values(), max_running, per_ns)
        got = queue.admit(max_running, per_ns)
        assert got == list(expected.admit)
        for uid in got:
            live[uid] = cand(uid, live[uid].namespace, live[uid].priority,
                             live[uid].created_at, holds=True)  # fmt: skip
        assert dict(queue.positions()) == expected.positions
        assert {u: queue.position(u) for u in expected.positions} == expected.positions
        assert (queue.running, queue.waiting) == (expected.running, expected.waiting)


def test_a_namespace_at_its_limit_blocks_no_one_behind_it() -> None:
    queue = AdmissionQueue()
    for i, ns in enumerate("aaab"):
        queue.put(cand(f"{ns}{i}", ns, at=float(i)), f"{ns}{i}")
    assert queue.admit(max_running=3, max_per_namespace=1) == ["a0", "b3"]
    assert dict(queue.positions()) == {"a1": 1, "a2": 2}


def test_dirty_only_when_the_order_changed() -> None:
    queue = AdmissionQueue()
    queue.put(cand("x"), "x")
    assert queue.dirty
    list(queue.positions())
    queue.put(cand("x"), "x")
    assert not queue.dirty
    queue.put(cand("x", holds=True), "x")
    assert queue.dirty and queue.running == 1


def test_one_freed_slot_rewrites_few_positions() -> None:
    """10,000 queued, one admitted after another: the positions worth writing stay few."""
    queue = AdmissionQueue()
    for i in range(10_000):
        queue.put(cand(f"e{i:05d}", at=float(i)), f"e{i:05d}")
    queue.put(cand("run", at=-1.0, holds=True), "run")
    written = dict(queue.positions())
    writes = []
    for _ in range(50):
        queue.put(None, queue_head(queue))  # the running one ends...
        admitted = queue.admit(max_running=1, max_per_namespace=10)  # ...and one starts
        assert len(admitted) == 1
        changed = [u for u, p in queue.positions() if admission.worth_publishing(written.get(u), p)]
        for uid, position in queue.positions():
            if uid in changed:
                written[uid] = position
        writes.append(len(changed))
    # the first ten always, then a tail that moved by a fifth: never the whole queue
    assert max(writes) < 60 and sum(writes) / len(writes) < 30  # measured: 10–29, mean 21


def queue_head(queue: AdmissionQueue) -> str:
    return next(iter(queue._holding))


def test_admission_round_cost_does_not_grow_with_the_queue() -> None:
    """A new Execution costs a bisect, not a sort: 20,000 enter in well under a second."""
    queue = AdmissionQueue()
    started = time.perf_counter()
    for i in range(20_000):
        queue.put(cand(f"e{i:05d}", rng_ns(i), at=float(i % 997)), f"e{i:05d}")
        queue.admit(max_running=2, max_per_namespace=2)
    assert time.perf_counter() - started < 2.0
    assert (queue.running, queue.waiting) == (2, 19_998)


def rng_ns(i: int) -> str:
    return "abcd"[i % 4]


def test_cluster_state_keeps_the_queue_from_events() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(execution("r", "RUNNING", 1))
    for uid in ("q1", "q2"):
        state.observe_execution(execution(uid, "PENDING", 0))
    assert (state.queue.running, state.queue.waiting) == (1, 2)
    assert state.queue_position("q2") == 2
    state.observe_execution(execution("r", "SUCCESS", 1))
    assert state.queue.admit(1, 1) == ["q1"]
    state.granted.add("q1")
    state.observe_execution(execution("q1", "PENDING", 0))  # its queued status, seen late
    assert state.queue.holds("q1") and state.queue.waiting == 1
    state.observe_execution(execution("q2", "PENDING", 0), deleted=True)
    assert state.queue.waiting == 0 and state.queue_position("q2") is None


# --- the admission round of `handlers`: what it grants and how much it writes ------------


def round_context(queued: int, max_running: int = 2) -> OperatorContext:
    rt = OperatorContext(
        settings=Settings(max_running=max_running, max_running_per_namespace=max_running),
        kube=cast(Kube, None),
        redis=None,
        metrics=Metrics(),
        state=clusterstate.ClusterState(),
    )
    for i in range(queued):
        body = execution(f"q{i:05d}", "PENDING", 0)
        body["metadata"]["creationTimestamp"] = f.stamp(f.T0 + i)
        rt.state.observe_execution(body)
    return rt


def test_a_round_publishes_a_bounded_number_of_positions_front_first() -> None:
    async def run() -> None:
        rt = round_context(1_000)
        loop = asyncio.get_running_loop()
        handlers._admit(rt, 0.0, loop)
        assert rt.state.granted == {"q00000", "q00001"}
        assert len(rt.state.positions) == admission.POSITION_WRITES_PER_ROUND
        assert rt.state.positions["q00002"] == 1 and rt.state.queue.dirty  # more to come
        # the next round comes only after the interval: nothing written before it
        published = dict(rt.state.positions)
        handlers._admit(rt, time.monotonic(), loop)
        assert rt.state.positions == published

    asyncio.run(run())


def test_one_freed_slot_at_ten_thousand_writes_few_positions() -> None:
    async def run() -> None:
        rt = round_context(10_000)
        state = rt.state
        for uid in list(state.queue._items):
            state.queue_position(uid)  # each one's first pass wrote its exact position
        loop = asyncio.get_running_loop()
        handlers._admit(rt, 0.0, loop)
        written = dict(state.positions)
        started = time.perf_counter()
        state.forget("q00000")  # a running one ends: one slot frees
        handlers._admit(rt, 0.0, loop)
        elapsed = time.perf_counter() - started
        assert "q00002" in state.granted
        changed = {u for u, p in state.positions.items() if written.get(u) != p}
        assert 0 < len(changed) <= 20  # the exact first ten, a few tail ones
        assert elapsed < 0.1  # one walk of 10,000, no sort

    asyncio.run(run())
