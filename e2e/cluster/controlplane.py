"""Bring a local cluster up and down: etcd, the control plane, and a real node.

``up`` makes the cluster's bridge (its address is the node IP and the API
server's), writes a PKI, starts etcd (loopback, data in the state dir), the API
server (TLS, client-certificate admin, service-account signing keys,
``Node,RBAC`` authorization, the default admission plugins plus NodeRestriction
and OwnerReferencesPermissionEnforcement), the controller-manager (all default
controllers), kube-scheduler and, unless told not to, the node: the cluster's
own containerd with our images imported, and the real kubelet. It waits until
each is ready and records every pid in ``<state>/state.json``. ``down`` stops
exactly those processes, kills what containers are left, unmounts, and removes
the bridge.

Ports are picked free at start, so several clusters (a developer's and a test
session's) can run side by side with different state dirs.

Called by ``python -m e2e.cluster`` and by the pytest fixtures in ``e2e/conftest.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import signal
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

from e2e.cluster import binaries, kubeconfigs, pki
from e2e.cluster import processes as proc
from e2e.node import containerd, images, network
from e2e.node import kubelet as node

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
NODE_NAME = "kuberun-node"
SERVICE_CIDR = "10.0.0.0/24"
STOP_ORDER = (
    "kubelet",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
    "containerd",
)


class ClusterError(RuntimeError):
    """The control plane could not be started, or is not running."""


def default_state_dir() -> pathlib.Path:
    """``$KUBERUN_CLUSTER_DIR`` or ``~/.cache/kuberun/cluster``."""
    override = os.environ.get("KUBERUN_CLUSTER_DIR")
    if override:
        return pathlib.Path(override)
    return binaries.cache_root() / "cluster"


@dataclasses.dataclass(frozen=True)
class State:
    """What ``up`` started; saved as JSON so ``down`` works from another process."""

    dir: pathlib.Path
    apiserver_port: int
    etcd_port: int
    kubelet_port: int
    kubelet_healthz_port: int
    node_name: str
    cgroup_root: str
    bridge: network.Bridge
    processes: tuple[proc.Record, ...]

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.dir / "admin.kubeconfig"

    @property
    def node_ip(self) -> str:
        """The bridge's address: node IP, API server address, and the host as pods see it."""
        return self.bridge.address

    @property
    def server(self) -> str:
        return f"https://{self.node_ip}:{self.apiserver_port}"

    @property
    def kubelet_dir(self) -> pathlib.Path:
        return self.dir / "kubelet"

    @property
    def containerd(self) -> containerd.Paths:
        return containerd.Paths(self.dir / "containerd")

    def record(self, name: str) -> proc.Record | None:
        return next((r for r in self.processes if r.name == name), None)

    def with_record(self, record: proc.Record) -> State:
        others = tuple(r for r in self.processes if r.name != record.name)
        return dataclasses.replace(self, processes=(*others, record))

    def save(self) -> None:
        data = {
            "apiserver_port": self.apiserver_port,
            "etcd_port": self.etcd_port,
            "kubelet_port": self.kubelet_port,
            "kubelet_healthz_port": self.kubelet_healthz_port,
            "node_name": self.node_name,
            "cgroup_root": self.cgroup_root,
            "bridge": {"name": self.bridge.name, "subnet": self.bridge.subnet},
            "processes": [r.to_json() for r in self.processes],
        }
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.dir / "state.json")

    @classmethod
    def load(cls, directory: pathlib.Path) -> State | None:
        try:
            data = json.loads((directory / "state.json").read_text())
        except FileNotFoundError:
            return None
        return cls(
            dir=directory,
            apiserver_port=int(data["apiserver_port"]),
            etcd_port=int(data["etcd_port"]),
            kubelet_port=int(data["kubelet_port"]),
            kubelet_healthz_port=int(data["kubelet_healthz_port"]),
            node_name=str(data["node_name"]),
            cgroup_root=str(data["cgroup_root"]),
            bridge=network.Bridge(name=data["bridge"]["name"], subnet=data["bridge"]["subnet"]),
            processes=tuple(proc.Record.from_json(r) for r in data["processes"]),
        )


