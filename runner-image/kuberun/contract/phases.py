"""Status names of an execution (`status.phase`) and the reasons that refine them.

Both the runner (its own verdict) and the operator (the mirrored status) speak
these exact names; `kubectl get` shows them and users script against them.
"""

from __future__ import annotations

import enum


class Phase(enum.StrEnum):
    """The phase of an execution; the names are part of the public contract."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        """True once the execution can never change phase again."""
        return self in TERMINAL_PHASES


TERMINAL_PHASES: frozenset[Phase] = frozenset(
    {
        Phase.SUCCESS,
        Phase.COMPLETED_WITH_ERRORS,
        Phase.FAILED,
        Phase.TIMED_OUT,
        Phase.CANCELLED,
    }
)

# The same as the strings a status carries (`status.phase` read from an object), for
# membership tests on raw bodies without building a Phase first.
TERMINAL_PHASE_VALUES: frozenset[str] = frozenset(p.value for p in TERMINAL_PHASES)

# The phases a runner can report as its own verdict (it never reports PENDING,
# RUNNING or CANCELLING: those are the operator's view of a live execution).
RUNNER_VERDICTS: frozenset[Phase] = TERMINAL_PHASES


class Reason(enum.StrEnum):
    """Machine-readable refinement of a phase (`status.reason`)."""

    QUEUED = "Queued"
    STARTING = "Starting"
    WAITING_FOR_CACHE = "WaitingForCache"
    RUNNING = "Running"
    COMPLETED = "Completed"
    COMPLETED_WITH_ERRORS = "CompletedWithErrors"
    USER_ERROR = "UserError"
    EXCEPTION = "Exception"
    INVALID_REQUEST = "InvalidRequest"
    INVALID_RESULT = "InvalidResult"
    ENTRYPOINT_NOT_FOUND = "EntrypointNotFound"
    SYNTAX_ERROR = "SyntaxError"
    INVALID_PARAMETERS = "InvalidParameters"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    CANCELLED = "Cancelled"
    OOM_KILLED = "OOMKilled"
    EVICTED = "Evicted"
    IMAGE_PULL_FAILED = "ImagePullFailed"
    START_TIMEOUT = "StartTimeout"
    RUNNER_DIED = "RunnerDied"
    # The runner's own verdict on a SIGTERM it was not asked for (no cancel request seen):
    # the pod was deleted, evicted or drained. The operator, which knows whether
    # spec.cancel was set, turns it into CANCELLED or into JobDeleted/Evicted/RunnerDied.
    TERMINATED = "Terminated"
    JOB_DELETED = "JobDeleted"
    RUNNER_KILLED = "RunnerKilled"
    CACHE_HIT = "CacheHit"
    RETRYING = "Retrying"
