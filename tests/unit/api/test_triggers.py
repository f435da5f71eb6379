"""The trigger route in-process: the app's real routing, errors and decisions, with an
in-memory Kubernetes (endpoints, a namespace, a token Secret, created Executions) and
the watch fed by the test."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kuberun.contract import endpoint
from kuberun_operator.api import access, app
from kuberun_operator.api.kube import PhaseWatch

NS = "team-a"
ADA, BOB = "token-of-ada", "token-of-bob"
PUBLIC_TOKEN = "public-token-0123456789"


@dataclass
class FakeKube:
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: Any = field(default_factory=itertools.count)
    made: asyncio.Event = field(default_factory=asyncio.Event)

    async def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.endpoints.get(name)

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        return self.labels

    async def endpoint_token(self, namespace: str, name: str) -> str | None:
        return self.tokens.get(name)

    async def create_execution(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        n = next(self.ids)
        name = f"{body['metadata']['generateName']}{n:05d}"
        made = {**body, "metadata": {**body["metadata"], "name": name, "uid": f"uid-{n}"}}
        self.created.append(made)
        self.executions[name] = made
        self.made.set()
        return made

    async def get_execution(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.executions.get(name)

    async def token_review(self, body: dict[str, Any]) -> Mapping[str, Any]:
        users = {ADA: "ada", BOB: "bob"}
        user = users.get(body["spec"]["token"])
        return {"authenticated": True, "user": {"username": user}} if user else {}

    async def access_review(self, body: dict[str, Any]) -> Mapping[str, Any]:
        wanted = body["spec"]["resourceAttributes"]
        ok = body["spec"]["user"] == "ada" and wanted["verb"] == "create"
        return {"allowed": ok}


def endpoint_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": NS, "name": name},
        "spec": {
            "executionTemplate": {"spec": {"source": {"path": "/w"}, "entrypoint": name}},
            **spec,
        },
    }


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], FakeKube, PhaseWatch]]:
    kube = FakeKube()
    kube.endpoints = {
        "sync": endpoint_body("sync", allowedMethods=["POST", "GET"], syncTimeoutSeconds=1),
        "async": endpoint_body("async", executionMode="async"),
        "hook": endpoint_body("hook", public=True, executionMode="async"),
    }
    kube.tokens = {"hook": PUBLIC_TOKEN}
    phases = PhaseWatch(kube)  # type: ignore[arg-type]
    phases._synced.add(NS)
    phases._threads[NS] = threading.Thread()  # never started: the test plays the watch
    services = app.Services(
        gate=access.Gate(kube.token_review, kube.access_review),
        kube=kube,  # type: ignore[arg-type]
        phases=phases,
        redis=None,
        archive=None,
    )
    client = TestClient(TestServer(app.build(services)))
    await client.start_server()
    try:
        yield client, kube, phases
    finally:
        await client.close()


def url(name: str) -> str:
    return f"/api/v1/namespaces/{NS}/endpoints/{name}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


Served = tuple[TestClient[Any, Any], FakeKube, PhaseWatch]


async def test_async_answers_202_with_the_name_and_records_the_caller(served: Served) -> None:
    client, kube, _ = served
    response = await client.post(url("async"), json={"n": 3}, headers=auth(ADA))
    assert response.status == 202
    body = await response.json()
    assert body["name"] == "async-00000"
    assert response.headers["Location"] == body["execution"]
    assert body["result"].endswith("/executions/async-00000/result")
    made = kube.created[0]
    assert made["metadata"]["annotations"]["kuberun.dev/created-by"] == "ada"
    assert made["metadata"]["labels"][endpoint.ENDPOINT_LABEL] == "async"
    assert made["spec"]["parameters"] == {"n": 3}


async def test_sync_waits_for_the_watch_and_answers_by_outcome(served: Served) -> None:
    client, kube, phases = served

    async def finish_soon() -> None:
        await kube.made.wait()
        made = kube.created[-1]
        made["status"] = {"phase": "SUCCESS", "reason": "Completed", "attempt": 1, "result": 42}
        phases._remember("MODIFIED", made)

    finishing = asyncio.create_task(finish_soon())
    response = await client.get(url("sync") + "?x=1", headers=auth(ADA))
    await finishing
    assert response.status == 200
    assert response.headers["X-Kuberun-Phase"] == "SUCCESS"
    assert (await response.json())["result"] == 42
    assert kube.created[0]["spec"]["parameters"] == {"x": "1"}


async def test_sync_invalid_parameters_is_422(served: Served) -> None:
    client, kube, phases = served

    async def fail_soon() -> None:
        await kube.made.wait()
        made = kube.created[-1]
        made["status"] = {"phase": "FAILED", "reason": "InvalidParameters", "attempt": 1}
        phases._remember("MODIFIED", made)

    failing = asyncio.create_task(fail_soon())
    response = await client.post(url("sync"), json={}, headers=auth(ADA))
    await failing
    assert response.status == 422
    assert (await response.json())["reason"] == "InvalidParameters"


async def test_sync_past_its_wait_is_202_with_a_location(served: Served) -> None:
    client, _, _ = served
    response = await client.post(url("sync"), json={}, headers=auth(ADA))
    assert response.status == 202
    assert response.headers["Location"].endswith("/executions/sync-00000")


@pytest.mark.parametrize(
    ("method", "name", "headers", "status", "error"),
    [
        ("POST", "async", {}, 401, "unauthenticated"),
        ("POST", "async", auth("forged"), 401, "unauthenticated"),
        ("POST", "async", auth(BOB), 403, "forbidden"),
        ("POST", "nothing", auth(BOB), 403, "forbidden"),  # no names leak before authorization
        ("POST", "nothing", auth(ADA), 404, "not-found"),
        ("DELETE", "sync", auth(ADA), 405, "method-not-allowed"),
        ("POST", "Bad_Name", auth(ADA), 400, "bad-request"),
    ],
    ids=["no-token", "bad-token", "no-create", "unknown-unauthorized", "unknown", "method", "name"],
)
async def test_refusals(
    served: Served, method: str, name: str, headers: dict[str, str], status: int, error: str
) -> None:
    client, kube, _ = served
    response = await client.request(method, url(name), headers=headers)
    assert response.status == status
    assert (await response.json())["error"] == error
    if status == 405:
        assert response.headers["Allow"] == "POST, GET"
    if status == 401:
        assert "Bearer" in response.headers["WWW-Authenticate"]
    assert kube.created == []


async def test_bodies_are_bounded_and_must_be_json_objects(served: Served) -> None:
    client, kube, _ = served
    big = b'{"a": "' + b"x" * (300 * 1024) + b'"}'
    headers = {**auth(ADA), "Content-Type": "application/json"}
    response = await client.post(url("async"), data=big, headers=headers)
    assert response.status == 413
    response = await client.post(url("async"), data=b"{oops", headers=headers)
    assert response.status == 400 and "not JSON" in (await response.json())["message"]
    assert kube.created == []


async def test_a_public_endpoint_needs_the_namespace_opt_in_and_its_token(served: Served) -> None:
    client, kube, _ = served
    response = await client.post(url("hook"), json={}, headers=auth(PUBLIC_TOKEN))
    assert response.status == 403
    assert endpoint.PUBLIC_NAMESPACE_LABEL in (await response.json())["message"]
    kube.labels = {endpoint.PUBLIC_NAMESPACE_LABEL: "true"}
    response = await client.post(url("hook"), json={}, headers=auth(PUBLIC_TOKEN + "x"))
    assert response.status == 401  # not its token: taken for a Kubernetes token, refused
    response = await client.post(url("hook"), json={}, headers=auth(PUBLIC_TOKEN))
    assert response.status == 202
    made = kube.created[-1]
    assert made["metadata"]["annotations"]["kuberun.dev/created-by"] == endpoint.PUBLIC_CALLER
    # the token of a public endpoint opens that endpoint only
    response = await client.post(url("async"), json={}, headers=auth(PUBLIC_TOKEN))
    assert response.status == 401


async def test_a_kubernetes_user_may_call_a_public_endpoint_too(served: Served) -> None:
    client, kube, _ = served
    response = await client.post(url("hook"), json={}, headers=auth(ADA))
    assert response.status == 202
    assert kube.created[-1]["metadata"]["annotations"]["kuberun.dev/created-by"] == "ada"
