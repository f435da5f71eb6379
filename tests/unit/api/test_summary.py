from __future__ import annotations

import datetime

from kuberun_operator.api import summary

BODY = {
    "metadata": {
        "name": "a",
        "namespace": "ns",
        "uid": "u1",
        "creationTimestamp": "2026-01-01T00:00:00Z",
    },
    "spec": {"source": {"inline": "x"}},
    "status": {
        "phase": "SUCCESS",
        "reason": "Completed",
        "attempt": 1,
        "startTime": "2026-01-01T00:00:01Z",
        "completionTime": "2026-01-01T00:00:03.500000Z",
    },
}


def test_a_live_execution() -> None:
    item = summary.from_execution(BODY)
    assert item == {
        "name": "a",
        "namespace": "ns",
        "uid": "u1",
        "phase": "SUCCESS",
        "reason": "Completed",
        "message": None,
        "attempt": 1,
        "createdAt": "2026-01-01T00:00:00Z",
        "startedAt": "2026-01-01T00:00:01Z",
        "finishedAt": "2026-01-01T00:00:03.500000Z",
        "durationSeconds": 2.5,
        "archived": False,
    }
    assert summary.from_execution(BODY, detail=True)["spec"] == BODY["spec"]


def test_an_archived_execution() -> None:
    row = {
        "uid": "u0",
        "name": "old",
        "namespace": "ns",
        "phase": "FAILED",
        "reason": "UserError",
        "message": "boom",
        "attempts": 2,
        "status": '{"phase": "FAILED", "attempt": 2, "durationSeconds": 4.0}',
        "spec": "{}",
        "created_at": datetime.datetime(2025, 12, 31, tzinfo=datetime.UTC),
        "finished_at": datetime.datetime(2025, 12, 31, 0, 0, 5, tzinfo=datetime.UTC),
    }
    item = summary.from_archive(row)
    assert item["archived"] is True and item["attempt"] == 2 and item["durationSeconds"] == 4.0
    assert item["createdAt"] == "2025-12-31T00:00:00Z"
    assert summary.merged([summary.from_execution(BODY)], [item, {**item, "uid": "u1"}]) == [
        summary.from_execution(BODY),
        item,
    ]
