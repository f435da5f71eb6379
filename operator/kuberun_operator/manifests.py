"""Build, as plain data, the objects one attempt needs: the request Secret and the Job.

Pure: no API calls. `handlers` sends what these functions return. Keeping the
manifests as data makes every field testable (`tests/unit/operator`) and lets
a restarted operator rebuild exactly the same objects (deterministic names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kuberun.contract import caller, identity, request, spec
from kuberun_operator import naming, placement
from kuberun_operator.settings import Settings

RUNNER_CONTAINER = "runner"
REQUEST_VOLUME = "request"
SOURCE_VOLUME = "source"
CONFIG_VOLUME = "config"
SECRETS_VOLUME = "secrets"
TEMP_VOLUME = "temp"
#: Writable places on the read-only root filesystem, all from the temp emptyDir (one
#: size budget): the files API's temp location, /tmp, and the home directory (where
#: libraries keep caches and config).
TEMP_MOUNTS = {request.TEMP_DIR_DEFAULT: "files", "/tmp": "tmp", "/home/runner": "home"}
INTEGRATION_VOLUME_PREFIX = "integration-"


@dataclass(frozen=True)
class ExecutionRef:
    """Who the objects belong to: the Execution's identity in the API."""

    name: str
    namespace: str
    uid: str

    def owner_reference(self) -> dict[str, Any]:
        """Makes the garbage collector delete Secrets and Jobs with their Execution."""
        return {
            "apiVersion": spec.API_VERSION,
            "kind": spec.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def hard_deadline_seconds(execution: spec.ExecutionSpec, settings: Settings) -> int:
    """How long the runner's container may run before the kubelet stops it.

    Counted from the container's start (the pod's own activeDeadlineSeconds, set
    once it started: see `deadlines`), after the runner's soft deadline and its grace.
    """
    return (
        execution.timeout_seconds + execution.grace_period_seconds + settings.deadline_slack_seconds
    )


def job_deadline_seconds(execution: spec.ExecutionSpec, settings: Settings) -> int:
    """The Job's activeDeadlineSeconds: a backstop, counted from the Job's creation.

    It covers the start deadline too, so a slow scheduling or image pull never eats
    the code's time; it only matters when the operator is down from the pod's start
    until then (the pod's own deadline, set when the container starts, is the stop).
    """
    return settings.start_deadline_seconds + hard_deadline_seconds(execution, settings)


def source_path(execution: spec.ExecutionSpec) -> str | None:
    """Where the runner finds the code, or None for inline code (it is in the request)."""
    if execution.source.config_map is not None:
        return f"{request.CONFIGMAP_SOURCE_DIR}/{execution.source.config_map.key}"
    return execution.source.path


def run_request(
    ref: ExecutionRef,
    execution: spec.ExecutionSpec,
    attempt: int,
    organization: caller.Organization | None = None,
    creator: caller.Caller | None = None,
) -> str:
    """The JSON the runner reads from its request file.

    `organization` and `creator`: the identity the platform vouches for (the
    namespace's binding and the recorded creator, see `tenancy`); the runner
    prefers them to the spec's own `organization`/`caller`.
    """
    req = request.RunRequest(
        organization=organization,
        caller=creator,
        identity=identity.ExecutionIdentity(
            namespace=ref.namespace, name=ref.name, uid=ref.uid, attempt=attempt
        ),
        spec=execution,
        source_path=source_path(execution),
        config_dir=request.CONFIG_DIR_DEFAULT,
        secrets_dir=request.SECRETS_DIR_DEFAULT,
        integrations_dir=request.INTEGRATIONS_DIR_DEFAULT,
        temp_dir=request.TEMP_DIR_DEFAULT,
    )
    return req.model_dump_json(by_alias=True, exclude_none=True)


def integration_slug(name: str) -> str:
    """An integration's name as a Secret/volume name part (the runner matches it the same way)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _code_resources(
    settings: Settings, integrations: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Mounts and volumes of what the code reads besides its request: the namespace's
    configuration and secrets, its integrations' Secrets (all optional and read-only),
    and the execution's temp directory (an emptyDir)."""
    temp: dict[str, Any] = {"emptyDir": {}}
    if settings.temp_size_limit:
        temp["emptyDir"]["sizeLimit"] = settings.temp_size_limit
    volumes: list[dict[str, Any]] = [
        {
            "name": CONFIG_VOLUME,
            "configMap": {"name": settings.config_map_name, "optional": True},
        },
        {
            "name": SECRETS_VOLUME,
            "secret": {"secretName": settings.config_secret_name, "optional": True},
        },
        {"name": TEMP_VOLUME, **temp},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": CONFIG_VOLUME, "mountPath": request.CONFIG_DIR_DEFAULT, "readOnly": True},
        {"name": SECRETS_VOLUME, "mountPath": request.SECRETS_DIR_DEFAULT, "readOnly": True},
        *(
            {"name": TEMP_VOLUME, "mountPath": path, "subPath": sub}
            for path, sub in TEMP_MOUNTS.items()
        ),
    ]
    for slug in sorted({integration_slug(n) for n in integrations if integration_slug(n)}):
        volume = f"{INTEGRATION_VOLUME_PREFIX}{slug}"[:63].rstrip("-")
        volumes.append(
            {
                "name": volume,
                "secret": {
                    "secretName": f"{settings.integration_secret_prefix}{slug}",
                    "optional": True,
                },
            }
        )
        mounts.append(
            {
                "name": volume,
                "mountPath": f"{request.INTEGRATIONS_DIR_DEFAULT}/{slug}",
                "readOnly": True,
            }
        )
    return mounts, volumes


def build_request_secret(
    ref: ExecutionRef,
    execution: spec.ExecutionSpec,
    attempt: int,
    organization: caller.Organization | None = None,
    creator: caller.Caller | None = None,
) -> dict[str, Any]:
    """The Secret mounted as the request file (parameters may be secret; no size cliff)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": naming.request_secret_name(ref.name, attempt),
            "namespace": ref.namespace,
            "labels": naming.labels(ref.name, ref.uid, attempt),
            "ownerReferences": [ref.owner_reference()],
        },
        "stringData": {
            request.REQUEST_FILE_NAME: run_request(ref, execution, attempt, organization, creator)
        },
    }


def build_service_account(namespace: str, settings: Settings) -> dict[str, Any]:
    """The runner account, created on first use in a namespace (its token is never mounted)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": settings.runner_service_account,
            "namespace": namespace,
            "labels": {naming.MANAGED_BY_LABEL: naming.MANAGED_BY},
        },
        "automountServiceAccountToken": False,
    }


