"""What end-to-end tests hold: a :class:`Cluster` and helpers to wait on it.

``e2e/conftest.py`` builds one :class:`Cluster` per test session, either by
starting the local control plane (:mod:`e2e.cluster.controlplane`) or from an
existing kubeconfig (a kind cluster, say). Tests use the official kubernetes
client (``cluster.core``, ``cluster.batch``, ``cluster.api_client`` for
others), ``cluster.kubectl(...)``, and — only when the cluster was started on
this machine by ``e2e.cluster up`` — ``cluster.local`` for what only a local
node can show (a container's host process, restarting the kubelet or the API
server). Tests that need ``cluster.local`` carry the ``local_node`` marker and
are skipped on other clusters (kind, a cloud cluster).

This module is the stable API operator e2e tests build on; see e2e/README.md.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import kubernetes

from e2e.cluster import binaries, controlplane, processes
from e2e.node import containerd

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not hold in time; the message says what was last seen."""


def wait_for(
    what: str, check: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2
) -> T:
    """Call ``check`` until it returns something truthy and return that."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise WaitTimeout(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def kubectl_path() -> pathlib.Path:
    """kubectl of the pinned version if it is built, else the one on PATH (kind users)."""
    try:
        return binaries.kubectl_path()
    except binaries.BuildError:
        found = shutil.which("kubectl")
        if found is None:
            raise
        return pathlib.Path(found)


@dataclasses.dataclass
class LocalCluster:
    """Controls of a cluster started by ``e2e.cluster up`` on this machine.

    What only a local node can show or do: a container's process on the host,
    stopping and starting the kubelet or the API server.
    """

    state: controlplane.State

    @functools.cached_property
    def _core(self) -> Any:
        """One client for the polls below (``wait_container_pid`` calls them in a loop)."""
        return kubernetes.client.CoreV1Api(connect(self.state.kubeconfig).api_client)

    def container_pid(self, namespace: str, pod: str, container: str) -> tuple[int, int] | None:
        """(pid, kernel start time) of the container's current process, None if not started."""
        try:
            body = self._core.read_namespaced_pod(pod, namespace)
        except kubernetes.client.ApiException:
            return None
        statuses = body.status.container_statuses if body.status else None
        for status in statuses or []:
            running = status.state.running if status.state else None
            if status.name != container or not status.container_id or not running:
                continue
            task = status.container_id.split("://", 1)[-1]
            listed = containerd.ctr(self.state.containerd, "tasks", "list", check=False).stdout
            for line in listed.splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == task and fields[1].isdigit():
                    pid = int(fields[1])
                    started = processes.start_time(pid)
                    return (pid, started) if started is not None else None
        return None

    @staticmethod
    def process_alive(pid: tuple[int, int]) -> bool:
        """True while that process (not a reuse of its pid) runs."""
        return processes.start_time(pid[0]) == pid[1]

    def kill_container(self, namespace: str, pod: str, container: str) -> None:
        """SIGKILL the container's process, as a crash would; its kubelet then sees it exit."""
        pid = wait_container_pid(self, namespace, pod, container)
        os.kill(pid[0], signal.SIGKILL)

    def stop_kubelet(self, *, signum: int = signal.SIGTERM) -> None:
        """Stop the kubelet (``signum=signal.SIGKILL`` plays a crash); containers keep running."""
        self.state = controlplane.stop_kubelet(self.state, signum=signum)
        self.state.save()

    def start_kubelet(self) -> None:
        self.state = controlplane.start_kubelet(self.state)

    def restart_kubelet(self, *, signum: int = signal.SIGTERM) -> None:
        self.stop_kubelet(signum=signum)
        self.start_kubelet()

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver (etcd and the rest keep running); pair with start_apiserver."""
        self.state = controlplane.stop_apiserver(self.state)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port and wait until it is ready."""
        self.state = controlplane.start_apiserver(self.state)


