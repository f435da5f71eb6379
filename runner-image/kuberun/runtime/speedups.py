"""Whether the log pipeline's per-record loops run in C or in Python.

Three loops are all a log line costs the user's code besides its own `logging`
call, and they run under the GIL the code needs too: sequencing what was
appended (`Sequencer.take`), packing XADD commands (`XaddPacker.batch`) and
the `kubectl logs` echo (`Echo`). `_speedups.c` does each in one pass over C
buffers, several times faster than the Python loops (`python -m bench logs`
shows both). The Python loops stay the reference: each C function handles the
common case only and hands anything else (a formatting error, a long line, an
engine record, a lone surrogate) back to them, and a unit test compares the
two on random records byte for byte.

The extension is built when the package is installed with a C compiler at
hand (`setup.py`, optional): without one the install still succeeds and the
Python loops run. `KUBERUN_SPEEDUPS=0` turns it off.
"""

from __future__ import annotations

import collections
import importlib
import os
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from kuberun.runtime.records import Entry

ENV = "KUBERUN_SPEEDUPS"


class Native(Protocol):
    """The functions of `_speedups.c` (positional arguments only)."""

    def take(
        self,
        raw: collections.deque[Any],
        count: int,
        attempt: int,
        sequenced: int,
        lines: int,
        nbytes: int,
        max_lines: int,
        max_bytes: int,
        cheap_size: int,
        entry_type: type[Entry],
        log_source: str,
        /,
    ) -> tuple[list[Entry], int, int, int]:
        """Sequence the plain records at the deque's head: (entries, sequenced, lines, bytes)."""
        ...

    def pack(self, key: bytes, entries: list[Entry], /) -> bytes | None:
        """Every XADD of `entries`, or None when one needs the Python packer."""
        ...

    def echo(
        self, entries: list[Entry], second: int, prefix: str, /
    ) -> tuple[bytes, int, str] | None:
        """The echo lines of `entries` (and the new second and its prefix), or None."""
        ...


def load() -> Native | None:
    """The C functions, or None (not built, or turned off by KUBERUN_SPEEDUPS=0)."""
    if os.environ.get(ENV, "1") == "0":
        return None
    try:
        module = importlib.import_module("kuberun.runtime._speedups")
    except ImportError:
        return None
    return cast(Native, module)


# Read at each call (not bound at import), so a test can set it to None.
native: Native | None = load()
