"""Start a throwaway 3-master Redis Cluster on loopback (Debian's redis-server).

Three `redis-server --cluster-enabled yes` processes on free ports, joined by
`redis-cli --cluster create` (works offline), no replicas, no persistence.
Stopped by process id; each node has its own temp dir.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster

from tests.support.redis_server import _binary

MASTERS = 3
# A node also listens on its port + 10000 (the cluster bus), so ports stay below 55536.
BUS_OFFSET = 10000


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster-bus port is free too."""
    while True:
        port = random.randint(20000, 45000)
        if _bindable(port) and _bindable(port + BUS_OFFSET):
            return port


@dataclass
class RedisClusterServer:
    """The running nodes of one cluster."""

    ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    directory: Path = Path()

    @property
    def url(self) -> str:
        """kuberun's cluster URL: any node; clients discover the others."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.ports[0])

    def nodes(self) -> list[redis.Redis]:
        return [redis.Redis(host="127.0.0.1", port=p) for p in self.ports]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _spawn(port: int, directory: Path) -> subprocess.Popen[bytes]:
    node = directory / str(port)
    node.mkdir()
    return subprocess.Popen(
        [
            _binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(node / "nodes.conf"),
            "--cluster-node-timeout",
            "5000",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(node),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(predicate_name: str, check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if callable(check) and check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"redis cluster: {predicate_name} not reached in {timeout} s")


@contextlib.contextmanager
def running_cluster() -> Iterator[RedisClusterServer]:
    """A fresh, formed 3-master cluster for the duration of the block."""
    directory = Path(tempfile.mkdtemp(prefix="kuberun-redis-cluster-"))
    server = RedisClusterServer(ports=[cluster_port() for _ in range(MASTERS)], directory=directory)
    try:
        server.processes = [_spawn(p, directory) for p in server.ports]
        for node in server.nodes():
            _wait("a node answering PING", node.ping)
        subprocess.run(
            [
                shutil.which("redis-cli") or "/usr/bin/redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in server.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

        def formed() -> bool:
            nodes: list[Any] = list(server.nodes())  # CLUSTER INFO is untyped in redis-py
            return all(b"cluster_state:ok" in n.execute_command("CLUSTER", "INFO") for n in nodes)

        _wait("cluster_state:ok on every node", formed)
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