def _admin_ssl(state_pki: pki.Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(state_pki.ca))
    context.load_cert_chain(str(state_pki.cert("admin")), str(state_pki.key("admin")))
    return context


def _get(url: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def _unverified_ssl() -> ssl.SSLContext:
    """For health endpoints only, whose self-signed serving certificates nobody issued."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _wait_healthy(what: str, url: str, record: proc.Record) -> None:
    _wait(what, lambda: _get(url, _unverified_ssl())[0] == 200, timeout=60, watch=(record,))


def _tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(
    what: str,
    check: Callable[[], bool],
    *,
    timeout: float,
    watch: tuple[proc.Record, ...] = (),
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for record in watch:
            if not proc.alive(record):
                tail = _tail(pathlib.Path(record.log))
                raise ClusterError(
                    f"{record.name} exited while waiting for {what}; {record.log} ends:\n{tail}"
                )
        time.sleep(0.2)
    logs = "".join(f"\n{r.log} ends:\n{_tail(pathlib.Path(r.log))}" for r in watch)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}{logs}")


def _etcd_argv(bins: pathlib.Path, state_dir: pathlib.Path, port: int, peer: int) -> list[str]:
    data = state_dir / "etcd"
    return [
        str(bins / "etcd"),
        "--name=kuberun-e2e",
        f"--data-dir={data}",
        f"--listen-client-urls=http://127.0.0.1:{port}",
        f"--advertise-client-urls=http://127.0.0.1:{port}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=kuberun-e2e=http://127.0.0.1:{peer}",
        # Tests create and delete much; a small backend and no fsync wait keep it quick.
        "--unsafe-no-fsync",
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def _apiserver_argv(bins: pathlib.Path, state: State, p: pki.Pki) -> list[str]:
    return [
        str(bins / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{state.etcd_port}",
        # On the bridge only: the host and pods reach it, nothing outside the machine.
        f"--bind-address={state.node_ip}",
        f"--advertise-address={state.node_ip}",
        f"--secure-port={state.apiserver_port}",
        f"--cert-dir={state.dir / 'apiserver'}",
        f"--tls-cert-file={p.cert('apiserver')}",
        f"--tls-private-key-file={p.key('apiserver')}",
        f"--client-ca-file={p.ca}",
        f"--service-account-key-file={p.sa_pub}",
        f"--service-account-signing-key-file={p.sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=Node,RBAC",
        # The default admission plugins (ServiceAccount, NamespaceLifecycle,
        # LimitRanger, DefaultTolerationSeconds, ResourceQuota, ...) stay on;
        # NodeRestriction is added as kubeadm does, and
        # OwnerReferencesPermissionEnforcement as OpenShift has it (owner
        # references with blockOwnerDeletion need the finalizers permission).
        "--enable-admission-plugins=NodeRestriction,OwnerReferencesPermissionEnforcement",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--kubelet-client-certificate={p.cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={p.key('apiserver-kubelet-client')}",
        f"--kubelet-certificate-authority={p.ca}",
        "--kubelet-preferred-address-types=InternalIP",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


def _controller_manager_argv(bins: pathlib.Path, state: State, p: pki.Pki, port: int) -> list[str]:
    kubeconfig = state.dir / "controller-manager.kubeconfig"
    return [
        str(bins / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={state.dir / 'controller-manager'}",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={p.sa_key}",
        f"--root-ca-file={p.ca}",
        f"--cluster-signing-cert-file={p.ca}",
        f"--cluster-signing-key-file={p.key('ca')}",
        "--leader-elect=false",
        # Finished pods are collected by their Jobs' TTL, not by a global threshold.
        "--terminated-pod-gc-threshold=1000",
        "--v=1",
    ]


def _scheduler_argv(bins: pathlib.Path, state: State, port: int) -> list[str]:
    kubeconfig = state.dir / "scheduler.kubeconfig"
    return [
        str(bins / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--v=1",
    ]


def _node_ready(state: State, context: ssl.SSLContext) -> bool:
    status, body = _get(f"{state.server}/api/v1/nodes/{state.node_name}", context)
    if status != 200:
        return False
    conditions = json.loads(body).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def start_kubelet(state: State) -> State:
    """Start the real kubelet; wait until it answers /healthz and the Node is Ready."""
    p = pki.Pki(state.dir / "pki")
    node.write_files(
        directory=state.kubelet_dir,
        p=p,
        server=state.server,
        node_name=state.node_name,
        node_ip=state.node_ip,
        runtime_endpoint=state.containerd.endpoint,
        port=state.kubelet_port,
        healthz_port=state.kubelet_healthz_port,
        cgroup_root=state.cgroup_root,
    )
    record = node.start(
        binaries.binary("kubelet"),
        state.kubelet_dir,
        state.node_name,
        state.node_ip,
        state.dir / "logs" / "kubelet.log",
    )
    state = state.with_record(record)
    state.save()
    context = _admin_ssl(p)
    _wait_healthy(
        "the kubelet's /healthz", f"http://127.0.0.1:{state.kubelet_healthz_port}/healthz", record
    )
    _wait("the node to be Ready", lambda: _node_ready(state, context), timeout=90, watch=(record,))
    return state


def stop_kubelet(state: State, *, signum: int = signal.SIGTERM) -> State:
    """Stop the kubelet only (its containers keep running, as on any node).

    ``signum=SIGKILL`` plays a crash.
    """
    record = state.record("kubelet")
    if record is not None:
        proc.stop(record, signum=signum)
    return dataclasses.replace(
        state, processes=tuple(r for r in state.processes if r.name != "kubelet")
    )


def start_node(state: State) -> State:
    """The node's runtime (containerd with our images) and then its kubelet."""
    wanted = images.ensure_built()
    paths = state.containerd
    network.write_cni_config(state.bridge, paths.cni_conf_dir, paths.cni_ipam_dir)
    record = containerd.start(
        paths,
        sandbox_image=wanted.pause.ref,
        cni_bin_dir=network.cni_bin_dir(),
        log=state.dir / "logs" / "containerd.log",
    )
    state = state.with_record(record)
    state.save()
    containerd.import_images(paths, wanted)
    node.prepare_cgroup_root(state.cgroup_root)
    return start_kubelet(state)


def start_apiserver(state: State) -> State:
    """Start kube-apiserver on the state's port and wait for ``/readyz``."""
    p = pki.Pki(state.dir / "pki")
    _, apiserver = proc.spawn(
        "kube-apiserver",
        _apiserver_argv(binaries.ensure_built(), state, p),
        log=state.dir / "logs" / "kube-apiserver.log",
    )
    state = state.with_record(apiserver)
    state.save()
    context = _admin_ssl(p)
    _wait(
        "kube-apiserver /readyz",
        lambda: _get(f"{state.server}/readyz", context)[0] == 200,
        timeout=120,
        watch=(apiserver,),
    )
    return state


def stop_apiserver(state: State) -> State:
    """Stop kube-apiserver only (tests of clients that must ride out an API outage)."""
    record = state.record("kube-apiserver")
    if record is not None:
        # With clients still watching it drains for a long time; an outage need not wait.
        proc.stop(record, timeout=3)
    state = dataclasses.replace(
        state, processes=tuple(r for r in state.processes if r.name != "kube-apiserver")
    )
    state.save()
    return state


def up(state_dir: pathlib.Path | None = None, *, kubelet: bool = True) -> State:
    """Start (or find running) the control plane in ``state_dir`` and return its state."""
    state_dir = state_dir or default_state_dir()
    existing = State.load(state_dir)
    if existing is not None:
        if all(proc.alive(r) for r in existing.processes):
            return existing
        down(state_dir)
    bins = binaries.ensure_built()
    state_dir.mkdir(parents=True, exist_ok=True)
    cluster_id = uuid.uuid4().hex[:12]
    state = State(
        dir=state_dir,
        apiserver_port=proc.free_port(),
        etcd_port=proc.free_port(),
        kubelet_port=proc.free_port(),
        kubelet_healthz_port=proc.free_port(),
        node_name=os.environ.get("KUBERUN_NODE_NAME", NODE_NAME),
        cgroup_root=f"/kuberun-{cluster_id}",
        bridge=network.pick(cluster_id),
        processes=(),
    )
    state.save()
    try:
        return _start(state, bins, kubelet=kubelet)
    except BaseException:
        down(state_dir)
        raise


def _start(state: State, bins: pathlib.Path, *, kubelet: bool) -> State:
    network.create(state.bridge)
    p = pki.create(state.dir / "pki", node_ip=state.node_ip)
    # Who talks to the API server with a client certificate: (kubeconfig, cert, user).
    clients = (
        (state.kubeconfig, "admin", "admin"),
        (state.dir / "controller-manager.kubeconfig", "controller-manager",
         "system:kube-controller-manager"),
        (state.dir / "scheduler.kubeconfig", "scheduler", "system:kube-scheduler"),
    )  # fmt: skip
    for path, cert, user in clients:
        kubeconfigs.write(
            path, server=state.server, ca=p.ca, cert=p.cert(cert), key=p.key(cert), user=user
        )
    logs = state.dir / "logs"

    shutil.rmtree(state.dir / "etcd", ignore_errors=True)
    _, etcd = proc.spawn(
        "etcd",
        _etcd_argv(bins, state.dir, state.etcd_port, proc.free_port()),
        log=logs / "etcd.log",
    )
    state = state.with_record(etcd)
    state.save()
    _wait("etcd", lambda: proc.port_open(state.etcd_port), timeout=30, watch=(etcd,))

    state = start_apiserver(state)
    context = _admin_ssl(p)

    kcm_port = proc.free_port()
    _, kcm = proc.spawn(
        "kube-controller-manager",
        _controller_manager_argv(bins, state, p, kcm_port),
        log=logs / "kube-controller-manager.log",
    )
    state = state.with_record(kcm)
    state.save()
    _wait_healthy("kube-controller-manager /healthz", f"https://127.0.0.1:{kcm_port}/healthz", kcm)
    # The serviceaccount controller creating "default" shows the controllers run.
    _wait(
        "the default ServiceAccount",
        lambda: (
            _get(f"{state.server}/api/v1/namespaces/default/serviceaccounts/default", context)[0]
            == 200
        ),
        timeout=60,
        watch=(kcm,),
    )
    scheduler_port = proc.free_port()
    _, scheduler = proc.spawn(
        "kube-scheduler",
        _scheduler_argv(bins, state, scheduler_port),
        log=logs / "kube-scheduler.log",
    )
    state = state.with_record(scheduler)
    state.save()
    _wait_healthy(
        "kube-scheduler /healthz", f"https://127.0.0.1:{scheduler_port}/healthz", scheduler
    )
    if kubelet:
        state = start_node(state)
    return state


def down(state_dir: pathlib.Path | None = None) -> None:
    """Stop everything ``up`` started in ``state_dir``, newest first, and its containers."""
    state_dir = state_dir or default_state_dir()
    state = State.load(state_dir)
    if state is None:
        return
    # Clients before servers: kube-apiserver waits for open watches to drain
    # before it exits, so it stops last but etcd, whatever the start order was.
    order = {name: i for i, name in enumerate(STOP_ORDER)}
    for record in sorted(state.processes, key=lambda r: order.get(r.name, -1)):
        if record.name == "containerd":
            # What the stopped kubelet left running dies before its runtime does.
            containerd.kill_all(state.containerd)
        proc.stop(record)
    containerd.kill_all(state.containerd)
    node.remove_cgroup_root(state.cgroup_root)
    network.release_pods(state.bridge.name)
    network.delete(state.bridge.name)
    containerd.unmount_below(state.dir)
    node.remove_log_links(state.dir)
    node.cleanup_shared_dirs()
    (state_dir / "state.json").unlink(missing_ok=True)


def env_lines(state: State) -> list[str]:
    """Shell lines that point kubectl and the tests at this cluster."""
    bins = binaries.bin_dir()
    return [
        f"export KUBECONFIG={state.kubeconfig}",
        f"export KUBERUN_E2E_KUBECONFIG={state.kubeconfig}",
        f"export PATH={bins}:$PATH",
    ]
