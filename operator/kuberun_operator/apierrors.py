"""Kubernetes API errors, sorted by what the operator does about them.

Pure: a status code and the API server's message in, an exception out. The
tree says whether trying again can help:

    KubeError                 any failed call (status, message)
    ├── PermanentError        the request itself is wrong: retrying cannot help
    │   └── NotFound          404 (reads: "gone"; deletes: "done")
    └── TemporaryError        the server or its limits: retry with backoff
        └── Conflict          409 (creates: "already there")

On a create, a permanent error ends the Execution `FAILED/InvalidRequest` at
once with the server's message (a 422 "requests must be less than or equal to
memory limit" will be a 422 on every retry); a temporary one goes to the
per-Execution loop's backoff. The table is `classify`; its reasons:

- 4xx is the client's fault, so permanent — except 408 (request timeout),
  409 (conflict: a name taken, an object changed under us), 429 (throttled)
  and 401 (the operator's own credentials, refreshed by the client), and a
  403 that says a ResourceQuota is exhausted (it frees up as other work ends);
- 5xx, and status 0 (no answer: timeout, connection refused), are temporary.
"""

from __future__ import annotations

import enum


class Outcome(enum.StrEnum):
    """What to do after a failed call."""

    PERMANENT = "permanent"
    TEMPORARY = "temporary"


# 4xx codes that say "not now" rather than "never".
_TEMPORARY_CLIENT_ERRORS = frozenset({401, 408, 409, 429})
# A 403 with this text is a ResourceQuota admission denial, not RBAC.
_QUOTA_MARKER = "exceeded quota"


def classify(status: int, message: str = "") -> Outcome:
    """Whether a call that failed with `status` (0: no answer) can succeed if tried again."""
    if 400 <= status < 500:
        if status in _TEMPORARY_CLIENT_ERRORS:
            return Outcome.TEMPORARY
        if status == 403 and _QUOTA_MARKER in message.lower():
            return Outcome.TEMPORARY
        return Outcome.PERMANENT
    return Outcome.TEMPORARY


class KubeError(Exception):
    """An API call failed."""

    outcome: Outcome = Outcome.TEMPORARY

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason  # the API server's message when it sent one

    @property
    def permanent(self) -> bool:
        return self.outcome is Outcome.PERMANENT


class PermanentError(KubeError):
    """The API server refused the request itself (400, 403, 404, 413, 422, ...)."""

    outcome = Outcome.PERMANENT


class TemporaryError(KubeError):
    """The server could not answer now (409, 429, 5xx, no answer)."""

    outcome = Outcome.TEMPORARY


class NotFound(PermanentError):
    """404."""


class Conflict(TemporaryError):
    """409."""


def from_status(status: int, message: str) -> KubeError:
    """The exception for a failed call, by `classify`."""
    if status == 404:
        return NotFound(status, message)
    if status == 409:
        return Conflict(status, message)
    if classify(status, message) is Outcome.PERMANENT:
        return PermanentError(status, message)
    return TemporaryError(status, message)
