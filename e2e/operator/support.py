"""Helpers for the operator's end-to-end tests: the operator under test and Executions.

The operator under test is installed as users install it: `helm install` of
`helm/kuberun` into the test's namespace, restricted to that namespace (so
tests never see each other's executions), running in the cluster from its image
and authenticated as the chart's ServiceAccount (:class:`ChartOperator`). For
debugging, `KUBERUN_E2E_OPERATOR=process` runs it as a local
`python -m kuberun_operator` process instead (:class:`ProcessOperator`); both
offer the same methods.
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
from typing import Any, Protocol

import kubernetes

from e2e import harness
from e2e.cluster import binaries
from e2e.node import images
from kuberun.contract import spec as contract
from tests.support.redis_server import free_port

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "kuberun"
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


class Operator(Protocol):
    """What a test does with the operator under test, however it runs."""

    cluster: harness.Cluster
    namespace: str
    redis_url: str | None
    log_path: pathlib.Path
    env: dict[str, str]

    def start(self) -> Operator: ...

    def ready(self) -> bool: ...

    def metrics(self) -> str: ...

    def kill(self) -> None: ...

    def pid(self) -> int:
        """The operator's process id on this machine (benchmarks sample its CPU and RSS)."""
        ...

    def stop(self) -> None: ...

    def logs(self) -> str: ...


def operator_for(
    cluster: harness.Cluster,
    namespace: str,
    redis_url: str | None,
    log_path: pathlib.Path,
    env: dict[str, str] | None = None,
) -> Operator:
    """The operator as users run it (the chart), or a local process when asked for."""
    kind: type[ChartOperator] | type[ProcessOperator] = ChartOperator
    if os.environ.get("KUBERUN_E2E_OPERATOR", "chart") == "process":
        kind = ProcessOperator
    return kind(
        cluster=cluster,
        namespace=namespace,
        redis_url=redis_url,
        log_path=log_path,
        env=dict(env or {}),
    )


