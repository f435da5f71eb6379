"""Pod events (``kubectl describe pod``, ``kubectl get events``) as the kubelet reports them.

Scheduled, Started, Failed, Killing, BackOff, DeadlineExceeded: the reasons a
person debugging a pod looks for. Events are best effort, as upstream: they are
sent in the background and a failure to send one is only logged.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from e2e.kubelet import kubeapi, statuses

logger = logging.getLogger(__name__)


def body(
    pod: dict[str, Any], *, kind: str, reason: str, message: str, node: str, component: str
) -> dict[str, Any]:
    """A core/v1 Event about ``pod``."""
    meta = pod["metadata"]
    now = statuses.now()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}"},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": component, "host": node},
        "reportingComponent": component,
        "reportingInstance": node,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class Recorder:
    """Sends events without making the caller wait."""

    def __init__(self, client: kubeapi.Client, node: str) -> None:
        self._client = client
        self._node = node
        self._pending: set[asyncio.Task[None]] = set()

    def emit(
        self,
        pod: dict[str, Any],
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str = "kubelet",
    ) -> None:
        event = body(
            pod,
            kind="Warning" if warning else "Normal",
            reason=reason,
            message=message,
            node=self._node,
            component=component,
        )
        task = asyncio.create_task(self._send(pod["metadata"]["namespace"], event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, namespace: str, event: dict[str, Any]) -> None:
        try:
            await self._client.create(f"/api/v1/namespaces/{namespace}/events", event)
        except Exception as error:  # best effort, as upstream
            logger.debug("event %s not sent: %s", event["reason"], error)
