"""Every Redis key kuberun uses, in one place.

Keys are scoped by namespace and execution uid (cache keys by organization),
so tenants sharing one Redis never see each other's data. Nothing else in the
code base spells a key.
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "kuberun"

# How long an execution's logs, result and cancel flag outlive it in Redis.
# A day covers "what happened last night" without growing Redis forever; the
# Postgres archive keeps things for longer.
DEFAULT_TTL_SECONDS = 24 * 3600


def _execution(namespace: str, uid: str) -> str:
    return f"{PREFIX}:{{{namespace}:{uid}}}"


def logs_stream(namespace: str, uid: str) -> str:
    """The Redis Stream holding every log record of every attempt."""
    return f"{_execution(namespace, uid)}:logs"


def result(namespace: str, uid: str, attempt: int) -> str:
    """The full JSON result (a `RunResult`) of one attempt."""
    return f"{_execution(namespace, uid)}:result:{attempt}"


def cancel(namespace: str, uid: str) -> str:
    """Present (value = reason) when cancellation was requested."""
    return f"{_execution(namespace, uid)}:cancel"


def params_hash(parameters: dict[str, Any]) -> str:
    """SHA-256 of the parameters as canonical JSON (sorted keys, no spaces)."""
    import hashlib  # OpenSSL's bindings cost a runner's start; only cache keys need a hash

    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def cache_scope(organization: str | None, namespace: str) -> str:
    """Who shares cache entries: an organization, or else only one namespace (never
    two tenants by accident)."""
    return organization or f"namespace:{namespace}"


def cache_entry(organization: str, provider: str, parameters: dict[str, Any]) -> str:
    """A cached data-provider result, shared by one organization."""
    return f"{PREFIX}:cache:{organization}:{provider}:{params_hash(parameters)}"


def cache_lock(organization: str, provider: str, parameters: dict[str, Any]) -> str:
    """The stampede lock: held by the one execution computing a missing entry."""
    return f"{cache_entry(organization, provider, parameters)}:lock"