def _http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), ""
    except (urllib.error.URLError, OSError):
        return 0, ""


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, maps merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class ChartOperator:
    """The operator installed by our chart, running in the cluster from its image."""

    cluster: harness.Cluster
    namespace: str
    redis_url: str | None
    log_path: pathlib.Path
    env: dict[str, str] = field(default_factory=dict)
    #: Tests restart a hung operator quickly; a benchmark that saturates both cores
    #: for minutes passes a lenient probe (the chart's own default sits between).
    liveness_probe: dict[str, int] = field(
        default_factory=lambda: {"initialDelaySeconds": 10, "periodSeconds": 5}
    )
    #: More chart values, merged over `values()` (e.g. the log API's `api` section).
    extra_values: dict[str, Any] = field(default_factory=dict)
    installed: bool = False
    _killed: tuple[int, int] | None = None

    @property
    def release(self) -> str:
        """Unique per test: the namespace's random suffix (cluster-scoped RBAC is named by it)."""
        return f"kr-{self.namespace.rsplit('-', 1)[-1]}"

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.release},app.kubernetes.io/component=operator"

    def values(self) -> dict[str, Any]:
        """Chart values: this namespace only, our images, the test's Redis Secret and env."""
        built = images.planned()
        repository, tag = built.operator.ref.rsplit(":", 1)
        extra_env = [{"name": k, "value": v} for k, v in self.env.items()]
        # No kube-proxy on the local node: the operator reaches the API server at the
        # address it listens on, the bridge's, not the kubernetes Service's.
        extra_env += self.cluster.api_env()
        return _merged(self._base_values(built, repository, tag, extra_env), self.extra_values)

    def _base_values(
        self, built: Any, repository: str, tag: str, extra_env: list[dict[str, str]]
    ) -> dict[str, Any]:
        return {
            "watchNamespaces": [self.namespace],
            "operator": {
                "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
                "extraEnv": extra_env,
                "livenessProbe": self.liveness_probe,
                "readinessProbe": {"periodSeconds": 1},
            },
            "runner": {"image": built.runner.ref},
            "redis": {"existingSecret": "kuberun-redis"},
            # The session applied the CRD once; each test's release must not own it.
            "crds": {"install": False},
        }

    def _helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        result = subprocess.run(
            [str(binaries.helm_path()), *args, "--namespace", self.namespace],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def start(self) -> ChartOperator:
        """Install the release (once), then wait for a running, ready operator process."""
        if not self.installed:
            values = self.log_path.with_suffix(".values.json")
            values.parent.mkdir(parents=True, exist_ok=True)
            values.write_text(json.dumps(self.values()))
            self.installed = True
            self._helm("install", self.release, str(CHART), "-f", str(values))
        harness.wait_for("the operator pod ready", self._fresh_and_ready, timeout=120, interval=0.2)
        return self

    def _pod(self) -> Any | None:
        pods = self.cluster.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
        live = [p for p in pods.items if not p.metadata.deletion_timestamp]
        return live[0] if live else None

    def _fresh_and_ready(self) -> bool:
        pod = self._pod()
        if pod is None or not pod.status.pod_ip:
            return False
        local = self.cluster.local
        if local is not None and self._killed is not None:
            pid = local.container_pid(self.namespace, pod.metadata.name, "operator")
            if pid is None or pid == self._killed:
                return False
        return self.ready()

    def _url(self, path: str) -> str | None:
        pod = self._pod()
        if pod is None or not pod.status.pod_ip:
            return None
        return f"http://{pod.status.pod_ip}:8080{path}"

    def ready(self) -> bool:
        url = self._url("/readyz")
        return url is not None and _http_get(url, timeout=1)[0] == 200

    def metrics(self) -> str:
        url = self._url("/metrics")
        assert url is not None, "no operator pod"
        status, body = _http_get(url)
        assert status == 200, f"/metrics answered {status}"
        return body

    def pid(self) -> int:
        local = self.cluster.local
        pod = self._pod()
        assert local is not None and pod is not None, "the operator's process needs the local node"
        return harness.wait_container_pid(local, self.namespace, pod.metadata.name, "operator")[0]

    def kill(self) -> None:
        """SIGKILL the operator's process: no cleanup, no goodbye; the kubelet restarts it."""
        local = self.cluster.local
        pod = self._pod()
        assert local is not None and pod is not None, "killing needs the local node"
        pid = harness.wait_container_pid(local, self.namespace, pod.metadata.name, "operator")
        self._save_logs()
        os.kill(pid[0], signal.SIGKILL)
        self._killed = pid
        harness.wait_for("the operator process gone", lambda: not local.process_alive(pid))

    def stop(self) -> None:
        """Uninstall the release and wait until its pod is gone."""
        if not self.installed:
            return
        self._save_logs()
        self._helm("uninstall", self.release, "--wait", "--timeout", "60s")
        self.installed = False
        self._killed = None
        harness.wait_for("the operator pod gone", lambda: self._pod() is None, timeout=60)

    def _save_logs(self) -> None:
        """Append the pod's log to `log_path`, so a kill or an uninstall loses none of it."""
        text = self._read_logs()
        if text:
            with self.log_path.open("a") as out:
                out.write(text)

    def _read_logs(self) -> str:
        pod = self._pod()
        if pod is None:
            return ""
        result = self.cluster.kubectl(
            "-n", self.namespace, "logs", pod.metadata.name, "-c", "operator", check=False
        )
        return result.stdout

    def logs(self) -> str:
        saved = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return saved + self._read_logs()


@dataclass
class ProcessOperator:
    """A `python -m kuberun_operator` process on this machine (for debugging)."""

    cluster: harness.Cluster
    namespace: str
    redis_url: str | None
    log_path: pathlib.Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> ProcessOperator:
        self.port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "KUBERUN_NAMESPACES": json.dumps([self.namespace]),
            "KUBERUN_HTTP_PORT": str(self.port),
            "KUBERUN_HTTP_HOST": "127.0.0.1",
            "KUBERUN_RUNNER_IMAGE": images.planned().runner.ref,
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

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

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


ORG_LABEL = "kuberun.dev/organization"
ORG_NAME = "kuberun.dev/organization-name"


def bind_organization(
    cluster: harness.Cluster, namespace: str, org: str, display_name: str | None = None
) -> None:
    """Bind `namespace` to `org` as a platform does, and wait until admission sees it.

    The tenancy policy reads the namespace from the API server's informer cache, so
    for a moment after the label lands a create naming `org` is still refused. The
    wait is a server-side dry run of such a create (nothing is stored).
    """
    cluster.kubectl("label", "--overwrite", "namespace", namespace, f"{ORG_LABEL}={org}")
    if display_name is not None:
        cluster.kubectl(
            "annotate", "--overwrite", "namespace", namespace, f"{ORG_NAME}={display_name}"
        )
    probe = execution("bind-probe", "def main():\n    pass\n", organization=org)

    def admitted() -> bool:
        try:
            cluster.custom.create_namespaced_custom_object(
                contract.GROUP, contract.VERSION, namespace, contract.PLURAL, probe, dry_run="All"
            )
        except kubernetes.client.ApiException as error:
            if error.status == 403 and "refused" in str(error.body):
                return False
            raise
        return True

    harness.wait_for(f"{namespace} bound to {org} at admission", admitted, timeout=30, interval=0.2)


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


def runner_logs(cluster: harness.Cluster, namespace: str, tail: int = 60) -> str:
    """The last lines of every runner pod of the namespace: what a failed test prints, since
    the runner's own warnings (log delivery failing, and why) are only there."""
    parts = []
    for pod in pods_of(cluster, namespace):
        name = pod.metadata.name
        try:
            text = cluster.pod_log(namespace, name, tail=tail)
        except Exception as exc:  # a pod gone meanwhile: say so, never fail the teardown
            text = f"(no log: {type(exc).__name__})"
        parts.append(f"--- runner pod {name} (last {tail} lines) ---\n{text}")
    return "\n".join(parts)


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


def _runs_code(pod: Any) -> bool:
    """A pod starting or running its runner: the slot admission counts.

    A runner that has exited frees its slot at once (the operator reads the
    termination message), although the kubelet reports the pod's own phase a
    moment later.
    """
    if pod.metadata.deletion_timestamp or pod.status.phase not in ("Pending", "Running"):
        return False
    return not any(c.state.terminated for c in pod.status.container_statuses or [])


class PodPeak:
    """The most runner pods running code at once in a namespace, polled every 50 ms."""

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
                live = [p for p in pods_of(self.cluster, self.namespace) if _runs_code(p)]
                self.peak = max(self.peak, len(live))
            time.sleep(0.05)
