"""When to retry an attempt and how long to wait: exponential backoff with jitter.

Pure and deterministic: the jitter comes from a hash of the execution uid and
the attempt, so an operator restarted mid-backoff computes the same retry time
(it is also stored in `status.retryAt`).
"""

from __future__ import annotations

import hashlib

from kuberun.contract import spec
from kuberun.contract.phases import Phase


def should_retry(retry: spec.Retry | None, phase: Phase, attempt: int) -> bool:
    """True when attempt `attempt` ended in `phase` and another attempt is allowed."""
    if retry is None or phase not in retry.on:
        return False
    return attempt <= retry.limit


def jitter_fraction(uid: str, attempt: int) -> float:
    """A number in [0, 1) fixed by uid and attempt."""
    digest = hashlib.sha256(f"{uid}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def backoff_seconds(retry: spec.Retry, uid: str, attempt: int) -> float:
    """Delay before attempt `attempt + 1`.

    The base doubles per attempt up to the cap; "equal jitter" then keeps between
    half and all of it, so retries of many executions failing together spread out
    without any of them retrying immediately.
    """
    base = float(min(retry.max_backoff_seconds, retry.backoff_seconds * 2.0 ** (attempt - 1)))
    return base / 2 + base / 2 * jitter_fraction(uid, attempt)
