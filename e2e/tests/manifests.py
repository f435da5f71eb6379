"""Small builders for the Pod and Job bodies the tests create (plain dicts)."""

from __future__ import annotations

import os
from typing import Any

from e2e.node import images

#: An image with Python: on the local node the base our images are built on; on
#: another cluster (kind, a cloud one) whatever ``KUBERUN_E2E_PYTHON_IMAGE`` names.
PYTHON_IMAGE = os.environ.get("KUBERUN_E2E_PYTHON_IMAGE") or images.planned().base.ref


def container(script: str, *, name: str = "main", **extra: Any) -> dict[str, Any]:
    """A container running a Python script with the ``python`` image."""
    return {"name": name, "image": PYTHON_IMAGE, "command": ["python", "-c", script], **extra}


def pod(
    name: str, *containers: dict[str, Any], restart_policy: str = "Never", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": restart_policy, "containers": list(containers), **spec},
    }


def job(
    name: str,
    *containers: dict[str, Any],
    restart_policy: str = "Never",
    backoff_limit: int = 0,
    pod_spec: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": restart_policy,
                    "containers": list(containers),
                    **(pod_spec or {}),
                }
            },
        },
    }
