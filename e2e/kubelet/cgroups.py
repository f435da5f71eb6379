"""cgroup v1 groups that enforce a container's ``resources.limits``.

Each container gets one directory per controller,
``/sys/fs/cgroup/{memory,cpu,pids}/<parent>/<pod-uid>/<container>``:
``memory.limit_in_bytes`` (the kernel OOM-kills inside the group, which the
kubelet reports as ``OOMKilled``, exit code 137), CFS quota for CPU, and
``pids.max``. The container process joins them before it execs (see
:mod:`e2e.kubelet.shim`), so nothing it starts escapes. The shims themselves
sit in ``<parent>/shims`` of the pids controller, so :func:`kill_tree` can end
every process a cluster left behind.

Used by the pod workers (create, inspect, remove) and by ``e2e.cluster down``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import signal
import time

ROOT = pathlib.Path(os.environ.get("KUBERUN_CGROUP_ROOT", "/sys/fs/cgroup"))
CONTROLLERS = ("memory", "cpu", "pids")
CFS_PERIOD_US = 100_000


@dataclasses.dataclass(frozen=True)
class Limits:
    """Limits of one container; None means unlimited."""

    memory_bytes: int | None = None
    cpu_millis: int | None = None
    pids: int | None = None


@dataclasses.dataclass(frozen=True)
class Group:
    """One container's cgroup, named by its path below each controller's root."""

    relative: str

    def path(self, controller: str) -> pathlib.Path:
        return ROOT / controller / self.relative

    def create(self, limits: Limits) -> None:
        """Create the directories and write the limits (idempotent)."""
        for controller in CONTROLLERS:
            self.path(controller).mkdir(parents=True, exist_ok=True)
        if limits.memory_bytes is not None:
            _write(self.path("memory") / "memory.limit_in_bytes", limits.memory_bytes)
            # No swap: with memsw equal to the limit, swapping cannot hide an overrun.
            with contextlib.suppress(OSError):
                _write(self.path("memory") / "memory.memsw.limit_in_bytes", limits.memory_bytes)
        if limits.cpu_millis is not None:
            _write(self.path("cpu") / "cpu.cfs_period_us", CFS_PERIOD_US)
            quota = max(1000, limits.cpu_millis * CFS_PERIOD_US // 1000)
            _write(self.path("cpu") / "cpu.cfs_quota_us", quota)
        if limits.pids is not None:
            _write(self.path("pids") / "pids.max", limits.pids)

    def procs_files(self) -> list[pathlib.Path]:
        """The ``cgroup.procs`` files a process writes its pid into to join."""
        return [self.path(c) / "cgroup.procs" for c in CONTROLLERS]

    def pids(self) -> list[int]:
        """Processes still in the group."""
        return _procs(self.path("pids"))

    def oom_killed(self) -> bool:
        """True once the kernel OOM killer has ended a process of this group."""
        try:
            text = (self.path("memory") / "memory.oom_control").read_text()
        except FileNotFoundError:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value) > 0
        return False

    def kill(self) -> None:
        """SIGKILL every process left in the group (children that escaped the process group)."""
        _kill_all(self.path("pids"))

    def remove(self) -> None:
        """Kill what is left and remove the directories."""
        for controller in CONTROLLERS:
            _remove(self.path(controller))


def _write(path: pathlib.Path, value: int) -> None:
    path.write_text(str(value))


def _procs(directory: pathlib.Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def _kill_all(directory: pathlib.Path, *, timeout: float = 5.0) -> None:
    if not directory.exists():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [
            pid for sub in [directory, *directory.rglob("*")] if sub.is_dir() for pid in _procs(sub)
        ]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _remove(directory: pathlib.Path) -> None:
    if not directory.exists():
        return
    _kill_all(directory)
    children = sorted(
        (p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
    )
    for child in [*children, directory]:
        for _ in range(50):
            try:
                child.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                # A killed process leaves its cgroup a moment after it dies.
                time.sleep(0.02)


def shims_group(parent: str) -> pathlib.Path:
    """The pids cgroup the shims of one cluster live in."""
    return ROOT / "pids" / parent / "shims"


def kill_tree(parent: str, *, prune_ancestors: bool = False) -> None:
    """Kill every container and shim below ``parent`` and remove its groups.

    ``prune_ancestors`` also removes emptied parents (``kuberun/``): only for
    ``e2e.cluster down``, since a running kubelet may be creating groups there.
    """
    for controller in CONTROLLERS:
        _remove(ROOT / controller / parent)
        ancestor = (ROOT / controller / parent).parent
        while prune_ancestors and ancestor != ROOT / controller:
            try:
                ancestor.rmdir()
            except OSError:
                break
            ancestor = ancestor.parent
