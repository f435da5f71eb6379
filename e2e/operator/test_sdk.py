"""The SDK in a pod: config and secrets from the namespace's ConfigMap and Secret,
a secret never shown, files in the temp location, and inputs checked by @param."""

from __future__ import annotations

import json

import pytest

from e2e import harness
from e2e.operator import support

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SECRET = "s3cr3t-value-9f2c"

WORKFLOW = f"""
import logging
from kuberun import ExecutionContext, files, param, secrets, workflow

@workflow(name="report", category="Reports", tags=["e2e"])
@param("recipient", "email", label="Recipient", required=True, help_text="who gets it")
async def report(context: ExecutionContext, recipient: str):
    domain = await context.get_config("email_domain")
    token = await secrets.get("api_token")
    logging.getLogger("report").info("token is %s", token)
    print("printed", token)
    await files.write("draft.txt", f"to {{recipient}} via {{domain}}", location="temp")
    return {{
        "domain": domain,
        "draft": await files.read("draft.txt", location="temp"),
        "token_seen": token == {SECRET!r},
        "echo": token,
    }}
"""


def test_config_secrets_and_files_reach_the_code_and_the_secret_never_shows(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator, redis_client
) -> None:
    ns = kx_namespace
    cluster.kubectl(
        "-n", ns, "create", "configmap", "kuberun-config", "--from-literal=email_domain=acme.com"
    )
    cluster.kubectl(
        "-n",
        ns,
        "create",
        "secret",
        "generic",
        "kuberun-secrets",
        f"--from-literal=api_token={SECRET}",
    )
    created = support.create(
        cluster,
        ns,
        support.execution(
            "report", WORKFLOW, entrypoint="report", parameters={"recipient": "ada@example.org"}
        ),
    )

    final = support.wait_phase(cluster, ns, "report", timeout=90)

    assert final["phase"] == "SUCCESS", final
    result = final["result"]
    assert result["domain"] == "acme.com" and result["token_seen"] is True
    assert result["draft"] == "to ada@example.org via acme.com"
    records = support.stream_messages(redis_client, ns, created["metadata"]["uid"])
    shown = json.dumps([f for _, f in records]) + json.dumps(final)
    [pod] = support.pods_of(cluster, ns)
    shown += cluster.kubectl("-n", ns, "logs", pod.metadata.name).stdout
    shown += json.dumps([e.to_dict() for e in pod.spec.containers[0].env or []], default=str)
    assert SECRET not in shown
    assert any("token is" in f.get("msg", "") for _, f in records)


def test_an_input_that_fails_its_param_check_fails_before_the_code_runs(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    support.create(
        cluster,
        kx_namespace,
        support.execution(
            "bad-input", WORKFLOW, entrypoint="report", parameters={"recipient": "not-an-address"}
        ),
    )

    final = support.wait_phase(cluster, kx_namespace, "bad-input", "FAILED", timeout=90)

    assert final["reason"] == "InvalidParameters", final
    assert "recipient" in final["message"]
