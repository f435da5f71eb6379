"""`kuberun logs NAME`: an Execution's log stream from Redis, in order, optionally followed.

The stream holds every attempt's records and the operator's engine records in
one order (entry ids `<attempt>-<sequence>`), so reading it from the start
prints exactly what happened, and a reader never has to sort. Redis keys are
scoped by the Execution's uid, which `kubectl` tells us (the runner package
never imports a Kubernetes client); `--uid` skips that for scripts that know it.

With `--follow` the command waits on the stream (XREAD BLOCK) and stops once
the Execution is terminal and its last records are read, like `kubectl logs -f`
stops with its pod.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kuberun.contract import logrecord, spec
from kuberun.contract.statuses import Phase

if TYPE_CHECKING:
    import redis

# How long one XREAD waits before the command looks at the phase again.
BLOCK_MS = 1000
PAGE = 1000


class ExecutionNotFound(RuntimeError):
    """kubectl could not tell us about the Execution (missing, no access, no cluster)."""


@dataclass(frozen=True)
class Kubectl:
    """The few `kubectl get` calls `kuberun logs` needs."""

    binary: str
    namespace: str | None

    def field(self, name: str, jsonpath: str) -> str:
        argv = [
            self.binary,
            "get",
            f"{spec.PLURAL}.{spec.GROUP}",
            name,
            "-o",
            f"jsonpath={jsonpath}",
        ]
        if self.namespace:
            argv[2:2] = ["-n", self.namespace]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise ExecutionNotFound(done.stderr.strip() or f"kubectl exited {done.returncode}")
        return done.stdout.strip()


def find_kubectl(explicit: str | None) -> str | None:
    return explicit or shutil.which("kubectl")


def terminal(phase: str) -> bool:
    """True for a phase an Execution never leaves."""
    try:
        return Phase(phase).terminal
    except ValueError:
        return False


def show_stream(
    client: redis.Redis,
    stream: str,
    show: Callable[[logrecord.LogRecord], None],
    *,
    keep_following: bool,
    finished: Callable[[], bool],
) -> int:
    """Show every record of `stream` in order; when following, until `finished()` and drained.

    Returns the number of records shown.
    """
    last, shown = "0-0", 0
    done = False
    while True:
        if keep_following:
            reply: Any = client.xread({stream: last}, count=PAGE, block=BLOCK_MS)
            entries = reply[0][1] if reply else []
        else:
            entries = client.xrange(stream, min=f"({last}", count=PAGE)  # exclusive of `last`
        for entry_id, fields in entries:
            last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            show(logrecord.LogRecord.from_fields(fields))
            shown += 1
        if not keep_following:
            if len(entries) < PAGE:
                return shown
            continue
        if done and not entries:
            return shown
        if not entries and finished():
            done = True  # one more read: records written just before the phase changed


class PhaseWatch:
    """`finished()` for `follow`: asks kubectl for the phase at most once a second."""

    def __init__(self, kubectl: Kubectl, name: str) -> None:
        self._kubectl = kubectl
        self._name = name
        self._asked = 0.0
        self._done = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._done and now - self._asked >= 1.0:
            self._asked = now
            self._done = terminal(self._kubectl.field(self._name, "{.status.phase}"))
        return self._done


def locate(kubectl: Kubectl, name: str) -> tuple[str, str]:
    """(namespace, uid) of the Execution `name`."""
    found = kubectl.field(name, "{.metadata.namespace} {.metadata.uid}").split()
    if len(found) != 2:
        raise ExecutionNotFound(f"kubectl did not return the namespace and uid of {name}")
    return found[0], found[1]
