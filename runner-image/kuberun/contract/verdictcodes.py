"""The runner's exit codes and the one mapping from a verdict to them, without pydantic:
the command line reports them before it has imported any model (`kuberun.contract.outcome`
re-exports both beside the result models)."""

from __future__ import annotations

import enum

from kuberun.contract.phases import Phase, Reason


class ExitCode(enum.IntEnum):
    """Runner process exit codes; 0 only for SUCCESS.

    Codes 1 and 2 are left to Python itself (uncaught exception, usage), and
    128+N to signals, so a runner that died without a verdict is recognisable.
    """

    SUCCESS = 0
    COMPLETED_WITH_ERRORS = 10
    FAILED = 11
    TIMED_OUT = 12
    CANCELLED = 13
    INVALID_REQUEST = 14

    @classmethod
    def for_phase(cls, phase: Phase) -> ExitCode:
        """The exit code of a phase alone (prefer `for_verdict`, which knows the reason)."""
        return _EXIT_BY_PHASE.get(phase, cls.FAILED)

    @classmethod
    def for_verdict(cls, phase: Phase, reason: Reason | None) -> ExitCode:
        """The one mapping from a verdict to the process exit code.

        Used by the runner (its own exit) and by `kuberun run` (the CLI's exit), so the
        same source gives the same code in a pod and on a laptop: a request the runner
        cannot use (`InvalidRequest`) is 14, every other verdict the code of its phase.
        """
        if reason == Reason.INVALID_REQUEST:
            return cls.INVALID_REQUEST
        return cls.for_phase(phase)


_EXIT_BY_PHASE: dict[Phase, ExitCode] = {
    Phase.SUCCESS: ExitCode.SUCCESS,
    Phase.COMPLETED_WITH_ERRORS: ExitCode.COMPLETED_WITH_ERRORS,
    Phase.FAILED: ExitCode.FAILED,
    Phase.TIMED_OUT: ExitCode.TIMED_OUT,
    Phase.CANCELLED: ExitCode.CANCELLED,
}


def phase_for_exit_code(code: int) -> Phase | None:
    """The runner verdict an exit code stands for, or None if it is not one of ours."""
    for phase, exit_code in _EXIT_BY_PHASE.items():
        if exit_code == code:
            return phase
    if code == ExitCode.INVALID_REQUEST:
        return Phase.FAILED
    return None
