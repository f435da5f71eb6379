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
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from kuberun.contract import redisurl
from kuberun_operator import naming, tenancy
from kuberun_operator.kubeio import Kube
from kuberun_operator.settings import Settings

log = logging.getLogger(__name__)

# How often known users are applied again (after a Redis restart, running pods wait
# at most this long for theirs; one round trip per namespace each time).
REAPPLY_SECONDS = 15.0
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


class RedisUsers:
    """Applies runner ACL users and their Secrets; one per operator."""

    def __init__(self, client: Any, kube: Kube, settings: Settings, base_url: str) -> None:
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
        """Re-apply every known namespace's user now and then: a Redis that restarted
        without an ACL file has forgotten them, and running pods need them back."""
        while True:
            await asyncio.sleep(REAPPLY_SECONDS)
            for namespace in list(self._bound):
                try:
                    bound = await binding(namespace)
                    await apply_user(self._client, bound, self._passwords[namespace])
                    self._bound[namespace] = bound
                except Exception as exc:  # the next round tries again
                    log.debug("%s: Redis ACL user not re-applied (%s)", namespace, exc)

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
