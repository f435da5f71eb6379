"""What every handler of one operator process shares: settings, the adapters, the state.

Built once by `handlers.startup` and kept in kopf's memo; passed down to the
per-Execution loop (`following`, `observing`, `acting`), admission and the
schedules. The adapters are typed by their Protocols (`protocols`), so tests
put in-memory fakes where the process puts `kubeio.Kube` and `redisio.RedisIO`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from kuberun_operator import archiving, tenancy
from kuberun_operator.backlog import Backlog
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.metrics import Metrics
from kuberun_operator.protocols import KubeAPI, StreamStore
from kuberun_operator.redisusers import RedisUsers
from kuberun_operator.settings import Settings

# A namespace's organization binding is read again after this long: a relabelled
# namespace applies to new Executions within seconds, at one GET per namespace.
BINDING_TTL_SECONDS = 10.0


@dataclass
class OperatorContext:
    """Everything handlers share: built at startup, kept in kopf's memo."""

    settings: Settings
    kube: KubeAPI  # kubeio.Kube; an in-memory fake in tests
    redis: StreamStore | None  # redisio.RedisIO; None when no Redis is configured
    metrics: Metrics
    state: ClusterState
    archive: archiving.Archive | None = None
    backlog: Backlog | None = None  # work left after an Execution ended (see `backlog`)
    ready: bool = False
    accounts_ready: set[str] = field(default_factory=set)  # namespaces with the runner account
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    users: RedisUsers | None = None  # per-namespace Redis ACL users (Settings.redis_tenant_users)
    bindings: dict[str, tuple[float, tenancy.Binding]] = field(default_factory=dict)

    async def binding(self, namespace: str) -> tenancy.Binding:
        """The namespace's organization binding, read at most every BINDING_TTL_SECONDS."""
        now = time.monotonic()
        known = self.bindings.get(namespace)
        if known is not None and now - known[0] < BINDING_TTL_SECONDS:
            return known[1]
        body = await self.kube.read_namespace(namespace)
        bound = tenancy.binding(
            body or {"metadata": {"name": namespace}}, self.settings.organizations
        )
        self.bindings[namespace] = (now, bound)
        return bound
