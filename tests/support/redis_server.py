"""Start a throwaway `redis-server` on a free loopback port.

Integration and e2e tests use a real Redis (installed from Debian's package by
`.ci/run`), never a fake. Each server gets its own temp dir, no persistence
unless asked for (`appendonly`: AOF with `appendfsync always`, so a restart
keeps every acknowledged write), and is stopped by process id.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A running redis-server process."""

    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    #: The address clients use: loopback, or (e2e) the cluster bridge's, which pods reach.
    host: str = "127.0.0.1"
    #: AOF persistence: a restart keeps the data (the production setting for kuberun).
    appendonly: bool = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port)

    def stop(self) -> None:
        """Stop the server (used by tests that take Redis away mid-run)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def start(self) -> None:
        """(Re)start the server on the same port, waiting until it answers PING."""
        self.process = _spawn(self.port, self.directory, self.host, self.appendonly)
        _wait_ready(self.port, self.process)


def _binary() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise RuntimeError(
            "redis-server not found: run `bash .ci/run` or `make setup` (apt package)"
        )
    return found


def _spawn(
    port: int, directory: Path, host: str, appendonly: bool = False
) -> subprocess.Popen[bytes]:
    # Another address than loopback is a bridge the tests made: Redis's protected
    # mode would refuse its clients, and nothing outside the machine can reach it.
    binds = ["127.0.0.1"] if host == "127.0.0.1" else ["127.0.0.1", host]
    return subprocess.Popen(
        [
            _binary(),
            "--port",
            str(port),
            "--bind",
            *binds,
            "--protected-mode",
            "yes" if host == "127.0.0.1" else "no",
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            "always",
            "--dir",
            str(directory),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        with contextlib.suppress(redis.RedisError):
            if client.ping():
                client.close()
                return
        time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING in time")


@contextlib.contextmanager
def running_redis(host: str = "127.0.0.1", appendonly: bool = False) -> Iterator[RedisServer]:
    """A fresh redis-server for the duration of the block, on loopback and ``host``."""
    directory = Path(tempfile.mkdtemp(prefix="kuberun-redis-"))
    port = free_port()
    server = RedisServer(
        port=port,
        process=_spawn(port, directory, host, appendonly),
        directory=directory,
        host=host,
        appendonly=appendonly,
    )
    try:
        _wait_ready(port, server.process)
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
