"""Start, signal and observe one container attempt through its shim.

Each attempt (a container's n-th run) has a directory
``<pod dir>/containers/<name>/<attempt>/`` with ``spec.json`` (what to run),
``pid.json`` (written by the shim once the process runs), ``exit.json``
(written by the shim when it ended) and ``termination-log``. Everything the
kubelet knows about a container is in these files, which is what lets a
restarted kubelet adopt running containers (:meth:`Attempt.load`).

Used by :mod:`e2e.kubelet.podworkers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
from typing import Any

from e2e.kubelet import cgroups

SHIM = pathlib.Path(__file__).with_name("shim.py")


def _read_json(path: pathlib.Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (FileNotFoundError, ValueError):
        return None


def _start_time(pid: int) -> int | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


@dataclasses.dataclass
class Attempt:
    """One run of one container, backed by its directory."""

    dir: pathlib.Path
    group: cgroups.Group
    shim: subprocess.Popen[bytes] | None = None

    @property
    def number(self) -> int:
        return int(self.dir.name)

    @property
    def termination_log(self) -> pathlib.Path:
        return self.dir / "termination-log"

    def pid_info(self) -> dict[str, Any] | None:
        return _read_json(self.dir / "pid.json")

    def exit_info(self) -> dict[str, Any] | None:
        return _read_json(self.dir / "exit.json")

    def start(self, spec: dict[str, Any], *, shim_group: pathlib.Path) -> None:
        """Write the spec and launch the shim in a private mount namespace."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.termination_log.touch()
        spec = {
            **spec,
            "pid_file": str(self.dir / "pid.json"),
            "exit_file": str(self.dir / "exit.json"),
            "cgroup_procs": [str(p) for p in self.group.procs_files()],
            "shim_cgroup_procs": [str(shim_group / "cgroup.procs")],
        }
        (self.dir / "spec.json").write_text(json.dumps(spec, indent=1))
        with open(self.dir / "shim.log", "ab") as shim_log:
            self.shim = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    sys.executable,
                    str(SHIM),
                    str(self.dir / "spec.json"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=shim_log,
                stderr=shim_log,
                start_new_session=True,
                close_fds=True,
            )

    def running_pid(self) -> int | None:
        """The container process id while it runs (checked against pid reuse)."""
        info = self.pid_info()
        if info is None or self.exit_info() is not None:
            return None
        pid = int(info["pid"])
        return pid if _start_time(pid) == int(info["startTime"]) else None

    def shim_alive(self) -> bool:
        if self.shim is not None:
            return self.shim.poll() is None
        info = self.pid_info()
        if info is None:
            # Not yet written: a fresh shim is still starting; an adopted
            # attempt without pid.json never started and has no shim to wait for.
            return False
        return _start_time(int(info["shimPid"])) is not None

    async def wait_started(self, limit: float = 30.0) -> None:
        """Wait until the shim reports the process running or finished."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline:
            if self.pid_info() is not None or self.exit_info() is not None:
                return
            if self.shim is not None and self.shim.poll() is not None:
                break
            await asyncio.sleep(0.02)
        if self.exit_info() is None and self.pid_info() is None:
            _write_exit(
                self.dir,
                {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": f"the container shim failed; see {self.dir / 'shim.log'}",
                },
            )

    def finished(self) -> dict[str, Any] | None:
        """The exit record once the container has ended, else None.

        A shim that vanished without writing one (killed with the kubelet's
        whole cgroup, say) is reported as exit 137, ``ContainerStatusUnknown``.
        """
        info = self.exit_info()
        if info is not None:
            if self.shim is not None:
                self.shim.poll()
            return info
        if self.pid_info() is not None and not self.shim_alive() and self.running_pid() is None:
            _write_exit(
                self.dir,
                {
                    "exitCode": 137,
                    "reason": "ContainerStatusUnknown",
                    "message": "the container's shim disappeared",
                },
            )
            return self.exit_info()
        return None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the container's process group."""
        pid = self.running_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signum)

    def kill(self) -> None:
        """SIGKILL the process group and anything else left in the container's cgroup."""
        self.signal(signal.SIGKILL)
        self.group.kill()


def _write_exit(directory: pathlib.Path, data: dict[str, Any]) -> None:
    from e2e.kubelet import shim

    data.setdefault("finishedAt", shim.now())
    data.setdefault("startedAt", data["finishedAt"])
    tmp = directory / "exit.json.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(directory / "exit.json")


def latest(container_dir: pathlib.Path, group_for: Any) -> Attempt | None:
    """The newest attempt recorded under ``container_dir`` (for adoption after a restart)."""
    if not container_dir.exists():
        return None
    numbers = sorted(int(p.name) for p in container_dir.iterdir() if p.name.isdigit())
    if not numbers:
        return None
    return Attempt(dir=container_dir / str(numbers[-1]), group=group_for(numbers[-1]))
