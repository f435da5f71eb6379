"""The Helm chart: `helm lint`, then `helm template` rendered with real Helm and checked.

Uses the Helm binary the e2e tooling builds (`e2e.cluster.binaries.helm_path()`,
cached under ~/.cache/kuberun/bin; CI builds it during setup).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberun.contract import spec
from kuberun_operator.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "kuberun"
NAMESPACE = "kuberun-system"
# Only the first call may have to build Helm (minutes, cold); then it is cached.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def helm() -> str:
    from e2e.cluster import binaries

    return str(binaries.helm_path())


def render(helm: str, *sets: str, check: bool = True) -> list[dict[str, Any]]:
    argv = [helm, "template", "kx", str(CHART), "--namespace", NAMESPACE]
    for value in sets:
        argv += ["--set", value]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert completed.returncode == 0, completed.stderr
    elif completed.returncode != 0:
        raise RuntimeError(completed.stderr)
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc]


def only(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, [(d["kind"], d["metadata"]["name"]) for d in docs]
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = only(docs, "Deployment")
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs)["env"]}


OPERATOR = "kx-kuberun-operator"


def rules(
    docs: list[dict[str, Any]], kind: str, prefix: str = OPERATOR
) -> Iterator[dict[str, Any]]:
    """The rules of the `kind` roles named `prefix...` (by default: the operator's own)."""
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"].startswith(prefix):
            yield from doc["rules"]


def test_lint(helm: str) -> None:
    completed = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--set", "redis.url=redis://redis:6379/0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_crd_operator_and_runner_account(helm: str) -> None:
    docs = render(helm, "redis.url=redis://:pw@redis:6379/0")
    crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    # kopf's peering CRDs only with peering
    assert crds == {
        f"{spec.PLURAL}.{spec.GROUP}",
        f"scheduledexecutions.{spec.GROUP}",
        f"workflowendpoints.{spec.GROUP}",
    }
    image = container(docs)["image"]
    assert image == "kuberun/operator:0.1.0"
    assert container(docs)["command"] == ["python", "-m", "kuberun_operator"]
    runner = only(docs, "ServiceAccount", "kuberun-runner")
    assert runner["automountServiceAccountToken"] is False
    assert runner["metadata"]["namespace"] == NAMESPACE
    secret = only(docs, "Secret")
    assert secret["stringData"] == {"url": "redis://:pw@redis:6379/0"}
    assert env_of(docs)["KUBERUN_REDIS_URL"] == {
        "secretKeyRef": {"name": "kuberun-redis", "key": "url"}
    }


def test_every_operator_setting_is_mapped_with_its_default(
    helm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Settings field has a KUBERUN_* variable, and the chart's defaults are the operator's."""
    optional = [
        "runner.defaults.cpuLimit=2",
        "runner.jobTtlSeconds=3600",
        "peering.enabled=true",
        "redis.url=redis://redis:6379/0",
        "archive.existingSecret=kuberun-archive",
    ]
    env = env_of(render(helm, *optional))
    expected = {f"KUBERUN_{name.upper()}" for name in Settings.model_fields}
    assert expected <= set(env), sorted(expected - set(env))

    defaults = env_of(render(helm))  # no optional value set
    for name in list(defaults):
        monkeypatch.delenv(name, raising=False)
    for name, value in defaults.items():
        assert isinstance(value, str), f"{name} must be a literal without optional values"
        monkeypatch.setenv(name, value)
    from_chart = Settings().model_dump()
    for name in defaults:
        monkeypatch.delenv(name)
    assert from_chart == Settings().model_dump()


def test_probes_use_the_health_endpoints_on_the_settings_port(helm: str) -> None:
    docs = render(helm, "operator.http.port=9090")
    operator = container(docs)
    assert operator["ports"] == [{"name": "http", "containerPort": 9090, "protocol": "TCP"}]
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert operator["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert env_of(docs)["KUBERUN_HTTP_PORT"] == "9090"
    assert only(docs, "Service")["spec"]["ports"][0]["port"] == 9090


def test_operator_runs_locked_down(helm: str) -> None:
    docs = render(helm)
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container(docs)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert only(docs, "Deployment")["spec"]["strategy"]["type"] == "Recreate"


def test_least_privilege_cluster_wide(helm: str) -> None:
    docs = render(helm)
    granted = list(rules(docs, "ClusterRole"))
    for rule in granted:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        assert "*" not in rule.get("apiGroups", [])
    secrets = [r for r in granted if "secrets" in r["resources"]]
    assert [sorted(r["verbs"]) for r in secrets] == [["create", "delete", "get"]]  # no list
    accounts = [r for r in granted if "serviceaccounts" in r["resources"]]
    assert [r["verbs"] for r in accounts] == [["create"], ["get"]]  # get: references only
    by_resource = {res: set(r["verbs"]) for r in granted for res in r["resources"]}
    assert by_resource["executions/status"] >= {"patch"}
    assert by_resource["jobs"] >= {"create", "delete", "watch"}
    assert by_resource["pods"] >= {"watch", "delete"}
    assert "clusterkopfpeerings" not in by_resource  # standalone: no peering rights
    assert not [d for d in docs if d["kind"] in ("Role", "RoleBinding")]


def test_namespaced_mode_uses_roles(helm: str) -> None:
    docs = render(helm, "watchNamespaces={team-a,team-b}", "redis.url=redis://redis:6379/0")
    roles = [d for d in docs if d["kind"] == "Role"]
    assert sorted(d["metadata"]["namespace"] for d in roles) == ["team-a", "team-b"]
    for role in roles:
        assert any("executions" in r["resources"] for r in role["rules"])
    cluster = [r for r in rules(docs, "ClusterRole")]
    assert {res for r in cluster for res in r["resources"]} == {
        "customresourcedefinitions",
        "namespaces",
    }
    assert env_of(docs)["KUBERUN_NAMESPACES"] == '["team-a","team-b"]'
    accounts = [
        d for d in docs if d["kind"] == "ServiceAccount" and "runner" in d["metadata"]["name"]
    ]
    assert sorted(d["metadata"]["namespace"] for d in accounts) == ["team-a", "team-b"]
    secrets = [d["metadata"]["namespace"] for d in docs if d["kind"] == "Secret"]
    # The operator's URL stays in its namespace; runners get their own users' Secrets.
    assert sorted(secrets) == ["kuberun-system"]
    shared = render(
        helm,
        "watchNamespaces={team-a,team-b}",
        "redis.url=redis://redis:6379/0",
        "redis.tenantUsers.enabled=false",
    )
    secrets = [d["metadata"]["namespace"] for d in shared if d["kind"] == "Secret"]
    assert sorted(secrets) == ["kuberun-system", "team-a", "team-b"]


def test_existing_secret(helm: str) -> None:
    docs = render(helm, "redis.existingSecret=my-redis", "redis.secretKey=uri")
    assert not [d for d in docs if d["kind"] == "Secret"]
    env = env_of(docs)
    assert env["KUBERUN_REDIS_SECRET_NAME"] == "kuberun-redis-runner"  # the runners' own
    assert env["KUBERUN_REDIS_SECRET_KEY"] == "uri"
    assert env["KUBERUN_REDIS_URL"] == {"secretKeyRef": {"name": "my-redis", "key": "uri"}}
    shared = env_of(
        render(helm, "redis.existingSecret=my-redis", "redis.tenantUsers.enabled=false")
    )
    assert shared["KUBERUN_REDIS_SECRET_NAME"] == "my-redis"


def test_no_redis_no_secret_and_no_url(helm: str) -> None:
    docs = render(helm)
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert "KUBERUN_REDIS_URL" not in env_of(docs)


def test_standby_replicas_need_peering(helm: str) -> None:
    with pytest.raises(RuntimeError, match=r"peering\.enabled"):
        render(helm, "operator.replicas=2", check=False)
    docs = render(helm, "operator.replicas=2", "peering.enabled=true")
    env = env_of(docs)
    assert env["KUBERUN_PEERING"] == "kuberun" and "KUBERUN_PRIORITY" not in env
    command = container(docs)["command"]
    assert command[:2] == ["python", "-c"] and "KUBERUN_PRIORITY" in command[2]
    compile(command[2], "command", "exec")
    assert only(docs, "ClusterKopfPeering")["metadata"]["name"] == "kuberun"
    crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= crds
    assert only(docs, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"
    granted = {res for r in rules(docs, "ClusterRole") for res in r["resources"]}
    assert "clusterkopfpeerings" in granted


def test_runner_accounts_only_from_the_chart(helm: str) -> None:
    docs = render(helm, "runner.serviceAccount.createOnFirstUse=false")
    granted = {
        res for r in rules(docs, "ClusterRole") if "create" in r["verbs"] for res in r["resources"]
    }
    assert "serviceaccounts" not in granted
    assert env_of(docs)["KUBERUN_CREATE_RUNNER_SERVICE_ACCOUNT"] == "false"
