"""HTTP triggers end to end: `kuberun endpoints` turns a workspace's
`@workflow(endpoint_enabled=True)` into WorkflowEndpoints, the chart's API starts
them with the caller's own token (sync waits and answers the result, async answers
202 with the name), refuses no/bad tokens (401), a user without `create
executions` (403) and other methods (405), records the caller on the Execution,
and answers a public endpoint's own token only once the namespace opted in."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e import harness
from e2e.operator import apisupport, support
from e2e.operator.apifixtures import api, postgres, viewer
from e2e.operator.apisupport import ApiPod
from kuberun.contract import endpoint
from kuberun.contract import spec as contract

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
__all__ = ["api", "postgres", "viewer"]  # fixtures

ENDPOINT_CRD = support.REPO / "crds" / "workflowendpoints.kuberun.dev.yaml"
CODE_MAP, CODE_KEY = "hooks", "hooks.py"
PUBLIC_TOKEN = "pub-7c1f9a2e4b6d8f03a5c7e9b1"

HOOKS = """
import asyncio
from kuberun import ExecutionContext, param, workflow

@workflow(name="greet", endpoint_enabled=True, allowed_methods=["POST", "GET"])
@param("who", "string", required=True, label="Who")
@param("times", "int", default_value=1)
@param("pause", "float", default_value=0)
async def greet(context: ExecutionContext, who: str, times: int = 1, pause: float = 0):
    await asyncio.sleep(pause)
    return {"greeting": " ".join([f"hello {who}"] * times), "caller": context.user_id}

@workflow(name="ingest", endpoint_enabled=True, execution_mode="async")
async def ingest(context: ExecutionContext, order: dict):
    await asyncio.sleep(1)
    return {"order": order["id"], "caller": context.user_id}

@workflow(name="webhook", endpoint_enabled=True, execution_mode="async", public_endpoint=True)
async def webhook(context: ExecutionContext, event: str = "ping"):
    return {"event": event, "caller": context.user_id}
