"""Tenants on one cluster and one Redis: two namespaces bound to two organizations.

- a runner's code, using the Redis credential it has, gets NOPERM on the other
  namespace's stream, result and cache entry (its own keys work);
- a manifest naming the other tenant's organization is rejected at apply;
- the identity in the pod's context is the namespace's organization and the
  Kubernetes user who created the Execution (a ServiceAccount, by
  impersonation); a forged `spec.caller` is rejected, a forged creator
  annotation overwritten, and the annotation cannot be changed afterwards.
"""

from __future__ import annotations

import base64
import json
import pathlib
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import kubernetes
import pytest
import redis

from e2e import harness
from e2e.operator import support
from kuberun.contract import keys
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@dataclass
class TenantsOperator(support.ChartOperator):
    """The chart's operator serving the test's namespace and one more tenant's."""

    others: list[str] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        values = super().values()
        values["watchNamespaces"] = [self.namespace, *self.others]
        return values


@dataclass
class Tenants:
    cluster: harness.Cluster
    ours: str  # bound to acme
    theirs: str  # bound to globex
    operator: support.ChartOperator


@pytest.fixture
def tenants(
    cluster: harness.Cluster,
    kx_namespace: str,
    redis_server: RedisServer,
    tmp_path: pathlib.Path,
    request: pytest.FixtureRequest,
) -> Iterator[Tenants]:
    theirs = f"{kx_namespace[:50]}-b"
    cluster.core.create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=theirs))
    )
    support.bind_organization(cluster, kx_namespace, "acme", "Acme Corp")
    support.bind_organization(cluster, theirs, "globex", "Globex")
    op = TenantsOperator(
        cluster=cluster,
        namespace=kx_namespace,
        redis_url=redis_server.url,
        log_path=tmp_path / "operator.log",
        others=[theirs],
    )
    try:
        yield Tenants(cluster, kx_namespace, theirs, op.start())
    finally:
        op.stop()
        for ns in (kx_namespace, theirs):
            support.release_finalizers(cluster, ns)
        cluster.core.delete_namespace(theirs)
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(f"--- operator log ({op.log_path}) ---\n{op.logs()[-20000:]}")


PROVIDER = """
from kuberun import data_provider

@data_provider(name="regions", cache_ttl_seconds=300)
def regions():
    return ["eu", "us"]
"""

SCRIPT = "print('their secret line')\nresult = {'secret': 42}\n"

PROBE = """
import os, urllib.parse
import redis

def main():
    url = os.environ["KUBERUN_REDIS_URL"]
    client = redis.Redis.from_url(url)
    tries = {
        "their stream": lambda: client.xrange(THEIR_STREAM),
        "their stream by GET": lambda: client.get(THEIR_STREAM),
        "their result": lambda: client.get(THEIR_RESULT),
        "their cancel": lambda: client.set(THEIR_CANCEL, "x"),
        "their cache": lambda: client.get(THEIR_CACHE),
        "all keys": lambda: client.keys("*"),
        "our cache": lambda: client.get(OUR_CACHE),
    }
    answers = {}
    for name, call in tries.items():
        try:
            call()
            answers[name] = "allowed"
        except redis.exceptions.NoPermissionError:
            answers[name] = "NOPERM"
        except redis.RedisError as exc:
            answers[name] = f"{type(exc).__name__}: {exc}"
    answers["user"] = urllib.parse.urlsplit(url).username
    return answers
"""


def test_a_runner_gets_noperm_on_another_namespaces_stream_result_and_cache(
    tenants: Tenants, redis_client: redis.Redis
) -> None:
    cluster, ours, theirs = tenants.cluster, tenants.ours, tenants.theirs
    script = support.create(cluster, theirs, support.execution("theirs", SCRIPT))
    support.create(cluster, theirs, support.execution("regions", PROVIDER, entrypoint="regions"))
    support.wait_phase(cluster, theirs, "theirs", "SUCCESS", timeout=90)
    support.wait_phase(cluster, theirs, "regions", "SUCCESS", timeout=90)
    their_uid = script["metadata"]["uid"]
    constants = {
        "THEIR_STREAM": keys.logs_stream(theirs, their_uid),
        "THEIR_RESULT": keys.result(theirs, their_uid, 1),
        "THEIR_CANCEL": keys.cancel(theirs, their_uid),
        "THEIR_CACHE": keys.cache_entry("globex", "regions", {}),
        "OUR_CACHE": keys.cache_entry("acme", "regions", {}),
    }
    # The keys exist: what the probe is refused is there to read.
    assert redis_client.exists(constants["THEIR_STREAM"], constants["THEIR_RESULT"]) == 2
    assert redis_client.exists(constants["THEIR_CACHE"]) == 1

    source = "".join(f"{k} = {v!r}\n" for k, v in constants.items()) + PROBE
    support.create(cluster, ours, support.execution("probe", source, entrypoint="main"))
    final = support.wait_phase(cluster, ours, "probe", "SUCCESS", timeout=90)
    assert final["result"] == {
        "their stream": "NOPERM",
        "their stream by GET": "NOPERM",
        "their result": "NOPERM",
        "their cancel": "NOPERM",
        "their cache": "NOPERM",
        "all keys": "NOPERM",
        "our cache": "allowed",
        "user": f"kuberun-ns-{ours}",
    }, json.dumps(final["result"], indent=1)
    assert redis_client.get(constants["THEIR_CANCEL"]) is None

    # Each namespace's runner Secret carries its own user only; the operator's stays home.
    for ns in (ours, theirs):
        secret = cluster.core.read_namespaced_secret("kuberun-redis-runner", ns)
        url = base64.b64decode(secret.data["url"]).decode()
        assert url.startswith(f"redis://kuberun-ns-{ns}:") and "@" in url
    with pytest.raises(kubernetes.client.ApiException) as missing:
        cluster.core.read_namespaced_secret("kuberun-redis", theirs)
    assert missing.value.status == 404


