"""The runner's Redis client: one server or a Redis Cluster, as the URL says (`redisurl`).

A client that fails fast: the sender retries, so a long socket wait only
delays that. A cluster client is typed as `redis.Redis`: it offers every
command the runner sends (GET, SET, EXISTS, XADD, EXPIRE, the lock's scripts),
each routed to the node of its key's slot; the stream transport, which writes
to a node's connection directly, asks it for that node (`node_pool`).

redis-py's cluster client asks the cluster for its slots when it is made, and
fails when no node answers. `DeferredCluster` makes it on first use instead, and
again after such a failure (raised as a `redis.ConnectionError`), so a cluster
that is away when the runner starts is what a single server away is: records
wait in the buffer and the code runs.
"""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from kuberun.contract import redisurl

CONNECT_TIMEOUT_SECONDS = 1.0
SOCKET_TIMEOUT_SECONDS = 5.0


class DeferredCluster:
    """A `RedisCluster` made on first use, and made again until that succeeds."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: RedisCluster | None = None

    def resolve(self) -> RedisCluster:
        if self._client is None:
            try:
                self._client = RedisCluster.from_url(  # type: ignore[no-untyped-call]
                    self._url,
                    socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    socket_timeout=SOCKET_TIMEOUT_SECONDS,
                )
            except RedisClusterException as exc:
                raise redis.ConnectionError(f"Redis Cluster unreachable: {exc}") from exc
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resolve(), name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def redis_client(url: str, timeout: float | None = None) -> redis.Redis:
    """A client for `url` (`redis://`, `rediss://`, or their `+cluster` forms); `timeout`
    overrides the socket timeout of a single server's client."""
    parsed = redisurl.parse(url)
    if parsed.cluster:
        return cast(redis.Redis, DeferredCluster(parsed.url))
    return redis.Redis.from_url(
        parsed.url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS if timeout is None else timeout,
        health_check_interval=0,
    )


def node_pool(client: redis.Redis, key: str) -> Any:
    """The connection pool that serves `key`: the client's own, or its cluster node's."""
    if isinstance(client, DeferredCluster):
        cluster: Any = client.resolve()  # redis-py's cluster API is untyped
        node = cluster.get_node_from_key(key)
        return cluster.get_redis_connection(node).connection_pool
    return client.connection_pool


def refresh_slots(client: redis.Redis) -> None:
    """After a MOVED or a dead node: learn the cluster's slots again (no-op for one server)."""
    if isinstance(client, DeferredCluster):
        try:
            cluster: Any = client.resolve()
            cluster.nodes_manager.initialize()
        except RedisClusterException as exc:
            raise redis.ConnectionError(f"Redis Cluster unreachable: {exc}") from exc
