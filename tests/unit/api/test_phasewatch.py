from __future__ import annotations

import threading
from typing import Any

from kuberun_operator.api.kube import PhaseWatch


def item(uid: str, phase: str | None, reason: str | None = None) -> dict[str, Any]:
    return {"metadata": {"uid": uid}, "status": {"phase": phase, "reason": reason}}


def watched(kube: Any = None) -> PhaseWatch:
    watch = PhaseWatch(kube)
    watch._synced.add("ns")
    watch._threads["ns"] = threading.Thread()  # never started: the test feeds the events
    return watch


def test_events_update_the_phase_and_deletion_keeps_the_last_one() -> None:
    watch = watched()
    watch._remember("ADDED", item("u1", "PENDING"))
    watch._remember("MODIFIED", item("u1", "RUNNING"))
    assert watch.phase("ns", "u1") == ("RUNNING", None)
    watch._remember("ERROR", {"metadata": {}, "status": {"code": 410}})
    watch._remember("DELETED", item("u1", "RUNNING"))
    assert watch.phase("ns", "u1") == ("RUNNING", "Deleted")


def test_an_unseen_uid_is_unknown_not_deleted() -> None:
    watch = watched()
    assert watch.phase("ns", "new-uid") is None
    watch._remember("ADDED", item("u2", "SUCCESS", "Completed"))
    assert watch.phase("ns", "u2") == ("SUCCESS", "Completed")


async def test_a_waiter_is_woken_by_the_terminal_event_only() -> None:
    import asyncio

    watch = watched()
    waiting = asyncio.create_task(watch.wait_terminal("ns", "u3", 1.0))
    await asyncio.sleep(0)
    watch._remember("MODIFIED", item("u3", "RUNNING"))
    await asyncio.sleep(0)
    assert not waiting.done()
    watch._remember("MODIFIED", item("u3", "FAILED", "UserError"))
    assert await waiting == ("FAILED", "UserError")
    assert watch._waiters == {}


async def test_a_waiter_returns_at_once_when_it_is_over_and_on_deletion() -> None:
    import asyncio

    watch = watched()
    watch._remember("ADDED", item("u4", "SUCCESS", "Completed"))
    assert await watch.wait_terminal("ns", "u4", 1.0) == ("SUCCESS", "Completed")
    waiting = asyncio.create_task(watch.wait_terminal("ns", "u5", 1.0))
    await asyncio.sleep(0)
    watch._remember("DELETED", item("u5", "RUNNING"))
    assert await waiting == (None, "Deleted")  # never seen before it went


async def test_a_waiter_gives_up_after_its_wait() -> None:
    watch = watched()
    assert await watch.wait_terminal("ns", "u6", 0.05) is None
    assert watch._waiters == {}