def test_a_manifest_naming_another_tenants_organization_is_rejected(tenants: Tenants) -> None:
    cluster, ours = tenants.cluster, tenants.ours
    body = support.execution("poison", PROVIDER, entrypoint="regions", organization="globex")
    with pytest.raises(kubernetes.client.ApiException) as refused:
        support.create(cluster, ours, body)
    assert refused.value.status in (403, 422), refused.value.body
    message = json.loads(refused.value.body or "{}").get("message", "")
    assert "spec.organization globex refused" in message and "acme" in message, message

    # Its own organization is accepted, and the cache is that organization's.
    own = support.execution("own", PROVIDER, entrypoint="regions", organization="acme")
    support.create(cluster, ours, own)
    assert support.wait_phase(cluster, ours, "own", "SUCCESS", timeout=90)["result"] == [
        {"label": "eu", "value": "eu"},
        {"label": "us", "value": "us"},
    ]


IDENTITY = textwrap.dedent(
    """
    from kuberun import ExecutionContext, workflow

    @workflow(name="whoami")
    def whoami(context: ExecutionContext):
        return {
            "org_id": context.org_id,
            "org_name": context.org_name,
            "organization": [context.organization.id, context.organization.name],
            "scope": context.scope,
            "user_id": context.user_id,
            "executed_by": context.executed_by,
            "name": context.name,
            "execution_name": context.execution_name,
        }
    """
)


def _as(cluster: harness.Cluster, user: str, namespace: str, body: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "--as", user, "-n", namespace, "create", "-f", "-", input=json.dumps(body), check=False
    )


def test_identity_comes_from_the_namespace_binding_and_the_creating_user(
    tenants: Tenants,
) -> None:
    cluster, ours = tenants.cluster, tenants.ours
    cluster.kubectl("-n", ours, "create", "serviceaccount", "alice")
    cluster.kubectl(
        "-n",
        ours,
        "create",
        "rolebinding",
        "alice-edit",
        "--clusterrole=edit",
        f"--serviceaccount={ours}:alice",
    )
    alice = f"system:serviceaccount:{ours}:alice"
    harness.wait_for(
        "the aggregated edit role to grant Executions",
        lambda: (
            cluster.kubectl(
                "auth",
                "can-i",
                "create",
                "executions.kuberun.dev",
                "--as",
                alice,
                "-n",
                ours,
                check=False,
            ).stdout.strip()
            == "yes"
        ),
        timeout=30,
    )

    made = _as(cluster, alice, ours, support.execution("mine", IDENTITY, entrypoint="whoami"))
    assert made.returncode == 0, made.stderr
    final = support.wait_phase(cluster, ours, "mine", "SUCCESS", timeout=90)
    assert final["result"] == {
        "org_id": "acme",
        "org_name": "Acme Corp",
        "organization": ["acme", "Acme Corp"],
        "scope": "acme",
        "user_id": alice,
        "executed_by": alice,
        "name": alice,
        "execution_name": "mine",
    }
    created = support.get(cluster, ours, "mine")
    assert created["metadata"]["annotations"]["kuberun.dev/created-by"] == alice

    # A forged caller is rejected at apply.
    forged = support.execution("forged", IDENTITY, entrypoint="whoami", caller="ceo@acme.com")
    refused = _as(cluster, alice, ours, forged)
    assert refused.returncode != 0
    assert "spec.caller ceo@acme.com refused" in refused.stderr, refused.stderr

    # A forged creator annotation is overwritten with the real creator.
    stamped = support.execution("stamped", IDENTITY, entrypoint="whoami")
    stamped["metadata"]["annotations"] = {"kuberun.dev/created-by": "ceo@acme.com"}
    made = _as(cluster, alice, ours, stamped)
    assert made.returncode == 0, made.stderr
    final = support.wait_phase(cluster, ours, "stamped", "SUCCESS", timeout=90)
    assert final["result"]["user_id"] == alice

    # And it cannot be changed afterwards, by anyone.
    changed = cluster.kubectl(
        "-n",
        ours,
        "annotate",
        "--overwrite",
        "executions.kuberun.dev/mine",
        "kuberun.dev/created-by=ceo@acme.com",
        check=False,
    )
    assert changed.returncode != 0 and "cannot change" in changed.stderr, changed.stderr
