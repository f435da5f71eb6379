"""Every Redis key kuberun uses, in one place.

Keys are scoped by namespace and execution uid (cache keys by organization),
so tenants sharing one Redis never see each other's data. Nothing else in the
code base spells a key.

Two shapes, each matched by one Redis ACL key pattern (`namespace_pattern`,
`cache_pattern`) so a namespace's runner credential reaches its own keys only:

- `kuberun:{<namespace>:<uid>}:...` for an execution's stream, results and
  cancel flag (a namespace is a DNS label: no `:` can end it early);
- `kuberun:cache:{<scope>:<provider>:<hash>}` for a cache entry, and the same
  plus `:lock` for its stampede lock. The scope and provider are percent-encoded
  (`scope_token`), so a scope never holds `:` or a glob character and
  `kuberun:cache:{acme:*` cannot match the scope `acme:x`.

Everything inside the braces is the Redis Cluster hash tag: an execution's keys
share one slot, and so do a cache entry and its lock.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

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


def scope_token(text: str) -> str:
    """`text` percent-encoded down to `[A-Za-z0-9._~-]`: safe inside a key and an ACL pattern."""
    return quote(text, safe="")


def cache_entry(organization: str, provider: str, parameters: dict[str, Any]) -> str:
    """A cached data-provider result, shared by one organization (`cache_scope`)."""
    tag = f"{scope_token(organization)}:{scope_token(provider)}:{params_hash(parameters)}"
    return f"{PREFIX}:cache:{{{tag}}}"


def cache_lock(organization: str, provider: str, parameters: dict[str, Any]) -> str:
    """The stampede lock: held by the one execution computing a missing entry.

    Same hash tag as the entry, so both live in one Redis Cluster slot."""
    return f"{cache_entry(organization, provider, parameters)}:lock"


def namespace_pattern(namespace: str) -> str:
    """The ACL key pattern of every execution key of one namespace."""
    return f"{PREFIX}:{{{namespace}:*"


def cache_pattern(scope: str) -> str:
    """The ACL key pattern of every cache entry and lock of one scope (`cache_scope`)."""
    return f"{PREFIX}:cache:{{{scope_token(scope)}:*"
