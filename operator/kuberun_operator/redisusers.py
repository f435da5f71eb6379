"""Each namespace's runner credential: a Redis ACL user, and the Secret its runners mount.

Before every attempt's Job the operator applies the namespace's user with
`ACL SETUSER` (rules from `tenancy.acl_rules`), on every node of a Redis
Cluster. Applying it each time (one round trip, well under a millisecond)
means a Redis that restarted without an ACL file, or a namespace whose
organization changed, is right again by the next attempt without any
bookkeeping.

The password is made once per namespace and kept in the namespace's runner
Secret (`Settings.redis_secret_name`), next to the URL runners read; a
restarted operator reads it back from there, so a running pod's credential
stays valid. The operator's own privileged URL never leaves its namespace.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from kuberun.contract import redisurl
from kuberun_operator import naming, tenancy
from kuberun_operator.protocols import KubeAPI
from kuberun_operator.settings import Settings

log = logging.getLogger(__name__)

# How often the operator asks Redis which users it knows (one ACL USERS): after a
# Redis restart without an ACL file, running pods wait about this long for theirs.
CHECK_SECONDS = 2.0
# How often every known user is applied again anyway (a namespace's binding changed);
# one round trip per namespace.
REAPPLY_SECONDS = 60.0
PASSWORD_KEY = "password"
USERNAME_KEY = "username"


class ForeignSecret(RuntimeError):
    """The runner Secret's name is taken by a Secret kuberun did not make."""


async def apply_user(client: Any, bound: tenancy.Binding, password: str) -> None:
    """`ACL SETUSER` of the namespace's runner user, on every node of a cluster."""
    rules = tenancy.acl_rules(bound, password)
    user = tenancy.acl_user(bound.namespace)
    if isinstance(client, RedisCluster):
        # ACL users live per node: every primary and replica must know the user.
        await client.execute_command(
            "ACL", "SETUSER", user, *rules, target_nodes=RedisCluster.ALL_NODES
        )
    else:
        await client.execute_command("ACL", "SETUSER", user, *rules)


async def existing_users(client: Any) -> set[str]:
    """The ACL users every node knows (on a cluster: those known to all nodes)."""
    if isinstance(client, RedisCluster):
        replies = await client.execute_command("ACL", "USERS", target_nodes=RedisCluster.ALL_NODES)
        per_node = list(replies.values()) if isinstance(replies, dict) else [replies]
    else:
        per_node = [await client.execute_command("ACL", "USERS")]
    sets = [{u.decode() if isinstance(u, bytes) else str(u) for u in users} for users in per_node]
    return set.intersection(*sets) if sets else set()


async def restore_users(
    client: Any, known: Mapping[str, tuple[tenancy.Binding, str]], *, everything: bool = False
) -> list[str]:
    """Apply the users of `known` (namespace -> binding, password) that Redis lacks, or
    all of them with `everything`; the namespaces applied."""
    present = set() if everything else await existing_users(client)
    applied = []
    for namespace, (bound, password) in known.items():
        if tenancy.acl_user(namespace) not in present:
            await apply_user(client, bound, password)
            applied.append(namespace)
    return applied


class RedisUsers:
    """Applies runner ACL users and their Secrets; one per operator."""

    def __init__(self, client: Any, kube: KubeAPI, settings: Settings, base_url: str) -> None:
        """`client`: the operator's privileged asyncio client; `base_url`: where runners
        connect (the operator's URL, whose credentials are replaced)."""
        self._client = client
        self._kube = kube
        self._settings = settings
        self._base_url = base_url
        self._passwords: dict[str, str] = {}
        self._bound: dict[str, tenancy.Binding] = {}

    async def ensure(self, bound: tenancy.Binding) -> bool:
        """The namespace's Secret exists and its user is applied as `bound` says.

        False when Redis could not be told (it is away): the attempt still starts,
        as it does without tenant users (its outcome reaches the operator through
        the termination message), and `keep_applied` applies the user once Redis is
        back. A Redis that refuses ACL SETUSER is a setup error, raised with what to do.
        """
        password = await self._password(bound.namespace)
        self._bound[bound.namespace] = bound
        try:
            await apply_user(self._client, bound, password)
        except ResponseError as exc:
            raise RuntimeError(
                f"Redis refused ACL SETUSER for {tenancy.acl_user(bound.namespace)} ({exc}):"
                " the operator's Redis URL must be allowed ACL SETUSER, or turn tenant users"
                " off (redis.tenantUsers.enabled=false)"
            ) from exc
        except (RedisError, OSError) as exc:
            log.warning("%s: Redis ACL user not applied now (%s)", bound.namespace, exc)
            return False
        return True

    async def keep_applied(self, binding: Callable[[str], Awaitable[tenancy.Binding]]) -> None:
        """Give a Redis that forgot users (restarted without an ACL file) every known
        namespace's user back within CHECK_SECONDS, and re-apply them all (a changed
        binding) every REAPPLY_SECONDS; running pods retry until their user is back."""
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            full = time.monotonic() - last_full >= REAPPLY_SECONDS
            try:
                if full:
                    last_full = time.monotonic()
                    for namespace in list(self._bound):
                        self._bound[namespace] = await binding(namespace)
                known = {
                    ns: (bound, self._passwords[ns]) for ns, bound in list(self._bound.items())
                }
                restored = await restore_users(self._client, known, everything=full)
                if restored and not full:
                    log.info("Redis had forgotten runner users; restored %s", sorted(restored))
            except Exception as exc:  # the next round tries again
                log.debug("runner Redis users not checked (%s)", exc)

    async def _password(self, namespace: str) -> str:
        known = self._passwords.get(namespace)
        if known is not None:
            return known
        name = self._settings.redis_secret_name
        found = await self._kube.read_secret(namespace, name)
        if found is None:
            password = secrets.token_urlsafe(32)
            if await self._kube.create(self._secret(namespace, password)):
                log.info("%s: created the runners' Redis Secret %s", namespace, name)
                self._passwords[namespace] = password
                return password
            found = await self._kube.read_secret(namespace, name)  # made meanwhile
            if found is None:
                raise RuntimeError(f"Secret {namespace}/{name} vanished while being created")
        password = self._read_password(namespace, found)
        self._passwords[namespace] = password
        return password

    def _read_password(self, namespace: str, secret: dict[str, Any]) -> str:
        data = secret.get("data") or {}
        user = data.get(USERNAME_KEY)
        raw = data.get(PASSWORD_KEY)
        if raw is None or user is None or _decode(user) != tenancy.acl_user(namespace):
            raise ForeignSecret(
                f"Secret {namespace}/{self._settings.redis_secret_name} exists but was not made"
                " by kuberun for this namespace's runners; delete it or choose another"
                " KUBERUN_REDIS_SECRET_NAME (chart: redis.tenantUsers.secretName)"
            )
        return _decode(raw)

    def _secret(self, namespace: str, password: str) -> dict[str, Any]:
        user = tenancy.acl_user(namespace)
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": self._settings.redis_secret_name,
                "namespace": namespace,
                "labels": {naming.MANAGED_BY_LABEL: naming.MANAGED_BY},
            },
            "stringData": {
                self._settings.redis_secret_key: redisurl.with_credentials(
                    self._base_url, user, password
                ),
                USERNAME_KEY: user,
                PASSWORD_KEY: password,
            },
        }


def _decode(value: str) -> str:
    return base64.b64decode(value).decode()
