"""A cache stampede costs one pod: who leads a cache group, who waits, when they run."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun.contract import keys, status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import clusterstate, stampede
from kuberun_operator import reconciling as rc
from tests.unit.operator import factories as f
from tests.unit.operator.test_reconciling import decide, kinds, make_spec


def m(uid: str, created: float = 0.0, started: bool = False) -> stampede.Member:
    return stampede.Member(uid=uid, name=f"n-{uid}", created_at=created, started=started)


@pytest.mark.parametrize(
    "members, released, leader, waiting",
    [
        ([], False, None, {}),
        ([m("a")], False, "a", {}),
        ([m("b", 2), m("a", 1), m("c", 3)], False, "a", {"b": "n-a", "c": "n-a"}),
        # creationTimestamp has whole seconds: names break the tie, the same on every pass
        ([m("b", 1), m("a", 1)], False, "a", {"b": "n-a"}),
        # one that started leads even when an older one is queued (it already computes)
        ([m("a", 1), m("b", 2, started=True)], False, "b", {"a": "n-b"}),
        # two started (created before the guard): both run, the unstarted wait for the older
        ([m("a", 1, True), m("b", 2, True), m("c", 3)], False, "a", {"c": "n-a"}),
        # the one admission would take first leads: a higher priority before an older one
        ([m("a", 1), stampede.Member("b", "n-b", 2, False, priority=5)], False, "b",
         {"a": "n-b"}),
        # a released group (not a cached provider): nobody waits
        ([m("a", 1, True), m("b", 2), m("c", 3)], True, "a", {}),
    ],
    ids=["empty", "alone", "oldest-leads", "tie-by-name", "started-leads", "two-started",
         "priority-leads", "released"],
)  # fmt: skip
def test_leader_and_waiters(
    members: list[stampede.Member], released: bool, leader: str | None, waiting: dict[str, str]
) -> None:
    head = stampede.leader(members)
    assert (head.uid if head else None) == leader
    assert stampede.waiters(members, released) == waiting


@pytest.mark.parametrize(
    "final, released",
    [
        ({"phase": "SUCCESS", "cache": None}, True),  # a workflow: it never touched the cache
        ({"phase": "COMPLETED_WITH_ERRORS"}, True),
        ({"phase": "SUCCESS", "cache": {"hit": False}}, False),  # filled the cache
        ({"phase": "SUCCESS", "reason": "CacheHit", "cache": {"hit": True}}, False),
        ({"phase": "FAILED"}, False),  # a failed provider: the next waiter computes
        ({"phase": "CANCELLED"}, False),
        ({"phase": "nonsense"}, False),
        ({}, False),
    ],
    ids=["workflow", "workflow-errors", "filled", "hit", "failed", "cancelled", "bad", "none"],
)
def test_which_ends_release_the_group(final: dict[str, Any], released: bool) -> None:
    assert stampede.releases(final) is released


ENTRY = keys.cache_entry("acme", "regions", {"cloud": "gcp"})


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"entrypoint": "regions", "parameters": {"cloud": "gcp"}, "organization": "acme"}, ENTRY),
        ({"entrypoint": "regions", "parameters": {"cloud": "aws"}, "organization": "acme"},
         keys.cache_entry("acme", "regions", {"cloud": "aws"})),
        ({"entrypoint": "regions", "parameters": {"cloud": "gcp"}, "organization": "other"},
         keys.cache_entry("other", "regions", {"cloud": "gcp"})),
        ({"entrypoint": "regions", "parameters": {"cloud": "gcp"}},
         keys.cache_entry("namespace:ns", "regions", {"cloud": "gcp"})),
        ({"source": {"inline": "x"}}, None),  # a script
        ({"entrypoint": "regions", "cache": {"bypass": True}}, None),
        ({"entrypoint": "regions", "cache": {"ttlSeconds": 0}}, None),
        ({"entrypoint": "regions", "cancel": True}, None),
        ({"entrypoint": "regions", "parameters": ["not", "a", "dict"]}, None),
        ({"entrypoint": "regions", "organization": 7}, None),
    ],
    ids=["org", "other-params", "other-org", "namespace-scope", "script", "bypass", "ttl-off",
         "cancelled", "bad-params", "bad-org"],
)  # fmt: skip
def test_group_key_is_the_runners_cache_entry(raw: dict[str, Any], key: str | None) -> None:
    assert stampede.group_key(raw, "ns") == key


# --- the cluster view: groups built from watch events ---------------------------------


def body(
    uid: str,
    phase: str | None = None,
    attempt: int = 0,
    params: dict[str, Any] | None = None,
    org: str = "acme",
    created: float = f.T0,
    **final: Any,
) -> dict[str, Any]:
    st: dict[str, Any] = {"phase": phase, "attempt": attempt, **final} if phase else {}
    return {
        "metadata": {
            "uid": uid,
            "name": uid,
            "namespace": "ns",
            "creationTimestamp": f.stamp(created),
        },
        "spec": {
            "source": {"inline": "x"},
            "entrypoint": "regions",
            "parameters": params if params is not None else {"cloud": "gcp"},
            "organization": org,
        },
        "status": st,
    }


def admissible(state: clusterstate.ClusterState) -> set[str]:
    return {c.uid for c in state.candidates()}


def test_a_stampede_admits_one_and_the_rest_wait_for_it() -> None:
    state = clusterstate.ClusterState()
    for i in range(50):
        state.observe_execution(body(f"e{i:02d}", "PENDING"))
    assert admissible(state) == {"e00"}
    assert state.waiting_for("e00") is None
    assert {state.waiting_for(f"e{i:02d}") for i in range(1, 50)} == {"e00"}


def test_other_params_or_organization_are_never_merged() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(body("a", "PENDING"))
    state.observe_execution(body("b", "PENDING", params={"cloud": "aws"}))
    state.observe_execution(body("c", "PENDING", org="globex"))
    state.observe_execution(body("d", "PENDING", params={}))
    assert admissible(state) == {"a", "b", "c", "d"}
    assert all(state.waiting_for(u) is None for u in "abcd")


def test_a_failed_leader_hands_over_to_exactly_one_waiter() -> None:
    state = clusterstate.ClusterState()
    for uid in ("a", "b", "c"):
        state.observe_execution(body(uid, "PENDING", created=f.T0 + ord(uid)))
    state.observe_execution(body("a", "RUNNING", 1, created=f.T0 + ord("a")))
    b, c = state.waker("b"), state.waker("c")
    state.observe_execution(body("a", "FAILED", 1, created=f.T0 + ord("a")))
    assert admissible(state) == {"b"}
    assert state.waiting_for("c") == "b"
    assert b.is_set() and c.is_set()  # both look again: the cache first, then their verdict


def test_a_leader_that_ran_without_the_cache_releases_everyone() -> None:
    state = clusterstate.ClusterState()
    for uid in ("a", "b", "c"):
        state.observe_execution(body(uid, "PENDING"))
    state.observe_execution(body("a", "RUNNING", 1))
    state.forget("a", final={"phase": "SUCCESS", "cache": None})  # the daemon's end
    assert admissible(state) == {"b", "c"}
    state.observe_execution(body("a", "SUCCESS", 1))  # its watch event, later
    assert admissible(state) == {"b", "c"}


def test_a_deleted_leader_hands_over_and_an_empty_group_forgets_its_release() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(body("a", "PENDING"))
    state.observe_execution(body("b", "PENDING", created=f.T0 + 1))
    state.observe_execution(body("a", "RUNNING", 1), deleted=True)
    assert admissible(state) == {"b"}
    state.forget("b", final={"phase": "SUCCESS"})
    assert state.groups == {} and state.released == set()


def test_cancelling_a_waiter_takes_it_out_of_its_group() -> None:
    state = clusterstate.ClusterState()
    state.observe_execution(body("a", "PENDING"))
    waiter = body("b", "PENDING", created=f.T0 + 1)
    state.observe_execution(waiter)
    waiter["spec"]["cancel"] = True
    state.observe_execution(waiter)
    assert state.waiting_for("b") is None and state.groups[ENTRY] == {"a"}


def test_the_guard_off_admits_them_all() -> None:
    state = clusterstate.ClusterState()
    state.stampede_guard = False
    for uid in ("a", "b", "c"):
        state.observe_execution(body(uid, "PENDING"))
    assert admissible(state) == {"a", "b", "c"}


def test_a_restart_chooses_the_same_leader() -> None:
    bodies = [body(u, "PENDING", created=f.T0 + i) for i, u in enumerate("cab")]
    bodies[2] = body("b", "RUNNING", 1, created=f.T0 + 2)  # b started before the restart
    one, two = clusterstate.ClusterState(), clusterstate.ClusterState()
    for b in bodies:
        one.observe_execution(b)
    for b in reversed(bodies):
        two.observe_execution(b)
    assert {u: one.waiting_for(u) for u in "abc"} == {u: two.waiting_for(u) for u in "abc"}
    assert one.waiting_for("c") == "b"


# --- the decision for one waiter ---------------------------------------------------------


def test_a_waiter_waits_without_a_slot_or_a_pod() -> None:
    got = decide(status.ExecutionStatus(), execution=make_spec(entrypoint="regions"),
                 waiting_for="first")  # fmt: skip
    assert (got.status.phase, got.status.reason) == (Phase.PENDING, Reason.WAITING_FOR_CACHE)
    assert "first" in (got.status.message or "")
    assert got.status.queue_position is None and "CreateAttempt" not in kinds(got)


def test_a_waiter_ends_from_the_leaders_entry() -> None:
    waiting = decide(status.ExecutionStatus(), waiting_for="first").status
    got = decide(waiting, cached=rc.CachedResult(key=ENTRY, value=[1]), waiting_for=None)
    assert (got.status.phase, got.status.reason) == (Phase.SUCCESS, Reason.CACHE_HIT)
    assert got.status.result == [1] and "CreateAttempt" not in kinds(got)


def test_a_waiter_whose_leader_failed_takes_over() -> None:
    waiting = decide(status.ExecutionStatus(), waiting_for="first").status
    queued = decide(waiting, queue_position=1)
    assert (queued.status.reason, queued.status.queue_position) == (Reason.QUEUED, 1)
    got = decide(queued.status, admitted=True)
    assert got.status.attempt == 1 and "CreateAttempt" in kinds(got)


def test_a_waiter_can_be_cancelled_at_once() -> None:
    waiting = decide(status.ExecutionStatus(), waiting_for="first").status
    got = decide(waiting, execution=make_spec(cancel=True), waiting_for="first")
    assert got.status.phase == Phase.CANCELLED and "CreateAttempt" not in kinds(got)
