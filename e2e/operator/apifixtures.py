"""Fixtures of the log API's end-to-end tests: the archive's PostgreSQL, a release of
the chart with the API on (`api`), and a token with `view` in the test's namespace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from e2e import harness
from e2e.operator import apisupport, support
from e2e.operator.apisupport import ApiPod, get_json, path
from e2e.operator.archivesupport import postgres
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer

ARCHIVE_SECRET = "kuberun-archive"
__all__ = ["api", "postgres", "viewer"]  # fixtures


@pytest.fixture
def api(
    cluster: harness.Cluster,
    kx_namespace: str,
    redis_server: RedisServer,
    postgres: PostgresServer,
    tmp_path: Any,
) -> Iterator[ApiPod]:
    cluster.kubectl(
        "-n", kx_namespace, "create", "secret", "generic", ARCHIVE_SECRET,
        f"--from-literal=dsn={postgres.dsn}",
    )  # fmt: skip
    operator = support.ChartOperator(
        cluster=cluster,
        namespace=kx_namespace,
        redis_url=redis_server.url,
        log_path=tmp_path / "operator.log",
        extra_values=apisupport.api_values(cluster, ARCHIVE_SECRET),
    )
    pod = ApiPod(operator)
    try:
        operator.start()
        yield pod.wait_ready()
    finally:
        print(f"--- API log ---\n{pod.logs()[-10000:]}")
        operator.stop()
        support.release_finalizers(cluster, kx_namespace)


@pytest.fixture
def viewer(cluster: harness.Cluster, kx_namespace: str, api: ApiPod) -> str:
    """A ServiceAccount token with `view` in the namespace, once RBAC aggregated our role."""
    token = apisupport.account_token(cluster, kx_namespace, "viewer", view=True)
    harness.wait_for(
        "view to include executions",
        lambda: get_json(api, path(kx_namespace), token)[0] == 200,
        timeout=30,
        interval=0.5,
    )
    return token
