"""Pod status documents, built without I/O from what the pod worker knows.

The shapes follow what the real kubelet writes through ``pods/status``, since
the Job controller and the kuberun operator read them: the phase, the
``PodReadyToStartContainers``/``Initialized``/``ContainersReady``/``Ready``
conditions with stable transition times, and one ``containerStatuses`` entry
per container with ``waiting``/``running``/``terminated`` state (exit code,
reason ``Completed``/``Error``/``OOMKilled``/``StartError``, start and finish
times, and the termination message).
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from e2e.kubelet import fields

MESSAGE_LIMIT = 4096
FALLBACK_LINES = 80
FALLBACK_BYTES = 2048


def now() -> str:
    """RFC 3339 time in seconds, the API's format."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class Container:
    """What the kubelet reports about one container."""

    name: str
    image: str
    restart_count: int = 0
    attempt: int = -1
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    running_since: str | None = None
    terminated: dict[str, Any] | None = None
    last_terminated: dict[str, Any] | None = None

    def status(self, pod_uid: str) -> dict[str, Any]:
        state: dict[str, Any]
        if self.terminated is not None:
            state = {"terminated": self.terminated}
        elif self.running_since is not None:
            state = {"running": {"startedAt": self.running_since}}
        else:
            reason, message = self.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        status: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": f"kuberun-process://{self.image}",
            "ready": self.running_since is not None and self.terminated is None,
            "started": self.running_since is not None and self.terminated is None,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.attempt >= 0:
            status["containerID"] = f"kuberun-process://{pod_uid}/{self.name}/{self.attempt}"
        return status


def terminated(
    exit_info: dict[str, Any], *, oom_killed: bool, message: str, attempt_id: str
) -> dict[str, Any]:
    """The ``state.terminated`` of a container from its shim's exit record."""
    code = int(exit_info["exitCode"])
    if oom_killed and code in (137, 128 + 9):
        reason = "OOMKilled"
    elif exit_info.get("reason"):
        reason = str(exit_info["reason"])
    else:
        reason = "Completed" if code == 0 else "Error"
    if not message and exit_info.get("message"):
        message = str(exit_info["message"])
    result: dict[str, Any] = {
        "exitCode": code,
        "reason": reason,
        "startedAt": exit_info.get("startedAt") or now(),
        "finishedAt": exit_info.get("finishedAt") or now(),
        "containerID": attempt_id,
    }
    if exit_info.get("signal"):
        result["signal"] = int(exit_info["signal"])
    if message:
        result["message"] = message
    return result


def termination_message(
    container: dict[str, Any], termination_log: bytes, log_tail: bytes, exit_code: int
) -> str:
    """The termination message: the file, or the log's tail under FallbackToLogsOnError."""
    text = termination_log[:MESSAGE_LIMIT].decode(errors="replace")
    policy = container.get("terminationMessagePolicy", "File")
    if not text.strip() and policy == "FallbackToLogsOnError" and exit_code != 0:
        lines = log_tail.splitlines()[-FALLBACK_LINES:]
        text = b"\n".join(lines)[-FALLBACK_BYTES:].decode(errors="replace")
    return text


class Conditions:
    """Pod conditions whose ``lastTransitionTime`` changes only when the status does."""

    ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")

    def __init__(self, existing: list[dict[str, Any]] | None = None) -> None:
        self._items: dict[str, dict[str, Any]] = {c["type"]: dict(c) for c in existing or []}

    def set(self, kind: str, status: bool, reason: str = "") -> None:
        value = "True" if status else "False"
        current = self._items.get(kind)
        if (
            current is not None
            and current.get("status") == value
            and current.get("reason", "") == reason
        ):
            return
        item: dict[str, Any] = {
            "type": kind,
            "status": value,
            "lastProbeTime": None,
            "lastTransitionTime": now(),
        }
        if reason:
            item["reason"] = reason
        self._items[kind] = item

    def render(self) -> list[dict[str, Any]]:
        known = [self._items[k] for k in self.ORDER if k in self._items]
        others = [v for k, v in self._items.items() if k not in self.ORDER]
        return [*known, *others]


def pod_status(
    *,
    phase: str,
    conditions: Conditions,
    containers: list[Container],
    init_containers: list[Container],
    start_time: str,
    pod_uid: str,
    reason: str = "",
    message: str = "",
) -> dict[str, Any]:
    """The whole ``status`` written with a strategic-merge patch."""
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions.render(),
        "hostIP": fields.HOST_IP,
        "hostIPs": [{"ip": fields.HOST_IP}],
        "podIP": fields.HOST_IP,
        "podIPs": [{"ip": fields.HOST_IP}],
        "startTime": start_time,
        "containerStatuses": [c.status(pod_uid) for c in containers],
    }
    if init_containers:
        status["initContainerStatuses"] = [c.status(pod_uid) for c in init_containers]
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return status
