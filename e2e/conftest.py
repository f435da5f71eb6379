"""Session fixtures for end-to-end tests: ``cluster`` and ``namespace``.

Which cluster:

* ``KUBERUN_E2E_KUBECONFIG=path`` (or ``KUBECONFIG`` with
  ``KUBERUN_E2E_EXISTING=1``): use that cluster; nothing is started or
  stopped. If the kubeconfig was written by ``python -m e2e.cluster up``, the
  local-node controls (``cluster.local``) are available too.
* otherwise: start a private local cluster (control plane, containerd, the
  real kubelet) for the session in a temporary state dir
  (``$KUBERUN_E2E_STATE_DIR`` to choose it), and stop it at the end. Binaries
  and images are built first if the cache lacks them.

Tests marked ``local_node`` need ``cluster.local`` and are skipped on
other clusters.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator

import kubernetes
import pytest

from e2e import harness
from e2e.cluster import binaries, controlplane, processes
from e2e.node import containerd, images


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_node: needs the node started on this machine (cluster.local)"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Build binaries and images before any test, so no test's timeout covers a cold build."""
    if _existing_kubeconfig() is None:
        binaries.ensure_built()
        images.ensure_built()


def _existing_kubeconfig() -> pathlib.Path | None:
    if os.environ.get("KUBERUN_E2E_KUBECONFIG"):
        return pathlib.Path(os.environ["KUBERUN_E2E_KUBECONFIG"])
    if os.environ.get("KUBERUN_E2E_EXISTING") == "1":
        return pathlib.Path(os.environ.get("KUBECONFIG", "~/.kube/config")).expanduser()
    return None


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[harness.Cluster]:
    """The cluster under test, shared by the whole session."""
    existing = _existing_kubeconfig()
    if existing is not None:
        state = harness.local_state_for(existing)
        local = harness.LocalCluster(state) if state is not None else None
        if state is not None:
            # A cluster kept across runs gets the images of this checkout.
            containerd.import_images(state.containerd, images.ensure_built())
        yield harness.connect(existing, local)
        return
    chosen = os.environ.get("KUBERUN_E2E_STATE_DIR")
    state_dir = (
        pathlib.Path(chosen) if chosen else pathlib.Path(tempfile.mkdtemp(prefix="kuberun-e2e-"))
    )
    try:
        state = controlplane.up(state_dir)
        _start_watchdog(state_dir, remove=not chosen)
        yield harness.connect(state.kubeconfig, harness.LocalCluster(state))
    finally:
        controlplane.down(state_dir)
        if request.session.testsfailed:
            # CI keeps only the output: show what the node did before it is deleted.
            _print_tail(state_dir / "logs" / "kubelet.log", lines=150)
            _print_tail(state_dir / "logs" / "containerd.log", lines=50)
        if not chosen:
            shutil.rmtree(state_dir, ignore_errors=True)


def _start_watchdog(state_dir: pathlib.Path, *, remove: bool) -> None:
    """Have the cluster brought down even if this pytest process is killed."""
    me = os.getpid()
    argv = [
        sys.executable,
        "-m",
        "e2e.cluster.watchdog",
        str(me),
        str(processes.start_time(me)),
        str(state_dir),
    ]
    env = {**os.environ, "PYTHONPATH": str(controlplane.REPO_ROOT)}
    processes.spawn(
        "watchdog",
        [*argv, *(["--remove"] if remove else [])],
        log=state_dir / "logs" / "watchdog.log",
        env=env,
    )


def _print_tail(path: pathlib.Path, *, lines: int) -> None:
    if path.exists():
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        print(f"\n--- last {len(tail)} lines of {path} ---\n" + "\n".join(tail))


@pytest.fixture
def namespace(cluster: harness.Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting) afterwards."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:5]}"
    cluster.core.create_namespace(
        kubernetes.client.V1Namespace(
            metadata=kubernetes.client.V1ObjectMeta(name=name, labels={"kuberun.dev/e2e": "true"})
        )
    )
    # Pods need the default ServiceAccount, which the controller-manager adds.
    harness.wait_for(
        f"ServiceAccount {name}/default",
        lambda: any(
            sa.metadata.name == "default"
            for sa in cluster.core.list_namespaced_service_account(name).items
        ),
        timeout=30,
    )
    yield name
    try:
        cluster.core.delete_namespace(name)
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture(autouse=True)
def _local_node_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("local_node") is None:
        return
    cluster: harness.Cluster = request.getfixturevalue("cluster")
    if cluster.local is None:
        pytest.skip("needs the node started on this machine (cluster.local)")
