"""Deterministic names and labels of the objects an Execution owns.

Pure; used by `manifests` (to build objects) and `handlers` (to find them). The
same Execution and attempt always give the same Job name, so creating a Job
twice after a restart is a harmless 409 Conflict, never a second pod.
"""

from __future__ import annotations

import hashlib

from kuberun.contract import spec

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "kuberun"
UID_LABEL = f"{spec.GROUP}/execution-uid"
NAME_LABEL = f"{spec.GROUP}/execution"
ATTEMPT_LABEL = f"{spec.GROUP}/attempt"
COMPONENT_LABEL = "app.kubernetes.io/component"

# What the operator watches Jobs and Pods by (server-side label selector).
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY},{UID_LABEL}"

# Job names become the `job-name` label of their pods: at most 63 characters.
MAX_NAME = 63


def _fit(base: str, suffix: str, limit: int = MAX_NAME) -> str:
    """`base` + `suffix`, with `base` cut and hashed when the whole would not fit."""
    if len(base) + len(suffix) <= limit:
        return base + suffix
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    room = limit - len(suffix) - len(digest) - 1
    return f"{base[:room].rstrip('-.')}-{digest}{suffix}"


def job_name(execution_name: str, attempt: int) -> str:
    """`<execution>-<attempt>`, cut and hashed to 63 characters when long."""
    return _fit(execution_name, f"-{attempt}")


def request_secret_name(execution_name: str, attempt: int) -> str:
    """The Secret holding attempt `attempt`'s request file."""
    return _fit(execution_name, f"-{attempt}-request", limit=253)


def label_value(text: str) -> str:
    """A label value (≤63 chars) that still identifies `text`."""
    return _fit(text, "") if len(text) > MAX_NAME else text


def labels(execution_name: str, uid: str, attempt: int) -> dict[str, str]:
    """Labels on every Job, Pod and Secret of an attempt."""
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        COMPONENT_LABEL: "runner",
        UID_LABEL: uid,
        NAME_LABEL: label_value(execution_name),
        ATTEMPT_LABEL: str(attempt),
    }
