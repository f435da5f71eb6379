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
