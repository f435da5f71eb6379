"""Admission: limits, priority-then-age order, queue positions, no cross-namespace blocking."""

from __future__ import annotations

import pytest

from kuberun_operator import admission as adm


def cand(uid: str, ns: str = "a", prio: int = 0, age: float = 0.0, holds: bool = False):
    return adm.Candidate(
        uid=uid, namespace=ns, name=uid, priority=prio, created_at=age, holds_slot=holds
    )


def test_admits_oldest_first_up_to_the_limit() -> None:
    plan = adm.plan([cand(f"e{i}", age=i) for i in (3, 1, 2, 0, 5, 4)], 2, 10)
    assert plan.admit == ("e0", "e1")
    assert plan.positions == {"e2": 1, "e3": 2, "e4": 3, "e5": 4}


def test_priority_before_age() -> None:
    plan = adm.plan([cand("old", age=0), cand("urgent", prio=10, age=9)], 1, 10)
    assert plan.admit == ("urgent",)
    assert plan.positions == {"old": 1}


def test_running_ones_hold_their_slots() -> None:
    plan = adm.plan([cand("r1", holds=True), cand("r2", holds=True), cand("q", age=1)], 2, 10)
    assert plan.admit == () and plan.positions == {"q": 1} and plan.running == 2


def test_full_namespace_does_not_block_others() -> None:
    items = [cand("a1", "a", holds=True), cand("a2", "a", age=1), cand("b1", "b", age=2)]
    plan = adm.plan(items, 10, 1)
    assert plan.admit == ("b1",)
    assert plan.positions == {"a2": 1}


def test_ties_broken_by_name() -> None:
    plan = adm.plan([cand("b"), cand("a")], 1, 1)
    assert plan.admit == ("a",)


@pytest.mark.parametrize(
    "written, position, publish",
    [
        (None, 40, True),
        (3, 2, True),
        (2, 2, False),
        (11, 10, True),
        (100, 95, False),
        (100, 80, True),
        (50, 41, False),
        (50, 40, True),
    ],
)
def test_positions_near_the_front_are_exact_far_ones_coarse(
    written: int | None, position: int, publish: bool
) -> None:
    assert adm.worth_publishing(written, position) is publish
