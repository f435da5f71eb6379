"""The shared data-provider cache: one computation per key, however many ask at once.

A data provider's options depend only on its name and parameters, and many
executions ask for the same ones at the same moment (a form opening for a
hundred users). The cache lives in Redis, shared by every runner of an
organization (`keys.cache_entry`), with a TTL, so a hit is one GET.

Stampede protection: on a miss, the runner takes the key's lock
(`keys.cache_lock`, redis-py's token-safe `Lock`, renewed while the provider
runs so a long computation keeps it and a killed runner loses it within
`LOCK_TTL_SECONDS`). Everyone else waits for the entry instead of computing
it again; if the holder fails (no entry, lock gone), the next waiter takes
the lock and computes. Waiting is bounded by the execution's own deadline and
cancellation.

Redis trouble never fails an execution: the provider is then simply run
without the cache. Without Redis (local `kuberun run`) there is no cache.

`policy()` is the pure decision; `SharedCache` does the I/O.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
import redis.lock

from kuberun.contract import keys
from kuberun.sdk import decorators

if TYPE_CHECKING:
    from kuberun.runtime.requests import Request

# A killed holder's lock expires after this; the holder renews it every third of it.
LOCK_TTL_SECONDS = 30.0
# How often a waiter looks for the entry: fast enough that waiters finish a
# blink after the holder, slow enough that 100 waiters are no load for Redis.
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Policy:
    """How one execution uses the cache."""

    entry_key: str
    lock_key: str
    ttl_seconds: int
    read: bool  # False = `spec.cache.bypass`: compute and refresh, never read


def policy(request: Request, info: decorators.EntrypointInfo | None) -> Policy | None:
    """The cache policy of an execution, or None when it does not use the cache.

    Only data providers are cached. `spec.cache.ttlSeconds` overrides the
    decorator's `cache_ttl_seconds`; a TTL of 0 turns caching off. Without an
    organization the cache is scoped by namespace, so tenants never share.
    The request's organization (the namespace's binding) wins over the spec's.
    """
    if info is None or info.kind is not decorators.Kind.DATA_PROVIDER:
        return None
    spec = request.spec
    ttl = info.cache_ttl_seconds
    if spec.cache is not None and spec.cache.ttl_seconds is not None:
        ttl = spec.cache.ttl_seconds
    if not ttl:
        return None
    # The organization the platform bound (in a cluster: the namespace's, which the
    # runner's Redis credential is limited to), else the spec's (local runs).
    organization = request.organization.id if request.organization else spec.organization
    scope = keys.cache_scope(organization, request.identity.namespace)
    return Policy(
        entry_key=keys.cache_entry(scope, info.name, spec.parameters),
        lock_key=keys.cache_lock(scope, info.name, spec.parameters),
        ttl_seconds=ttl,
        read=not (spec.cache is not None and spec.cache.bypass),
    )


@dataclass(frozen=True)
class Fetched:
    """A provider's options and where they came from."""

    value: Any
    hit: bool


class SharedCache:
    """Reads, computes once under the lock, and stores data-provider results."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        check: Callable[[], None],
        note: Callable[[str], object],
        poll_seconds: float = POLL_SECONDS,
        lock_ttl_seconds: float = LOCK_TTL_SECONDS,
    ) -> None:
        """`check` raises when the execution must stop (cancel, deadline); `note`
        writes an engine record into the execution's log."""
        self._client = client
        self._check = check
        self._note = note
        self._poll = poll_seconds
        self._lock_ttl = lock_ttl_seconds

    def fetch(
        self,
        plan: Policy,
        compute: Callable[[], Any],
        cacheable: Callable[[Any], Any | None],
    ) -> Fetched:
        """The options, from the cache or from `compute()` (run at most once per key at a time).

        `cacheable(value)` returns the JSON form to store, or None when the value
        must not be cached (an invalid result is never shared).
        """
        if not plan.read:
            return self._compute_and_store(plan, compute, cacheable)
        waiting_noted = False
        try:
            while True:
                cached = self._get(plan)
                if cached is not None:
                    return cached
                lock = self._client.lock(
                    plan.lock_key, timeout=self._lock_ttl, blocking=False, thread_local=False
                )
                if lock.acquire():
                    break
                if not waiting_noted:
                    self._note(f"cache miss for {plan.entry_key}: waiting for the one computing it")
                    waiting_noted = True
                waited = self._wait(plan)
                if waited is not None:
                    return waited
        except redis.RedisError as exc:
            self._note(f"cache unavailable ({exc}); running the data provider without it")
            return Fetched(compute(), hit=False)
        return self._compute_holding(plan, lock, compute, cacheable)

    def _get(self, plan: Policy) -> Fetched | None:
        raw: Any = self._client.get(plan.entry_key)
        if raw is None:
            return None
        self._note(f"cache hit for {plan.entry_key}")
        return Fetched(json.loads(raw), hit=True)

    def _wait(self, plan: Policy) -> Fetched | None:
        """Until the entry appears (returned) or the lock is gone without one (None)."""
        while True:
            self._check()
            time.sleep(self._poll)
            cached = self._get(plan)
            if cached is not None:
                return cached
            if not self._client.exists(plan.lock_key):
                return None

    def _compute_holding(
        self,
        plan: Policy,
        lock: redis.lock.Lock,
        compute: Callable[[], Any],
        cacheable: Callable[[Any], Any | None],
    ) -> Fetched:
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(lock, done), name="kuberun-cache-lock", daemon=True
        )
        renewer.start()
        try:
            with contextlib.suppress(redis.RedisError):
                cached = self._get(plan)  # filled between our miss and our lock
                if cached is not None:
                    return cached
            return self._compute_and_store(plan, compute, cacheable)
        finally:
            done.set()
            renewer.join()
            try:
                lock.release()
            except redis.exceptions.LockError:
                pass  # expired while computing; someone else may hold it now
            except redis.RedisError as exc:
                self._note(f"cache lock not released ({exc}); it expires by itself")

    def _compute_and_store(
        self, plan: Policy, compute: Callable[[], Any], cacheable: Callable[[Any], Any | None]
    ) -> Fetched:
        value = compute()
        self._store(plan, cacheable(value))
        return Fetched(value, hit=False)

    def _renew(self, lock: redis.lock.Lock, done: threading.Event) -> None:
        while not done.wait(self._lock_ttl / 3):
            try:
                lock.reacquire()
            except (redis.RedisError, redis.exceptions.LockError):
                return

    def _store(self, plan: Policy, encoded: Any | None) -> None:
        if encoded is None:
            return
        try:
            self._client.set(plan.entry_key, json.dumps(encoded), ex=plan.ttl_seconds)
        except redis.RedisError as exc:
            self._note(f"cache not written ({exc})")
