"""Helpers for the operator's end-to-end tests: the operator process and Executions.

The operator under test is a real `python -m kuberun_operator` subprocess
against the session's cluster, restricted to the test's namespace (so tests
never see each other's executions), with its HTTP port on a free port.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from e2e import harness
from kuberun.contract import spec as contract
from tests.support.redis_server import free_port

REPO = pathlib.Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "executions.kuberun.dev.yaml"
TERMINAL = {"SUCCESS", "COMPLETED_WITH_ERRORS", "FAILED", "TIMED_OUT", "CANCELLED"}


def apply_crd(cluster: harness.Cluster) -> None:
    cluster.kubectl("apply", "-f", str(CRD_FILE))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/executions.kuberun.dev", "--timeout=60s"
    )


def prepare_namespace(cluster: harness.Cluster, namespace: str, redis_url: str) -> None:
    """What a namespace needs: the runners' Redis Secret (the operator makes the account)."""
    cluster.kubectl(
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "kuberun-redis",
        f"--from-literal=url={redis_url}",
    )


@dataclass
class Operator:
    """A `python -m kuberun_operator` process."""

    cluster: harness.Cluster
    namespace: str
    redis_url: str | None
    log_path: pathlib.Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        self.port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "KUBERUN_NAMESPACES": json.dumps([self.namespace]),
            "KUBERUN_HTTP_PORT": str(self.port),
            "KUBERUN_HTTP_HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        if self.redis_url:
            env["KUBERUN_REDIS_URL"] = self.redis_url
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kuberun_operator"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()
        harness.wait_for("operator /readyz", self.ready, timeout=30, interval=0.1)
        return self

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited {self.process.returncode}:\n{self.logs()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye — the crash the operator must survive."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def execution(name: str, source: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": contract.API_VERSION,
        "kind": contract.KIND,
        "metadata": {"name": name},
        "spec": {"source": {"inline": source}, **spec},
    }


def create(cluster: harness.Cluster, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = cluster.custom.create_namespaced_custom_object(
        contract.GROUP, contract.VERSION, namespace, contract.PLURAL, body
    )
    return created


def get(cluster: harness.Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
        contract.GROUP, contract.VERSION, namespace, contract.PLURAL, name
    )
    return found


def patch_spec(cluster: harness.Cluster, namespace: str, name: str, **fields: Any) -> None:
    cluster.custom.patch_namespaced_custom_object(
        contract.GROUP, contract.VERSION, namespace, contract.PLURAL, name, {"spec": fields}
    )


def status(cluster: harness.Cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(get(cluster, namespace, name).get("status") or {})


def wait_phase(
    cluster: harness.Cluster,
    namespace: str,
    name: str,
    *phases: str,
    timeout: float = 60,
    interval: float = 0.05,
) -> dict[str, Any]:
    """Wait until the Execution's phase is one of `phases` (any terminal one if none given)."""
    wanted = set(phases) or TERMINAL

    def check() -> dict[str, Any] | None:
        current = status(cluster, namespace, name)
        if current.get("phase") in wanted:
            return current
        if current.get("phase") in TERMINAL:
            raise AssertionError(f"{name} ended {current.get('phase')}, not {wanted}: {current}")
        return None

    return harness.wait_for(
        f"{namespace}/{name} in {wanted}", check, timeout=timeout, interval=interval
    )


def jobs_of(cluster: harness.Cluster, namespace: str) -> list[Any]:
    return list(
        cluster.batch.list_namespaced_job(
            namespace, label_selector="app.kubernetes.io/managed-by=kuberun"
        ).items
    )


def pods_of(cluster: harness.Cluster, namespace: str) -> list[Any]:
    return list(
        cluster.core.list_namespaced_pod(
            namespace, label_selector="app.kubernetes.io/managed-by=kuberun"
        ).items
    )


def release_finalizers(cluster: harness.Cluster, namespace: str) -> None:
    """After the operator stopped: let the namespace go even with live executions."""
    listed = cluster.custom.list_namespaced_custom_object(
        contract.GROUP, contract.VERSION, namespace, contract.PLURAL
    )
    for item in listed.get("items", []):
        with contextlib.suppress(Exception):
            cluster.custom.patch_namespaced_custom_object(
                contract.GROUP,
                contract.VERSION,
                namespace,
                contract.PLURAL,
                item["metadata"]["name"],
                {"metadata": {"finalizers": None}},
            )


def stream_messages(
    redis_client: Any, namespace: str, uid: str
) -> list[tuple[str, dict[str, str]]]:
    from kuberun.contract import keys

    entries = redis_client.xrange(keys.logs_stream(namespace, uid))
    return [
        (i.decode(), {k.decode(): v.decode() for k, v in fields.items()}) for i, fields in entries
    ]


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


class PodPeak:
    """The most runner pods alive at once in a namespace, polled every 50 ms."""

    def __init__(self, cluster: harness.Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PodPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(Exception):
                live = [
                    p
                    for p in pods_of(self.cluster, self.namespace)
                    if p.status.phase in ("Pending", "Running")
                    and not p.metadata.deletion_timestamp
                ]
                self.peak = max(self.peak, len(live))
            time.sleep(0.05)
