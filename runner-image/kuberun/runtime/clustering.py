"""A Redis Cluster for the runner: redis-py's cluster client behind the runner's interfaces.

The runner speaks the Redis protocol itself to one server (`resp`), which is
its fast start and its fast log path. A Redis Cluster needs what that client
does not do — find the node of a key's slot, follow MOVED, learn the slot map
again after a node died — so a `redis+cluster://` or `rediss+cluster://` URL
goes through redis-py (`connecting`), imported only then:

- `ClusterClient` offers what the runner asks of `resp.Client` (GET, SET, close),
  with redis-py's errors raised as `resp.ConnectionLost`, so the cancel poller and
  the result write treat both alike;
- `ClusterStreamTransport` sends a batch's XADDs (packed as for one server) to the
  stream's node in one round trip, and reads a rejected id back to decide whether
  the record is the runner's own (see `transports`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import redis

from kuberun.contract import keys
from kuberun.runtime import connecting, resp
from kuberun.runtime.records import Entry
from kuberun.runtime.transports import ALREADY_DELIVERED, TransportError, XaddPacker, same_fields


class ClusterClient:
    """GET and SET on a Redis Cluster, failing as `resp.Client` fails."""

    def __init__(self, url: str, timeout: float | None = None) -> None:
        self.url = url
        self.redis = connecting.redis_client(url, timeout)

    def get(self, key: str) -> bytes | None:
        try:
            value: Any = self.redis.get(key)  # typed for both redis-py clients, sync and async
        except redis.RedisError as exc:
            raise resp.ConnectionLost(f"{type(exc).__name__}: {exc}") from exc
        return value if value is None else bytes(value)

    def set(self, key: str, value: bytes | str, *, ex: int | None = None) -> None:
        try:
            self.redis.set(key, value, ex=ex)
        except redis.RedisError as exc:
            raise resp.ConnectionLost(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.close()


class ClusterStreamTransport:
    """XADD with explicit ids to the stream's node, pipelined, plus a TTL on the stream."""

    def __init__(self, client: ClusterClient, namespace: str, uid: str) -> None:
        self._client = client.redis
        self._key = keys.logs_stream(namespace, uid)
        self._packer = XaddPacker(self._key)
        self._expire = resp.pack("EXPIRE", self._key, keys.DEFAULT_TTL_SECONDS)

    def send(self, batch: Sequence[Entry]) -> int | None:
        """One round trip: every XADD of the batch and an EXPIRE, written at once.

        Returns how many records were rejected for an id that is not theirs.
        """
        payload = self._packer.batch(batch)[0] + self._expire
        try:
            # The stream's node (every key of an execution shares a slot).
            pool = connecting.node_pool(self._client, self._key)
            connection: Any = pool.get_connection()  # redis-py leaves Connection untyped
        except redis.RedisError as exc:
            self._refresh()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        problem: str | None = None
        rejected: list[Entry] = []
        try:
            connection.send_packed_command([payload])
            for index in range(len(batch) + 1):  # read every reply, errors included
                try:
                    connection.read_response()
                except redis.ResponseError as exc:
                    if ALREADY_DELIVERED in str(exc) and index < len(batch):
                        rejected.append(batch[index])
                    elif problem is None:
                        problem = f"{type(exc).__name__}: {exc}"
        except redis.RedisError as exc:
            connection.disconnect()
            self._refresh()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            connection.disconnect()  # the replies left unread would poison the connection
            raise
        finally:
            pool.release(connection)
        if problem is not None:
            if problem.startswith(("MovedError", "AskError", "ResponseError: MOVED")):
                self._refresh()  # the slot moved to another node: ask the cluster again
            raise TransportError(problem)
        return self._not_ours(rejected) if rejected else None

    def _not_ours(self, rejected: Sequence[Entry]) -> int:
        """How many rejected records are not what the stream holds at their ids."""
        lost = 0
        try:
            for entry in rejected:
                entry_id = entry.stream_id()
                found: Any = self._client.xrange(self._key, entry_id, entry_id, count=1)
                if not found or not same_fields(found[0][1], entry.fields()):
                    lost += 1
        except redis.RedisError as exc:
            # Unknown yet: send the batch again (the XADDs are rejected again, harmlessly).
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return lost

    def _refresh(self) -> None:
        with contextlib.suppress(redis.RedisError):  # the next send tries again
            connecting.refresh_slots(self._client)

    def close(self) -> None:
        self._client.close()