def _resources(execution: spec.ExecutionSpec, settings: Settings) -> dict[str, dict[str, str]]:
    given = execution.resources or spec.Resources()
    requests = {k: v for k, v in (given.requests or spec.ResourceList()).model_dump().items() if v}
    limits = {k: v for k, v in (given.limits or spec.ResourceList()).model_dump().items() if v}
    # Defaults only fill a resource the user left entirely alone: a user limit below our
    # default request would otherwise make the pod invalid.
    defaults = {
        "cpu": (settings.default_cpu_request, settings.default_cpu_limit),
        "memory": (settings.default_memory_request, settings.default_memory_limit),
    }
    for name, (default_request, default_limit) in defaults.items():
        if name in requests or name in limits:
            continue
        if default_request:
            requests[name] = default_request
        if default_limit:
            limits[name] = default_limit
    for name, count in given.extended.items():
        # Kubernetes takes extended resources only with request == limit.
        requests[name] = limits[name] = str(count)
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def build_job_manifest(
    ref: ExecutionRef,
    execution: spec.ExecutionSpec,
    attempt: int,
    settings: Settings,
    integrations: Sequence[str] = (),
) -> dict[str, Any]:
    """The Job of one attempt: one pod, no Kubernetes retries, a hard deadline.

    `integrations`: names of the integrations whose Secrets to mount (the
    caller finds them, e.g. by listing the namespace's integration Secrets).
    """
    labels = naming.labels(ref.name, ref.uid, attempt)
    env: list[dict[str, Any]] = [
        {"name": request.REQUEST_FILE_ENV, "value": request.REQUEST_FILE_DEFAULT},
        {
            "name": request.REDIS_URL_ENV,
            "valueFrom": {
                "secretKeyRef": {
                    "name": settings.redis_secret_name,
                    "key": settings.redis_secret_key,
                    "optional": True,
                }
            },
        },
        *execution.env,
    ]
    mounts: list[dict[str, Any]] = [
        {"name": REQUEST_VOLUME, "mountPath": request.REQUEST_DIR_DEFAULT, "readOnly": True},
    ]
    volumes: list[dict[str, Any]] = [
        {
            "name": REQUEST_VOLUME,
            "secret": {"secretName": naming.request_secret_name(ref.name, attempt)},
        },
    ]
    config_map = execution.source.config_map
    if config_map is not None:
        mounts.append(
            {"name": SOURCE_VOLUME, "mountPath": request.CONFIGMAP_SOURCE_DIR, "readOnly": True}
        )
        volumes.append(
            {
                "name": SOURCE_VOLUME,
                # Every key, not just the entry file: a workspace's sibling modules import
                # (`kuberun submit DIR` puts one key per file).
                "configMap": {"name": config_map.name},
            }
        )
    code_mounts, code_volumes = _code_resources(settings, integrations)
    mounts.extend(code_mounts)
    volumes.extend(code_volumes)
    container: dict[str, Any] = {
        "name": RUNNER_CONTAINER,
        "image": execution.image or settings.runner_image,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "resources": _resources(execution, settings),
        "volumeMounts": mounts,
        "terminationMessagePath": request.TERMINATION_LOG_DEFAULT,
        "terminationMessagePolicy": "File",
        "securityContext": {
            # The "restricted" Pod Security Standard, and a read-only root filesystem:
            # user code writes to /tmp and its home (an emptyDir), nothing else.
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if execution.env_from:
        container["envFrom"] = list(execution.env_from)
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,  # retries are the operator's: each attempt is a new Job
        "activeDeadlineSeconds": job_deadline_seconds(execution, settings),
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": execution.service_account_name
                or settings.runner_service_account,
                "automountServiceAccountToken": execution.service_account_name is not None,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": execution.grace_period_seconds,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": settings.run_as_user,
                    "runAsGroup": settings.run_as_user,
                    "fsGroup": settings.run_as_user,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    placement.apply_to_pod(
        job_spec["template"], placement.merge(settings.runner_placement, execution.placement)
    )
    if settings.job_ttl_seconds is not None:
        job_spec["ttlSecondsAfterFinished"] = settings.job_ttl_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": naming.job_name(ref.name, attempt),
            "namespace": ref.namespace,
            "labels": labels,
            "ownerReferences": [ref.owner_reference()],
        },
        "spec": job_spec,
    }
