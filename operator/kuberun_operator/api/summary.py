"""ExecutionSummary, the wire shape of the list and detail endpoints. Pure.

Built from an Execution object (as the API server returns it) or from an
archive row (an Execution already deleted, marked `archived`), so a client
reads both the same way.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from kuberun.contract.phases import TERMINAL_PHASE_VALUES

TERMINAL = TERMINAL_PHASE_VALUES


def _time(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        begin = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
        finish = datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((finish - begin).total_seconds(), 3)


def from_execution(body: Mapping[str, Any], detail: bool = False) -> dict[str, Any]:
    """The summary of a live Execution object (plus `spec` and `status` for detail)."""
    metadata = body.get("metadata") or {}
    current = body.get("status") or {}
    started, finished = current.get("startTime"), current.get("completionTime")
    duration = current.get("durationSeconds")
    summary: dict[str, Any] = {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "uid": metadata.get("uid"),
        "phase": current.get("phase"),
        "reason": current.get("reason"),
        "message": current.get("message"),
        "attempt": int(current.get("attempt") or 0),
        "createdAt": _time(metadata.get("creationTimestamp")),
        "startedAt": _time(started),
        "finishedAt": _time(finished),
        "durationSeconds": duration
        if duration is not None
        else _seconds_between(started, finished),
        "archived": False,
    }
    if detail:
        summary["spec"] = body.get("spec") or {}
        summary["status"] = current
    return summary


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def from_archive(row: Mapping[str, Any], detail: bool = False) -> dict[str, Any]:
    """The summary of an archive row (`kuberun_executions`) of a deleted Execution."""
    current = _json(row.get("status")) or {}
    started = current.get("startTime")
    finished = _time(row.get("finished_at")) or current.get("completionTime")
    duration = current.get("durationSeconds")
    summary: dict[str, Any] = {
        "name": row["name"],
        "namespace": row["namespace"],
        "uid": row["uid"],
        "phase": row["phase"],
        "reason": row.get("reason"),
        "message": row.get("message"),
        "attempt": int(current.get("attempt") or row.get("attempts") or 0),
        "createdAt": _time(row.get("created_at")),
        "startedAt": _time(started),
        "finishedAt": finished,
        "durationSeconds": duration
        if duration is not None
        else _seconds_between(started, finished),
        "archived": True,
    }
    if detail:
        summary["spec"] = _json(row.get("spec")) or {}
        summary["status"] = current
    return summary


def merged(live: list[dict[str, Any]], archived: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live executions, then archived ones no longer live (by uid), newest first."""
    seen = {item["uid"] for item in live}
    items = live + [item for item in archived if item["uid"] not in seen]
    return sorted(items, key=lambda item: item.get("createdAt") or "", reverse=True)


def is_terminal(phase: str | None) -> bool:
    return phase in TERMINAL
