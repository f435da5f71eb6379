"""The exit codes of the `kuberun` command, in one table: the runner's verdict codes
(`outcome.ExitCode`) when a command reports an Execution's outcome, plus the
command's own failures. Scripts and CI branch on them, so they never change meaning.

| code | meaning |
|---|---|
| 0 | success: the Execution (or local run) ended SUCCESS, or the command did what it was asked |
| 1 | the cluster, the API or Redis refused or failed the request (the message says which) |
| 2 | usage: bad arguments, a missing file, an unreadable parameter |
| 3 | not found: no such Execution (or cache entry) |
| 4 | `wait --timeout` (or `submit --timeout-wait`) passed before a terminal phase |
| 10 | COMPLETED_WITH_ERRORS |
| 11 | FAILED |
| 12 | TIMED_OUT |
| 13 | CANCELLED |
| 14 | the runner rejected its request (INVALID_REQUEST) |
| 130 | interrupted (Ctrl-C) before the outcome was known |
"""

from __future__ import annotations

import enum

from kuberun.contract.outcome import ExitCode
from kuberun.contract.phases import Phase, Reason


class CommandExit(enum.IntEnum):
    """The command's own failures (never overlapping the runner's verdict codes)."""

    OK = 0
    REQUEST_FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    WAIT_TIMEOUT = 4
    INTERRUPTED = 130


def for_phase(phase: Phase | str | None, reason: str | None = None) -> int:
    """The exit code for an Execution's final phase and reason (the runner's own mapping,
    `ExitCode.for_verdict`); a phase that is not terminal is a failure."""
    try:
        known = Phase(phase) if phase is not None else None
    except ValueError:
        known = None
    if known is None or not known.terminal:
        return int(ExitCode.FAILED)
    try:
        why = Reason(reason) if reason else None
    except ValueError:
        why = None
    return int(ExitCode.for_verdict(known, why))
