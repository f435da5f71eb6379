"""Start a throwaway PostgreSQL server on a free loopback port.

The archive is tested against the real server from Debian's `postgresql`
package (installed by `.ci/run`). PostgreSQL refuses to run as root, so when
the tests run as root (CI does) the server runs as the `postgres` user that
the package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.redis_server import free_port


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL cluster with a `kuberun` database."""

    port: int
    directory: Path
    #: The address clients use: loopback, or (e2e) the cluster bridge's, which pods reach.
    host: str = "127.0.0.1"

    @property
    def dsn(self) -> str:
        return f"postgresql://kuberun@{self.host}:{self.port}/kuberun"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL not found: run `bash .ci/run` or `make setup` (apt package)")
    return Path(found[-1]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str]) -> None:
    subprocess.run(_as_server_user(argv), check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def running_postgres(
    host: str = "127.0.0.1", subnet: str | None = None
) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL server (trust auth) for the duration of the block.

    It listens on loopback and on ``host``; clients from ``subnet`` (a bridge the
    tests made, whose pods must reach the server) are trusted too.
    """
    bindir = _bindir()
    directory = Path(tempfile.mkdtemp(prefix="kuberun-pg-"))
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    port = free_port()
    _run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
    if subnet is not None:
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {subnet} trust\n")
    listen = "127.0.0.1" if host == "127.0.0.1" else f"127.0.0.1,{host}"
    server = subprocess.Popen(
        _as_server_user(
            [
                str(bindir / "postgres"),
                "-D", str(data),
                "-p", str(port),
                "-h", listen,
                "-k", str(directory),
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_ready(bindir, port, server)
        psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        _run([*psql, "-c", "CREATE ROLE kuberun LOGIN"])
        _run([*psql, "-c", "CREATE DATABASE kuberun OWNER kuberun"])
        yield PostgresServer(port=port, directory=directory, host=host)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_ready(bindir: Path, port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"postgres exited with {server.returncode}")
        probe = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("postgres did not become ready in time")
