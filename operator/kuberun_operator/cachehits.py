"""Which cache entry could answer an Execution without a pod.

A data provider's runner stores its options in the shared cache
(`kuberun.runtime.caching`, keys from `kuberun.contract.keys`). Before asking
for a pod, the operator looks up the same entry: a hit ends the execution as
SUCCESS (reason CacheHit) at once. The lookup can only use what the spec says,
so it applies when `spec.entrypoint` is the provider's own name (the usual
form); anything else just runs, and the runner still answers from the cache.

Pure: the key is computed here, the GET happens in `redisio`.
"""

from __future__ import annotations

from typing import Any

from kuberun.contract import keys, spec


def lookup_key(
    execution: spec.ExecutionSpec, namespace: str, organization: str | None = None
) -> str | None:
    """The cache entry that may hold this execution's result, or None when it must run.

    None for scripts (no entrypoint), `cache.bypass`, and `cache.ttlSeconds: 0`;
    a cancelled execution never needs one either. `organization`: the namespace's
    bound organization (`tenancy`), which the runner's cache scope uses too.
    """
    if execution.entrypoint is None or execution.cancel:
        return None
    if execution.cache is not None and (execution.cache.bypass or execution.cache.ttl_seconds == 0):
        return None
    return entry_key(
        organization or execution.organization,
        namespace,
        execution.entrypoint,
        execution.parameters,
    )


def entry_key(
    organization: str | None, namespace: str, entrypoint: str, parameters: dict[str, Any]
) -> str:
    """The runner's cache entry for these inputs (the same key as `kuberun.runtime.caching`)."""
    return keys.cache_entry(keys.cache_scope(organization, namespace), entrypoint, parameters)
