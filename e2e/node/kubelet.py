"""The node: the real kubelet (built from the pinned Kubernetes module) on containerd.

The kubelet registers as ``system:node:<name>`` with a client certificate from the
cluster CA (the Node authorizer and NodeRestriction apply to it as on any
cluster), serves its API on the node IP with a certificate for it, talks CRI to
the cluster's own containerd, and keeps every directory in the state dir.

What this machine needs beyond a default configuration (see e2e/README.md):

* cgroup v1: ``failCgroupV1: false`` (1.36 refuses v1 otherwise), the cgroupfs
  driver, and the ``cgroupRoot`` made in every v1 hierarchy beforehand, with
  ``cpuset.cpus``/``cpuset.mems`` copied into it;
* ``failSwapOn: false``;
* image garbage collection off: our images are imported, there is no registry
  to pull them again from;
* crash-loop back-off capped at 2 s (tests kill containers on purpose);
* evictions only under real memory pressure: a test machine's disk is often
  more than 85 % full, which would otherwise evict every pod.

Called by :mod:`e2e.cluster.controlplane`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal

from e2e.cluster import kubeconfigs, pki
from e2e.cluster import processes as proc

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")


def v1_hierarchies() -> list[pathlib.Path]:
    """Mount points of every cgroup v1 hierarchy on this machine."""
    found: list[pathlib.Path] = []
    for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup":
            found.append(pathlib.Path(left.split()[4]))
    return found


def prepare_cgroup_root(name: str) -> None:
    """Create ``/<name>`` in every v1 hierarchy, with cpuset's cpus and mems filled in."""
    for hierarchy in v1_hierarchies():
        directory = hierarchy / name.strip("/")
        directory.mkdir(parents=True, exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            parent_file = hierarchy / knob
            if parent_file.exists() and not (directory / knob).read_text().strip():
                (directory / knob).write_text(parent_file.read_text())


def remove_cgroup_root(name: str) -> None:
    """Kill what is left below ``/<name>`` and remove its groups, deepest first."""
    for hierarchy in v1_hierarchies():
        top = hierarchy / name.strip("/")
        if not top.exists():
            continue
        groups = sorted(
            (p for p in [top, *top.rglob("*")] if p.is_dir()),
            key=lambda p: len(p.parts),
            reverse=True,
        )
        for group in groups:
            with contextlib.suppress(OSError):
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                group.rmdir()


def issue_certificates(p: pki.Pki, node_name: str, node_ip: str) -> None:
    """The node's client identity and its serving certificate for the node IP (fresh each start)."""
    pki.issue(p, "node", f"/O=system:nodes/CN=system:node:{node_name}", usage="clientAuth")
    pki.issue(
        p,
        "node-serving",
        f"/CN={node_name}",
        usage="serverAuth",
        sans=(f"DNS:{node_name}", f"IP:{node_ip}", "DNS:localhost", "IP:127.0.0.1"),
    )


def config(
    *,
    directory: pathlib.Path,
    p: pki.Pki,
    runtime_endpoint: str,
    node_ip: str,
    port: int,
    healthz_port: int,
    cgroup_root: str,
) -> dict[str, object]:
    """The KubeletConfiguration (JSON is YAML, so no YAML library is needed)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(p.cert("node-serving")),
        "tlsPrivateKeyFile": str(p.key("node-serving")),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(p.ca)},
        },
        # Only holders of a certificate from the cluster CA reach the kubelet at all.
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": runtime_endpoint,
        "imageServiceEndpoint": runtime_endpoint,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "cgroupsPerQOS": True,
        "failCgroupV1": False,
        "failSwapOn": False,
        "podLogsDir": str(directory / "pod-logs"),
        "staticPodPath": "",
        "registerNode": True,
        "maxPods": 250,
        "serializeImagePulls": False,
        # Tests crash containers on purpose (the operator's SIGKILL): restart within
        # 2 s, not after the default back-off that doubles up to 5 minutes.
        "crashLoopBackOff": {"maxContainerRestartPeriod": "2s"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "evictionPressureTransitionPeriod": "5s",
        "nodeStatusUpdateFrequency": "4s",
        "nodeStatusReportFrequency": "1m",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "resolvConf": "/etc/resolv.conf",
        "clusterDomain": "cluster.local",
        "shutdownGracePeriod": "0s",
        "containerLogMaxSize": "10Mi",
        "localStorageCapacityIsolation": True,
        "enableServer": True,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "logging": {"format": "text", "verbosity": 1},
    }


def write_files(
    *,
    directory: pathlib.Path,
    p: pki.Pki,
    server: str,
    node_name: str,
    node_ip: str,
    runtime_endpoint: str,
    port: int,
    healthz_port: int,
    cgroup_root: str,
) -> None:
    """The kubeconfig and config the kubelet starts from."""
    directory.mkdir(parents=True, exist_ok=True)
    issue_certificates(p, node_name, node_ip)
    kubeconfigs.write(
        directory / "kubelet.kubeconfig",
        server=server,
        ca=p.ca,
        cert=p.cert("node"),
        key=p.key("node"),
        user=f"system:node:{node_name}",
    )
    body = config(
        directory=directory,
        p=p,
        runtime_endpoint=runtime_endpoint,
        node_ip=node_ip,
        port=port,
        healthz_port=healthz_port,
        cgroup_root=cgroup_root,
    )
    (directory / "config.yaml").write_text(json.dumps(body, indent=2))


def argv(binary: pathlib.Path, directory: pathlib.Path, node_name: str, node_ip: str) -> list[str]:
    return [
        str(binary),
        f"--config={directory / 'config.yaml'}",
        f"--kubeconfig={directory / 'kubelet.kubeconfig'}",
        f"--root-dir={directory / 'root'}",
        f"--cert-dir={directory / 'pki'}",
        f"--hostname-override={node_name}",
        f"--node-ip={node_ip}",
        "--node-labels=kuberun.dev/e2e-node=true",
        "--v=1",
    ]


def start(
    binary: pathlib.Path, directory: pathlib.Path, node_name: str, node_ip: str, log: pathlib.Path
) -> proc.Record:
    _, record = proc.spawn("kubelet", argv(binary, directory, node_name, node_ip), log=log)
    return record


def cleanup_shared_dirs() -> None:
    """The kubelet writes a few paths outside its root dir whatever it is told; tidy them."""
    for path in (
        "/var/lib/kubelet/device-plugins",
        "/var/lib/kubelet/plugins_registry",
        "/var/lib/kubelet/plugins",
        "/var/lib/kubelet/pod-resources",
    ):
        with contextlib.suppress(OSError):
            directory = pathlib.Path(path)
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
    with contextlib.suppress(OSError):
        if not any(pathlib.Path("/var/lib/kubelet").iterdir()):
            shutil.rmtree("/var/lib/kubelet")


def remove_log_links(directory: pathlib.Path) -> None:
    """Drop the ``/var/log/containers`` links that point into this node's dir."""
    prefix = str(directory.resolve()) + "/"
    links = pathlib.Path("/var/log/containers")
    if not links.is_dir():
        return
    for link in links.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(prefix):
                link.unlink()
