"""Bring a test session's cluster down if the session dies without doing it.

The pytest fixture stops its cluster in a finalizer, but a killed pytest (a
hard timeout, SIGKILL, a closed terminal) runs no finalizer, and the cluster's
processes live in their own sessions. So the fixture also starts this
watchdog, in its own session: it polls the owner process and, when the owner
is gone while ``state.json`` still exists, runs ``down`` and removes the state
dir. A normal ``down`` deletes ``state.json``, which ends the watchdog.

Run as ``python -m e2e.cluster.watchdog <owner-pid> <owner-start-time> <state-dir>``.
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import time

from e2e.cluster import controlplane, processes

POLL_SECONDS = 1.0


def watch(owner: processes.Record, state_dir: pathlib.Path, *, remove: bool) -> None:
    """Return when the cluster is down, bringing it down first if the owner died."""
    while (state_dir / "state.json").exists():
        if not processes.alive(owner):
            controlplane.down(state_dir)
            if remove:
                shutil.rmtree(state_dir, ignore_errors=True)
            return
        time.sleep(POLL_SECONDS)


def main(argv: list[str]) -> int:
    pid, started, directory = int(argv[0]), int(argv[1]), pathlib.Path(argv[2])
    remove = len(argv) > 3 and argv[3] == "--remove"
    watch(processes.Record("owner", pid, started, ""), directory, remove=remove)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