@dataclasses.dataclass
class Cluster:
    """A Kubernetes cluster under test."""

    kubeconfig: pathlib.Path
    api_client: Any
    local: LocalCluster | None = None

    @property
    def core(self) -> Any:
        """``kubernetes.client.CoreV1Api``."""
        return kubernetes.client.CoreV1Api(self.api_client)

    @property
    def batch(self) -> Any:
        """``kubernetes.client.BatchV1Api``."""
        return kubernetes.client.BatchV1Api(self.api_client)

    @property
    def rbac(self) -> Any:
        return kubernetes.client.RbacAuthorizationV1Api(self.api_client)

    @property
    def custom(self) -> Any:
        return kubernetes.client.CustomObjectsApi(self.api_client)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises with its stderr when ``check`` fails."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        result = subprocess.run(
            [str(kubectl_path()), *args],
            input=input,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    # -- waiting helpers used by many tests ------------------------------------------------

    def wait_job_condition(
        self, namespace: str, name: str, kind: str, *, timeout: float = 60
    ) -> Any:
        """Wait until Job ``name`` has condition ``kind`` (Complete, Failed) True; return it."""

        def check() -> Any:
            job = self.batch.read_namespaced_job(name, namespace)
            for condition in job.status.conditions or []:
                if condition.type == kind and condition.status == "True":
                    return job
            return None

        return wait_for(f"job {namespace}/{name} {kind}", check, timeout=timeout)

    def wait_pod_phase(self, namespace: str, name: str, *phases: str, timeout: float = 60) -> Any:
        """Wait until the pod is in one of ``phases``; return it."""

        def check() -> Any:
            pod = self.core.read_namespaced_pod(name, namespace)
            return pod if pod.status.phase in phases else None

        return wait_for(f"pod {namespace}/{name} in {phases}", check, timeout=timeout)

    def wait_pod_gone(self, namespace: str, name: str, *, timeout: float = 60) -> None:
        def check() -> bool:
            try:
                self.core.read_namespaced_pod(name, namespace)
            except kubernetes.client.ApiException as error:
                return bool(error.status == 404)
            return False

        wait_for(f"pod {namespace}/{name} to be deleted", check, timeout=timeout)

    def job_pods(self, namespace: str, job: str) -> list[Any]:
        return list(
            self.core.list_namespaced_pod(
                namespace, label_selector=f"batch.kubernetes.io/job-name={job}"
            ).items
        )

    def api_env(self) -> list[dict[str, str]]:
        """Env for a pod that calls the API server: on the local node, which has no
        kube-proxy, its real address instead of the ``kubernetes`` Service's."""
        if self.local is None:
            return []
        return [
            {"name": "KUBERNETES_SERVICE_HOST", "value": self.local.state.node_ip},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(self.local.state.apiserver_port)},
        ]

    def pod_log(
        self, namespace: str, name: str, container: str | None = None, tail: int | None = None
    ) -> str:
        kwargs: dict[str, Any] = {"container": container} if container else {}
        if tail is not None:
            kwargs["tail_lines"] = tail
        return str(self.core.read_namespaced_pod_log(name, namespace, **kwargs))


def connect(kubeconfig: pathlib.Path, local: LocalCluster | None = None) -> Cluster:
    """A :class:`Cluster` for ``kubeconfig``."""
    api_client = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig)
    )
    return Cluster(kubeconfig=kubeconfig, api_client=api_client, local=local)


def wait_container_pid(
    local: LocalCluster, namespace: str, pod: str, container: str, *, timeout: float = 60
) -> tuple[int, int]:
    """Wait until the container runs and return its (pid, start time)."""
    return wait_for(
        f"the process of {namespace}/{pod}/{container}",
        lambda: local.container_pid(namespace, pod, container),
        timeout=timeout,
    )


def local_state_for(kubeconfig: pathlib.Path) -> controlplane.State | None:
    """The local cluster's state when ``kubeconfig`` was written by ``e2e.cluster up``."""
    state = controlplane.State.load(kubeconfig.resolve().parent)
    if state is None or state.kubeconfig.resolve() != kubeconfig.resolve():
        return None
    if state.record("kubelet") is None:
        return None
    return state
