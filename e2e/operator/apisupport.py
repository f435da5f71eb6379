"""Helpers for the log API's end-to-end tests: the API pod the chart installs, its
HTTP client (JSON, NDJSON, SSE read line by line so a reader can be cut anywhere),
and ServiceAccount tokens with and without `view`."""

from __future__ import annotations

import http.client
import json
import os
import signal
import urllib.parse
from dataclasses import dataclass
from typing import Any

from e2e import harness
from e2e.operator import support


def api_values(cluster: harness.Cluster, archive_secret: str | None) -> dict[str, Any]:
    """Chart values that turn the API on (reaching the API server as the operator does)."""
    values: dict[str, Any] = {
        "api": {"enabled": True, "extraEnv": cluster.api_env(), "logLevel": "DEBUG"}
    }
    if archive_secret:
        values["archive"] = {"existingSecret": archive_secret}
    return values


@dataclass
class ApiPod:
    """The chart's API Deployment of one test release."""

    operator: support.ChartOperator
    _killed: tuple[int, int] | None = None

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.operator.release},app.kubernetes.io/component=api"

    def pod(self) -> Any | None:
        cluster = self.operator.cluster
        pods = cluster.core.list_namespaced_pod(
            self.operator.namespace, label_selector=self.selector
        )
        live = [p for p in pods.items if not p.metadata.deletion_timestamp]
        return live[0] if live else None

    def address(self) -> tuple[str, int]:
        pod = self.pod()
        assert pod is not None and pod.status.pod_ip, "no API pod"
        return pod.status.pod_ip, 8080

    def base_url(self) -> str:
        host, port = self.address()
        return f"http://{host}:{port}"

    def _ready(self) -> bool:
        pod = self.pod()
        if pod is None or not pod.status.pod_ip:
            return False
        local = self.operator.cluster.local
        if local is not None and self._killed is not None:
            pid = local.container_pid(self.operator.namespace, pod.metadata.name, "api")
            if pid is None or pid == self._killed:
                return False
        try:
            return request(self, "GET", "/readyz")[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 120) -> ApiPod:
        harness.wait_for("the API pod ready", self._ready, timeout=timeout, interval=0.2)
        return self

    def kill(self) -> None:
        """SIGKILL the API's process (the kubelet restarts the container, same pod IP)."""
        local = self.operator.cluster.local
        pod = self.pod()
        assert local is not None and pod is not None, "killing needs the local node"
        pid = harness.wait_container_pid(local, self.operator.namespace, pod.metadata.name, "api")
        os.kill(pid[0], signal.SIGKILL)
        self._killed = pid
        harness.wait_for("the API process gone", lambda: not local.process_alive(pid))

    def logs(self) -> str:
        pod = self.pod()
        if pod is None:
            return ""
        result = self.operator.cluster.kubectl(
            "-n", self.operator.namespace, "logs", pod.metadata.name, "-c", "api", check=False
        )
        return str(result.stdout)


def request(
    api: ApiPod,
    method: str,
    path: str,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    host, port = api.address()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def get_json(api: ApiPod, path: str, token: str | None) -> tuple[int, Any]:
    status, _, body = request(api, "GET", path, token, {"Accept": "application/json"})
    return status, json.loads(body) if body else None


def path(namespace: str, name: str = "", tail: str = "", **query: str) -> str:
    base = f"/api/v1/namespaces/{namespace}/executions"
    if name:
        base += f"/{name}"
    if tail:
        base += f"/{tail}"
    return base + ("?" + urllib.parse.urlencode(query) if query else "")


def ndjson(api: ApiPod, url: str, token: str) -> tuple[int, dict[str, str], list[dict[str, Any]]]:
    status, headers, body = request(api, "GET", url, token, {"Accept": "application/x-ndjson"})
    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    return status, headers, lines


def read_events(
    api: ApiPod,
    url: str,
    token: str,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    timeout: float = 60,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(log records, the end event's data or None) of one SSE connection, closed after
    `stop_after` records when given (a reader cut mid-stream)."""
    host, port = api.address()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    records: list[dict[str, Any]] = []
    try:
        conn.request("GET", url, headers=headers)
        response = conn.getresponse()
        assert response.status == 200, (response.status, response.read())
        current: dict[str, str] = {}
        while True:
            raw = response.readline()
            if not raw:
                return records, None
            line = raw.decode().rstrip("\r\n")
            if line.startswith(":"):
                continue
            if line:
                key, _, value = line.partition(":")
                current[key] = value.removeprefix(" ")
                continue
            event, current = current, {}
            if event.get("event") == "end":
                return records, json.loads(event["data"])
            if event.get("event") == "log":
                data = json.loads(event["data"])
                assert data["id"] == event["id"]
                records.append(data)
                if stop_after is not None and len(records) >= stop_after:
                    return records, None
    finally:
        conn.close()


def account_token(cluster: harness.Cluster, namespace: str, account: str, view: bool) -> str:
    """A token of a new ServiceAccount, bound to `view` in its namespace when asked."""
    cluster.kubectl("-n", namespace, "create", "serviceaccount", account)
    if view:
        cluster.kubectl(
            "-n", namespace, "create", "rolebinding", f"{account}-view",
            "--clusterrole=view", f"--serviceaccount={namespace}:{account}",
        )  # fmt: skip
    result = cluster.kubectl("-n", namespace, "create", "token", account, "--duration=1h")
    return str(result.stdout).strip()
