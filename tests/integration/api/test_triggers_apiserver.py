"""HTTP triggers against a real kube-apiserver (no kubelet: no pod runs), with the
chart's RBAC: the API runs in-process as the chart's API ServiceAccount (its token),
so every read and create it makes is checked against the least privilege the chart
grants. A sync call is woken by the namespace's watch when the Execution's status
turns SUCCESS (patched here, standing in for the operator)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from kubernetes import client, config

from kuberun.contract import endpoint
from kuberun_operator.api import access, app
from kuberun_operator.api.kube import Kube, PhaseWatch
from tests.integration.helm import test_tenancy_policies as policies
from tests.integration.helm.test_install import CHART, Cluster, wait_for

NAMESPACE = "kuberun-system"
TENANT = "team-a"
API_ACCOUNT = "kx-kuberun-api"
PUBLIC_TOKEN = "integration-public-token-42"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    from e2e.cluster import binaries, controlplane

    state_dir = Path(tempfile.mkdtemp(prefix="kuberun-triggers-"))
    try:
        state = controlplane.up(state_dir, kubelet=False)
        c = Cluster(state.kubeconfig, binaries.bin_dir())
        c.kubectl("create", "namespace", TENANT)
        c.run(
            "helm", "install", "kx", str(CHART), "-n", NAMESPACE, "--create-namespace",
            "--set", f"watchNamespaces={{{TENANT}}}",
            "--set", "redis.url=redis://redis.invalid:6379/0",
            "--set", "api.enabled=true",
        )  # fmt: skip
        for account, role in (("alice", "edit"), ("viewer", "view")):
            c.kubectl("-n", TENANT, "create", "serviceaccount", account)
            c.kubectl(
                "-n", TENANT, "create", "rolebinding", account, f"--clusterrole={role}",
                f"--serviceaccount={TENANT}:{account}",
            )  # fmt: skip
        c.kubectl(
            "-n", TENANT, "create", "secret", "generic", endpoint.PUBLIC_TOKEN_SECRET,
            f"--from-literal=hook={PUBLIC_TOKEN}",
        )  # fmt: skip
        template = {"spec": {"source": {"inline": "result = 1"}, "parameters": {"a": 0}}}
        for name, spec in (
            ("later", {"executionMode": "async", "executionTemplate": template}),
            ("now", {"syncTimeoutSeconds": 60, "executionTemplate": template}),
            ("hook", {"executionMode": "async", "public": True, "executionTemplate": template}),
        ):
            body = {
                "apiVersion": "kuberun.dev/v1alpha1",
                "kind": endpoint.KIND,
                "metadata": {"name": name, "namespace": TENANT},
                "spec": spec,
            }
            c.kubectl("apply", "-f", "-", stdin=json.dumps(body))
        _wait_for_the_policies(c)
        yield c
    finally:
        controlplane.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def _wait_for_the_policies(cluster: Cluster) -> None:
    """Admission policies take effect a while after the install (the API server loads
    them asynchronously): until then no creator is stamped and no caller kept."""
    tries = iter(range(1000))

    def kept() -> bool:
        name = f"policy-probe-{next(tries)}"
        meta = {"annotations": {policies.CREATED_BY: "ada@example.com"}}
        done = policies.apply(cluster, name, user=policies.API_ACCOUNT, meta=meta)
        return done.returncode == 0 and policies.created_by(cluster, name) == "ada@example.com"

    wait_for("the tenancy policies in effect", kept, timeout=60)

    def alice_may_create() -> bool:
        answer = subprocess.run(
            [str(cluster.bins / "kubectl"), "auth", "can-i", "create", "executions.kuberun.dev",
             "-n", TENANT, f"--as=system:serviceaccount:{TENANT}:alice"],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        )  # fmt: skip
        return answer.stdout.strip() == "yes"

    # the chart's edit role reaches alice through RBAC aggregation, also asynchronous
    wait_for("edit to include executions", alice_may_create, timeout=60)


def api_client(cluster: Cluster, directory: Path) -> client.ApiClient:
    """A client authenticated as the chart's API ServiceAccount."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    ca = server.get("certificate-authority-data")
    if ca is None:
        ca = base64.b64encode(Path(server["certificate-authority"]).read_bytes()).decode()
    token = cluster.kubectl("create", "token", API_ACCOUNT, "-n", NAMESPACE).strip()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server["server"],
                                                "certificate-authority-data": ca}}],
        "users": [{"name": "api", "user": {"token": token}}],
        "contexts": [{"name": "api", "context": {"cluster": "c", "user": "api"}}],
        "current-context": "api",
    }  # fmt: skip
    path = directory / "api.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    configuration = client.Configuration()
    loader: Any = config
    loader.load_kube_config(config_file=str(path), client_configuration=configuration)
    return client.ApiClient(configuration)