"""


@pytest.fixture(scope="module")
def endpoint_crd(cluster: harness.Cluster) -> None:
    cluster.kubectl("apply", "-f", str(ENDPOINT_CRD))
    cluster.kubectl(
        "wait", "--for=condition=Established",
        f"crd/{endpoint.PLURAL}.{contract.GROUP}", "--timeout=60s",
    )  # fmt: skip


@pytest.fixture
def endpoints(
    cluster: harness.Cluster, kx_namespace: str, endpoint_crd: None, tmp_path: Path
) -> Iterator[dict[str, dict[str, Any]]]:
    """The workspace in a ConfigMap, and its endpoints as `kuberun endpoints` prints them."""
    code = tmp_path / CODE_KEY
    code.write_text(HOOKS)
    cluster.kubectl(
        "-n", kx_namespace, "create", "configmap", CODE_MAP, f"--from-file={CODE_KEY}={code}"
    )
    printed = subprocess.run(
        [sys.executable, "-m", "kuberun.cli", "endpoints", str(code),
         "--config-map", f"{CODE_MAP}:{CODE_KEY}", "-n", kx_namespace,
         "--sync-timeout-seconds", "120"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    manifests = cluster.kubectl("apply", "-f", "-", "-o", "json", input=printed.stdout)
    applied = json.loads(manifests.stdout)
    items = applied.get("items", [applied])
    yield {item["metadata"]["name"]: item for item in items}


def create_endpoint(cluster: harness.Cluster, namespace: str, name: str, **spec: Any) -> None:
    cluster.custom.create_namespaced_custom_object(
        contract.GROUP, contract.VERSION, namespace, endpoint.PLURAL,
        {"apiVersion": contract.API_VERSION, "kind": endpoint.KIND,
         "metadata": {"name": name}, "spec": spec},
    )  # fmt: skip


def trigger(
    api: ApiPod,
    namespace: str,
    name: str,
    token: str | None,
    method: str = "POST",
    params: dict[str, Any] | None = None,
    query: str = "",
) -> tuple[int, dict[str, str], Any]:
    body = json.dumps(params).encode() if params is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    url = f"/api/v1/namespaces/{namespace}/endpoints/{name}{query}"
    status, got, raw = apisupport.request(api, method, url, token, headers, timeout=150, body=body)
    return status, got, json.loads(raw) if raw else None


def editor_token(cluster: harness.Cluster, api: ApiPod, namespace: str) -> str:
    """A ServiceAccount with `edit` (create executions), once RBAC aggregated our role."""
    token = apisupport.account_token(cluster, namespace, "caller", view=False)
    cluster.kubectl(
        "-n", namespace, "create", "rolebinding", "caller-edit", "--clusterrole=edit",
        f"--serviceaccount={namespace}:caller",
    )  # fmt: skip
    return token


def created_by(cluster: harness.Cluster, namespace: str, name: str) -> str:
    annotations = support.get(cluster, namespace, name)["metadata"].get("annotations") or {}
    return str(annotations.get("kuberun.dev/created-by", ""))


def test_sync_and_async_triggers_with_the_callers_token(
    cluster: harness.Cluster,
    kx_namespace: str,
    api: ApiPod,
    viewer: str,
    endpoints: dict[str, dict[str, Any]],
) -> None:
    ns = kx_namespace
    assert set(endpoints) == {"greet", "ingest", "webhook"}
    assert endpoints["greet"]["spec"]["executionMode"] == "sync"
    caller = editor_token(cluster, api, ns)
    caller_name = f"system:serviceaccount:{ns}:caller"

    # async: 202 at once with the name and its URLs; the Execution ends SUCCESS for the caller
    answer = harness.wait_for(
        "the caller's edit role to allow creating",
        lambda: (
            got
            if (got := trigger(api, ns, "ingest", caller, params={"order": {"id": 7}}))[0] != 403
            else None
        ),
        timeout=30,
        interval=0.5,
    )
    status, headers, body = answer
    assert status == 202, body
    name = body["name"]
    assert name.startswith("ingest-") and headers["location"] == body["execution"]
    assert body["result"] == f"/api/v1/namespaces/{ns}/executions/{name}/result"
    final = support.wait_phase(cluster, ns, name, timeout=120)
    assert final["phase"] == "SUCCESS", final
    assert final["result"] == {"order": 7, "caller": caller_name}
    assert created_by(cluster, ns, name) == caller_name
    labels = support.get(cluster, ns, name)["metadata"]["labels"]
    assert labels[endpoint.ENDPOINT_LABEL] == "ingest"
    status, _, polled = apisupport.request(api, "GET", body["result"], caller)
    assert status == 200 and json.loads(polled)["result"]["order"] == 7

    # sync: waits, answers the result API's answer with 200
    status, headers, body = trigger(api, ns, "greet", caller, params={"who": "ada", "times": 2})
    assert status == 200, body
    assert body["status"] == "SUCCESS"
    assert body["result"] == {"greeting": "hello ada hello ada", "caller": caller_name}
    assert headers["x-kuberun-phase"] == "SUCCESS"
    # GET takes the query string; the runner's @param coerces "3" to 3
    status, _, body = trigger(api, ns, "greet", caller, method="GET", query="?who=bob&times=3")
    assert status == 200 and body["result"]["greeting"] == "hello bob hello bob hello bob", body
    # parameter checks stay the runner's: FAILED/InvalidParameters naming the field, 422
    status, headers, body = trigger(api, ns, "greet", caller, params={"times": 1})
    assert status == 422, body
    assert body["status"] == "FAILED" and body["reason"] == "InvalidParameters"
    assert "who" in json.dumps(body["error"])

    # a sync wait shorter than the run: 202 with a Location to poll (the run is made to last
    # 5 s: a warm node ends a trivial one within the 1 s)
    create_endpoint(
        cluster, ns, "greet-quick", syncTimeoutSeconds=1,
        executionTemplate=endpoints["greet"]["spec"]["executionTemplate"],
    )  # fmt: skip
    status, headers, body = trigger(
        api, ns, "greet-quick", caller, params={"who": "eve", "pause": 5}
    )
    assert status == 202, body
    assert headers["location"].endswith(f"/executions/{body['name']}")
    assert support.wait_phase(cluster, ns, body["name"], timeout=120)["phase"] == "SUCCESS"

    # refusals, each in the API's error shape, none creating anything
    before = len(cluster.custom.list_namespaced_custom_object(
        contract.GROUP, contract.VERSION, ns, contract.PLURAL)["items"])  # fmt: skip
    status, headers, body = trigger(api, ns, "greet", None, params={"who": "x"})
    assert status == 401 and body["error"] == "unauthenticated"
    assert "Bearer" in headers["www-authenticate"]
    status, _, body = trigger(api, ns, "greet", "not-a-token", params={"who": "x"})
    assert status == 401 and body["error"] == "unauthenticated"
    status, _, body = trigger(api, ns, "greet", viewer, params={"who": "x"})
    assert status == 403 and body["error"] == "forbidden"
    assert "create executions" in body["message"]
    status, headers, body = trigger(api, ns, "greet", caller, method="DELETE")
    assert status == 405 and headers["allow"] == "POST, GET", body
    status, _, body = trigger(api, ns, "ingest", caller, method="GET")
    assert status == 405 and body["error"] == "method-not-allowed"
    status, _, body = trigger(api, ns, "nothing-here", caller, params={})
    assert status == 404 and body["error"] == "not-found"
    url = f"/api/v1/namespaces/{ns}/endpoints/greet"
    status, _, raw = apisupport.request(
        api, "POST", url, caller, {"Content-Type": "application/json"}, body=b"{not json"
    )
    assert status == 400 and json.loads(raw)["error"] == "bad-request"
    big = json.dumps({"who": "x" * (300 * 1024)}).encode()
    status, _, raw = apisupport.request(
        api, "POST", url, caller, {"Content-Type": "application/json"}, body=big
    )
    assert status == 413
    after = len(cluster.custom.list_namespaced_custom_object(
        contract.GROUP, contract.VERSION, ns, contract.PLURAL)["items"])  # fmt: skip
    assert after == before

    # a bad WorkflowEndpoint is refused at apply with the field named
    with pytest.raises(ApiException) as refused:
        create_endpoint(
            cluster, ns, "bad", allowedMethods=["TRACE"],
            executionTemplate=endpoints["greet"]["spec"]["executionTemplate"],
        )  # fmt: skip
    assert refused.value.status == 422 and "allowedMethods" in str(refused.value.body)


def test_a_public_endpoint_needs_the_namespace_opt_in_and_its_own_token(
    cluster: harness.Cluster,
    kx_namespace: str,
    api: ApiPod,
    endpoints: dict[str, dict[str, Any]],
) -> None:
    ns = kx_namespace
    assert endpoints["webhook"]["spec"]["public"] is True
    cluster.kubectl(
        "-n", ns, "create", "secret", "generic", endpoint.PUBLIC_TOKEN_SECRET,
        f"--from-literal=webhook={PUBLIC_TOKEN}",
    )  # fmt: skip

    # without the namespace's opt-in: 403, naming the label, nothing created
    status, _, body = trigger(api, ns, "webhook", PUBLIC_TOKEN, params={"event": "push"})
    assert status == 403, body
    assert endpoint.PUBLIC_NAMESPACE_LABEL in body["message"]
    # another token is taken for a Kubernetes token: 401
    status, _, body = trigger(api, ns, "webhook", PUBLIC_TOKEN[:-1] + "x", params={})
    assert status == 401, body

    cluster.kubectl("label", "namespace", ns, f"{endpoint.PUBLIC_NAMESPACE_LABEL}=true")
    status, _, body = trigger(api, ns, "webhook", PUBLIC_TOKEN, params={"event": "push"})
    assert status == 202, body
    final = support.wait_phase(cluster, ns, body["name"], timeout=120)
    assert final["phase"] == "SUCCESS", final
    assert final["result"] == {"event": "push", "caller": endpoint.PUBLIC_CALLER}
    assert created_by(cluster, ns, body["name"]) == endpoint.PUBLIC_CALLER
    # the public token opens its own endpoint only, never a private one
    status, _, body = trigger(api, ns, "ingest", PUBLIC_TOKEN, params={"order": {"id": 1}})
    assert status == 401, body
