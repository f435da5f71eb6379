"""Fixtures of the operator's end-to-end tests: CRD, Redis, and an operator per test.

Built on `e2e/conftest.py` (`cluster`, `namespace`). Each test gets its own
operator, installed by the chart into its namespace and restricted to it;
`operator_env` (a dict a test can override by parametrizing or by a
module-level fixture) tunes its settings. Redis (and PostgreSQL where a test
needs it) run on this machine at `service_host`, which pods reach.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Generator, Iterator
from typing import Any

import pytest
import redis

from e2e import harness
from e2e.operator import support
from tests.support.redis_server import RedisServer, running_redis


@pytest.fixture(scope="session")
def crd(cluster: harness.Cluster) -> None:
    support.apply_crd(cluster)


@pytest.fixture(scope="session")
def service_host(cluster: harness.Cluster) -> str:
    """The address where pods reach the servers the tests start on this machine.

    On the local node, the bridge's; elsewhere (kind, a cloud cluster) set
    ``KUBERUN_E2E_SERVICE_HOST`` to an address of this machine that its pods reach.
    """
    if os.environ.get("KUBERUN_E2E_SERVICE_HOST"):
        return os.environ["KUBERUN_E2E_SERVICE_HOST"]
    if cluster.local is not None:
        return cluster.local.state.node_ip
    return "127.0.0.1"


@pytest.fixture(scope="session")
def redis_server(service_host: str) -> Iterator[RedisServer]:
    with running_redis(service_host) as server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    if redis_server.process.poll() is not None:
        redis_server.start()
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture
def operator_env() -> dict[str, str]:
    """Extra KUBERUN_* settings for the test's operator (override in a test module)."""
    return {}


@pytest.fixture
def kx_namespace(
    cluster: harness.Cluster, namespace: str, crd: None, redis_server: RedisServer
) -> str:
    """The test namespace with the Redis Secret and the runner ServiceAccount."""
    if redis_server.process.poll() is not None:
        redis_server.start()
    support.prepare_namespace(cluster, namespace, redis_server.url)
    return namespace


@pytest.fixture
def operator(
    cluster: harness.Cluster,
    kx_namespace: str,
    redis_server: RedisServer,
    operator_env: dict[str, str],
    tmp_path: pathlib.Path,
    request: pytest.FixtureRequest,
) -> Iterator[support.Operator]:
    op = support.operator_for(
        cluster, kx_namespace, redis_server.url, tmp_path / "operator.log", operator_env
    )
    try:
        yield op.start()
    finally:
        op.stop()
    support.release_finalizers(cluster, kx_namespace)
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- operator log ({op.log_path}) ---\n{op.logs()[-20000:]}")
        print(support.runner_logs(cluster, kx_namespace))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