Served = TestClient[Any, Any]


@pytest.fixture
async def served(cluster: Cluster, tmp_path: Path) -> AsyncIterator[Served]:
    kube = Kube(api_client(cluster, tmp_path), 4)
    services = app.Services(
        gate=access.Gate(kube.token_review, kube.access_review),
        kube=kube,
        phases=PhaseWatch(kube),
        redis=None,
        archive=None,
    )
    test_client = TestClient(TestServer(app.build(services)))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()
        services.phases.close()
        kube.close()


def token(cluster: Cluster, account: str) -> dict[str, str]:
    made = cluster.kubectl("-n", TENANT, "create", "token", account).strip()
    return {"Authorization": f"Bearer {made}"}


def url(name: str) -> str:
    return f"/api/v1/namespaces/{TENANT}/endpoints/{name}"


def execution(cluster: Cluster, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get("execution", name, "-n", TENANT)
    return found


async def test_async_records_the_caller_and_refusals_create_nothing(
    cluster: Cluster, served: Served
) -> None:
    alice = token(cluster, "alice")
    # RBAC aggregation of the chart's edit role takes a moment after the install
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        response = await served.post(url("later"), json={"a": 2}, headers=alice)
        if response.status != 403 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert response.status == 202, await response.text()
    name = (await response.json())["name"]
    made = execution(cluster, name)
    caller = f"system:serviceaccount:{TENANT}:alice"
    assert made["metadata"]["annotations"]["kuberun.dev/created-by"] == caller
    assert made["metadata"]["labels"][endpoint.ENDPOINT_LABEL] == "later"
    assert made["spec"]["parameters"] == {"a": 2}

    before = len(cluster.get("executions", "-n", TENANT)["items"])
    for headers, method, status in (
        ({}, "POST", 401),
        (token(cluster, "viewer"), "POST", 403),
        (alice, "GET", 405),
    ):
        response = await served.request(method, url("later"), headers=headers)
        assert response.status == status, await response.text()
    response = await served.post(url("missing"), json={}, headers=alice)
    assert response.status == 404
    assert len(cluster.get("executions", "-n", TENANT)["items"]) == before


async def test_sync_is_woken_by_the_watch(cluster: Cluster, served: Served) -> None:
    alice = token(cluster, "alice")
    call = asyncio.create_task(served.post(url("now"), json={"a": 5}, headers=alice))

    def started() -> str | None:
        listed = cluster.get("executions", "-n", TENANT, "-l", f"{endpoint.ENDPOINT_LABEL}=now")
        items = listed["items"]
        return str(items[0]["metadata"]["name"]) if items else None

    name = await asyncio.to_thread(wait_for, "the sync call's Execution", started, 30)
    assert not call.done()  # it waits for the outcome
    status = {"phase": "SUCCESS", "reason": "Completed", "attempt": 1, "result": {"x": 1}}
    await asyncio.to_thread(
        cluster.kubectl,
        "-n", TENANT, "patch", "execution", name, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    response = await asyncio.wait_for(call, 20)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["status"] == "SUCCESS" and body["result"] == {"x": 1}
    assert response.headers["X-Kuberun-Execution"] == name


async def test_a_public_endpoint_reads_its_secret_and_the_namespace_label(
    cluster: Cluster, served: Served
) -> None:
    public = {"Authorization": f"Bearer {PUBLIC_TOKEN}"}
    response = await served.post(url("hook"), json={}, headers=public)
    assert response.status == 403, await response.text()
    assert endpoint.PUBLIC_NAMESPACE_LABEL in (await response.json())["message"]
    cluster.kubectl("label", "namespace", TENANT, f"{endpoint.PUBLIC_NAMESPACE_LABEL}=true")
    response = await served.post(url("hook"), json={"a": 9}, headers=public)
    assert response.status == 202, await response.text()
    made = execution(cluster, (await response.json())["name"])
    assert made["metadata"]["annotations"]["kuberun.dev/created-by"] == endpoint.PUBLIC_CALLER
