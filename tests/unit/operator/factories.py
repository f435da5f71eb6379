"""Raw Job/Pod bodies as the API server sends them, for the operator's unit tests."""

from __future__ import annotations

from typing import Any

T0 = 1_800_000_000.0


def stamp(seconds: float) -> str:
    from kuberun_operator.statusmapping import format_time

    return format_time(seconds)


def pod(
    *,
    name: str = "run-1-abcde",
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    reason: str | None = None,
    message: str | None = None,
    created: float = T0,
    deleting: bool = False,
    started: float | None = None,
    deadline: int | None = None,
    disruption: str | None = None,
) -> dict[str, Any]:
    """`started`: the pod's status.startTime; `deadline`: its spec.activeDeadlineSeconds;
    `disruption`: the reason of a DisruptionTarget condition (an eviction)."""
    meta: dict[str, Any] = {"name": name, "creationTimestamp": stamp(created)}
    if deleting:
        meta["deletionTimestamp"] = stamp(created + 100)
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    if state is not None:
        status["containerStatuses"] = [{"name": "runner", "state": state}]
    if started is not None:
        status["startTime"] = stamp(started)
    if disruption is not None:
        status["conditions"] = [
            {"type": "DisruptionTarget", "status": "True", "reason": disruption}
        ]
    body: dict[str, Any] = {"metadata": meta, "status": status}
    if deadline is not None:
        body["spec"] = {"activeDeadlineSeconds": deadline}
    return body


def running(started: float = T0 + 1) -> dict[str, Any]:
    return {"running": {"startedAt": stamp(started)}}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


def terminated(
    exit_code: int, *, reason: str = "Error", message: str | None = None, finished: float = T0 + 5
) -> dict[str, Any]:
    term: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": stamp(T0 + 1),
        "finishedAt": stamp(finished),
    }
    if message is not None:
        term["message"] = message
    return {"terminated": term}


def job(
    *,
    name: str = "run-1",
    complete: bool = False,
    failed_reason: str | None = None,
    failure_target: str | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    """`failure_target`: the reason of a FailureTarget condition (Failed comes later)."""
    conditions = []
    if failure_target:
        conditions.append({"type": "FailureTarget", "status": "True", "reason": failure_target})
    if complete:
        conditions.append({"type": "Complete", "status": "True"})
    if failed_reason:
        conditions.append(
            {"type": "Failed", "status": "True", "reason": failed_reason, "message": "boom"}
        )
    meta: dict[str, Any] = {"name": name, "creationTimestamp": stamp(T0)}
    if deleting:
        meta["deletionTimestamp"] = stamp(T0 + 50)
    return {"metadata": meta, "status": {"conditions": conditions}}
