"""The runner's Redis client: one server or a Redis Cluster, as the URL says (`redisurl`).

A client that fails fast: the sender retries, so a long socket wait only
delays that. A cluster client is typed as `redis.Redis`: it offers every
command the runner sends (GET, SET, EXISTS, XADD, EXPIRE, the lock's scripts),
each routed to the node of its key's slot; the stream transport, which writes
to a node's connection directly, asks it for that node (`node_pool`).
"""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.cluster import RedisCluster

from kuberun.contract import redisurl

CONNECT_TIMEOUT_SECONDS = 1.0
SOCKET_TIMEOUT_SECONDS = 5.0


def redis_client(url: str) -> redis.Redis:
    """A client for `url` (`redis://`, `rediss://`, or their `+cluster` forms)."""
    parsed = redisurl.parse(url)
    if parsed.cluster:
        cluster = RedisCluster.from_url(  # type: ignore[no-untyped-call]
            parsed.url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
        )
        return cast(redis.Redis, cluster)
    return redis.Redis.from_url(
        parsed.url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=0,
    )


def node_pool(client: redis.Redis, key: str) -> Any:
    """The connection pool that serves `key`: the client's own, or its cluster node's."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key)
        return client.get_redis_connection(node).connection_pool
    return client.connection_pool


def refresh_slots(client: redis.Redis) -> None:
    """After a MOVED or a dead node: learn the cluster's slots again (no-op for one server)."""
    if isinstance(client, RedisCluster):
        client.nodes_manager.initialize()
