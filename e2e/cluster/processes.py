"""Start background processes and stop exactly those, by process id.

A pid alone can be reused after the process dies, so every record also keeps
the process start time from ``/proc/<pid>/stat``; :func:`stop` only signals a
pid whose start time still matches. Processes start in their own session so a
Ctrl-C in the terminal that ran ``up`` does not reach them.

Used by :mod:`e2e.cluster.controlplane` for etcd, the API server, the
controller-manager, the scheduler, containerd and the kubelet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class Record:
    """A started process: enough to find it again from another Python process."""

    name: str
    pid: int
    start_time: int
    log: str

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Record:
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            start_time=int(str(data["start_time"])),
            log=str(data["log"]),
        )


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if gone."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces; fields after ')' are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(record: Record) -> bool:
    """True while the recorded process (not a reuse of its pid) is running."""
    return start_time(record.pid) == record.start_time


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log: pathlib.Path,
    env: Mapping[str, str] | None = None,
    cwd: pathlib.Path | None = None,
) -> tuple[subprocess.Popen[bytes], Record]:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    started = start_time(process.pid)
    if started is None:
        raise RuntimeError(f"{name} exited at once; see {log}")
    return process, Record(name=name, pid=process.pid, start_time=started, log=str(log))


def stop(record: Record, *, timeout: float = 15.0, signum: int = signal.SIGTERM) -> None:
    """Send ``signum`` (SIGTERM), wait up to ``timeout`` seconds, then SIGKILL the process."""
    if not alive(record):
        return
    os.kill(record.pid, signum)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not alive(record):
            return
        time.sleep(0.05)
    if alive(record):
        os.kill(record.pid, signal.SIGKILL)
    while alive(record):
        _reap(record.pid)
        time.sleep(0.05)


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on ``host``:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0
