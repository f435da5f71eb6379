"""The archive's PostgreSQL for end-to-end tests: a server the node's pods reach (on the
service host, allowed from the cluster's bridge) and a synchronous query helper."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from e2e import harness
from tests.support.postgres_server import PostgresServer, running_postgres


@pytest.fixture(scope="module")
def postgres(service_host: str, cluster: harness.Cluster) -> Iterator[PostgresServer]:
    subnet = cluster.local.state.bridge.subnet if cluster.local is not None else None
    with running_postgres(service_host, subnet) as server:
        yield server


def query(dsn: str, sql: str, *args: Any) -> list[Any]:
    """One statement on its own connection (tests call it from plain threads)."""

    async def run() -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())
