"""The node's container runtime: a private containerd (Debian's, with runc) per cluster.

Each cluster gets its own containerd with its root, state, socket and CNI config
in the cluster's state dir, so several clusters run side by side and ``down``
leaves nothing behind. Settings that matter on our machines:

* ``restrict_oom_score_adj``: root here lacks CAP_SYS_RESOURCE, so runc cannot
  give the sandbox the -998 the kubelet asks for; without it every sandbox
  fails with "can't get final child's PID from pipe".
* cgroupfs, not systemd: the VM has cgroup v1 and no systemd managing it.
* the sandbox image is our locally built pause; no registry is ever contacted.

Called by :mod:`e2e.cluster.controlplane`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import shutil
import signal
import subprocess
import time

from e2e.cluster import processes as proc
from e2e.node import images

CRI_NAMESPACE = "k8s.io"


class ContainerdError(RuntimeError):
    """containerd could not be started or used."""


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where one cluster's containerd keeps everything."""

    dir: pathlib.Path

    @property
    def root(self) -> pathlib.Path:
        return self.dir / "root"

    @property
    def state(self) -> pathlib.Path:
        # containerd's state holds the shims' sockets: keep the path short.
        return self.dir / "state"

    @property
    def socket(self) -> pathlib.Path:
        return self.dir / "containerd.sock"

    @property
    def config(self) -> pathlib.Path:
        return self.dir / "config.toml"

    @property
    def cni_conf_dir(self) -> pathlib.Path:
        return self.dir / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> pathlib.Path:
        return self.dir / "cni" / "ipam"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"


def config_toml(paths: Paths, *, sandbox_image: str, cni_bin_dir: str) -> str:
    """containerd 1.6's config (version 2) for a CRI node with runc and CNI."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{paths.root}"
state = "{paths.state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{paths.socket}"

[ttrpc]
  address = "{paths.socket}.ttrpc"

[debug]
  level = "warn"

[{cri}]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  max_container_log_line_size = 65536

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  discard_unpacked_layers = false

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{cni_bin_dir}"
  conf_dir = "{paths.cni_conf_dir}"
  max_conf_num = 1

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.dir / "opt"}"
"""


def binary() -> str:
    found = shutil.which("containerd")
    if found is None:
        raise ContainerdError("containerd is not installed (apt-get install containerd runc)")
    return found


def start(paths: Paths, *, sandbox_image: str, cni_bin_dir: str, log: pathlib.Path) -> proc.Record:
    """Write the config, start containerd, wait until its socket answers."""
    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(
        config_toml(paths, sandbox_image=sandbox_image, cni_bin_dir=cni_bin_dir)
    )
    _, record = proc.spawn("containerd", [binary(), "--config", str(paths.config)], log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if paths.socket.exists() and ctr(paths, "version", check=False).returncode == 0:
            return record
        if not proc.alive(record):
            raise ContainerdError(f"containerd exited; see {log}")
        time.sleep(0.1)
    raise ContainerdError(f"containerd did not answer on {paths.socket} within 30s; see {log}")


def ctr(paths: Paths, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ctr`` against this containerd, in the CRI's namespace."""
    tool = shutil.which("ctr")
    if tool is None:
        raise ContainerdError("ctr (from the containerd package) is not installed")
    result = subprocess.run(
        [tool, "--address", str(paths.socket), "--namespace", CRI_NAMESPACE, *args],
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise ContainerdError(f"ctr {' '.join(args)}: {result.stderr.strip()}")
    return result


def import_images(paths: Paths, wanted: images.ImageSet) -> None:
    """Load every archive not yet in this containerd (the CRI sees them at once)."""
    present = set(ctr(paths, "images", "list", "--quiet").stdout.split())
    for image in wanted.all():
        if image.ref in present:
            continue
        # --no-unpack is not used: the kubelet's first pod would unpack on its clock.
        ctr(paths, "images", "import", "--snapshotter", "overlayfs", str(image.archive))


def _shim_pids(paths: Paths) -> list[int]:
    """The runc shims this containerd started (they outlive containerd by design)."""
    found: list[int] = []
    marker = str(paths.socket).encode()
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and marker in argv:
                found.append(int(entry.name))
    return found


def kill_all(paths: Paths) -> None:
    """Kill every container's processes and every shim of this containerd."""
    if paths.socket.exists():
        listed = ctr(paths, "tasks", "list", "--quiet", check=False).stdout.split()
        for task in listed:
            ctr(paths, "tasks", "kill", "--all", "--signal", "SIGKILL", task, check=False)
    for pid in _shim_pids(paths):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def unmount_below(directory: pathlib.Path) -> None:
    """Lazily unmount everything mounted under ``directory``, deepest first."""
    prefix = str(directory.resolve()) + "/"
    mounts: list[str] = []
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    for point in sorted(set(mounts), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
