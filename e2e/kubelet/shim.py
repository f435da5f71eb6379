"""The per-container shim: sets up the mounts, starts the process, records how it ended.

Like containerd's shim, it sits between the kubelet and the container process
so the kubelet can restart without losing anything: the shim runs in its own
session, owns the container process, and writes its pid and then its exit
status to files the kubelet (old or new) reads. It runs under
``unshare --mount --propagation private``, so its bind mounts (volumes, the
termination-message file) are visible only to the container.

Run by :mod:`e2e.kubelet.containers` as ``python shim.py <spec.json>``. Only the
standard library is imported: it starts for every container.

spec.json: ``argv``, ``env``, ``cwd``, ``mounts`` [{source, target, readOnly}],
``cgroup_procs`` (files to join), ``shim_cgroup_procs``, ``log``, ``pid_file``,
``exit_file``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import subprocess
import sys
from typing import Any


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def bind(source: str, target: str, read_only: bool) -> None:
    """Bind ``source`` over ``target``, creating the mount point like a runtime would."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            pathlib.Path(target).touch()
    subprocess.run(["mount", "--bind", source, target], check=True, capture_output=True)
    if read_only:
        subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True, capture_output=True)


def start_time(pid: int) -> int:
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])


def main(spec_path: str) -> int:
    spec = json.loads(pathlib.Path(spec_path).read_text())
    for procs in spec.get("shim_cgroup_procs", []):
        with contextlib.suppress(OSError):
            pathlib.Path(procs).write_text(str(os.getpid()))
    started = now()
    try:
        for mount in sorted(spec["mounts"], key=lambda m: m["target"].count("/")):
            bind(mount["source"], mount["target"], bool(mount.get("readOnly")))
        os.makedirs(spec["cwd"], exist_ok=True)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        write_json(
            spec["exit_file"],
            {
                "exitCode": 128,
                "reason": "StartError",
                "startedAt": started,
                "finishedAt": now(),
                "message": f"mount setup failed: {error} {detail.decode(errors='replace')}"[:4096],
            },
        )
        return 0

    procs_files = list(spec["cgroup_procs"])

    def join_cgroups() -> None:
        # Runs in the child between fork and exec: everything it execs is limited.
        pid = str(os.getpid())
        for procs in procs_files:
            with open(procs, "w") as f:
                f.write(pid)

    log = open(spec["log"], "ab", buffering=0)  # noqa: SIM115 - handed to the child
    try:
        child = subprocess.Popen(
            spec["argv"],
            env=spec["env"],
            cwd=spec["cwd"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=join_cgroups,
        )
    except OSError as error:
        write_json(
            spec["exit_file"],
            {
                "exitCode": 128,
                "reason": "StartError",
                "startedAt": started,
                "finishedAt": now(),
                "message": f"failed to start {spec['argv'][0]!r}: {error}"[:4096],
            },
        )
        return 0
    started = now()
    write_json(
        spec["pid_file"],
        {
            "pid": child.pid,
            "startTime": start_time(child.pid),
            "startedAt": started,
            "shimPid": os.getpid(),
        },
    )
    returncode = child.wait()
    finished = now()
    log.close()
    if returncode < 0:
        result = {"exitCode": 128 - returncode, "signal": -returncode}
    else:
        result = {"exitCode": returncode}
    write_json(spec["exit_file"], {**result, "startedAt": started, "finishedAt": finished})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
