"""The chart's log and result API: off by default, and when on a Deployment of the
operator image with its own command, account and least privilege."""

from __future__ import annotations

import pytest

from tests.integration.helm.test_chart import helm, only, render, rules

__all__ = ["helm"]

API = "kx-kuberun-api"
ON = ("api.enabled=true", "redis.url=redis://redis:6379/0", "archive.existingSecret=pg")


def test_off_by_default(helm: str) -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in render(helm)}
    assert not [n for n in names if n[1] == API]


def test_the_api_runs_the_operator_image_with_its_own_command(helm: str) -> None:
    docs = render(helm, *ON, "api.replicas=3")
    deployment = only(docs, "Deployment", API)
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == API
    [container] = pod["containers"]
    assert container["command"] == ["python", "-m", "kuberun_operator.api"]
    assert (
        container["image"]
        == only(docs, "Deployment", "kx-kuberun-operator")["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
    )
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["KUBERUN_REDIS_URL"]["secretKeyRef"]["name"] == "kuberun-redis"
    assert env["KUBERUN_ARCHIVE_DSN"]["secretKeyRef"]["name"] == "pg"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    service = only(docs, "Service", API)
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    assert service["spec"]["ports"][0]["port"] == 8080
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())


def test_least_privilege(helm: str) -> None:
    cluster_rules = list(rules(render(helm, *ON), "ClusterRole", API))
    granted = {
        (group, res): set(r["verbs"])
        for r in cluster_rules
        for group in r["apiGroups"]
        for res in r["resources"]
    }
    assert granted == {
        ("authentication.k8s.io", "tokenreviews"): {"create"},
        ("authorization.k8s.io", "subjectaccessreviews"): {"create"},
        # create: HTTP triggers start Executions for callers who passed the reviews
        ("kuberun.dev", "executions"): {"get", "list", "watch", "create"},
        ("kuberun.dev", "workflowendpoints"): {"get"},
        ("", "secrets"): {"get"},
        ("", "namespaces"): {"get"},
    }
    [secrets] = [r for r in cluster_rules if r["resources"] == ["secrets"]]
    assert secrets["resourceNames"] == ["kuberun-endpoint-tokens"]  # that Secret only
    namespaced = render(helm, *ON, "watchNamespaces={team-a}")
    namespaced_cluster = list(rules(namespaced, "ClusterRole", API))
    assert {res for r in namespaced_cluster for res in r["resources"]} == {
        "tokenreviews",
        "subjectaccessreviews",
        "namespaces",
    }
    [namespaces] = [r for r in namespaced_cluster if r["resources"] == ["namespaces"]]
    assert namespaces["resourceNames"] == ["team-a"]
    role = only(namespaced, "Role", API)
    assert role["metadata"]["namespace"] == "team-a"
    in_role = {res: set(r["verbs"]) for r in role["rules"] for res in r["resources"]}
    assert in_role == {
        "executions": {"get", "list", "watch", "create"},
        "workflowendpoints": {"get"},
        "secrets": {"get"},
    }
    [secrets] = [r for r in role["rules"] if r["resources"] == ["secrets"]]
    assert secrets["resourceNames"] == ["kuberun-endpoint-tokens"]


def test_tenants_manage_and_read_their_endpoints(helm: str) -> None:
    docs = render(helm)
    edit = [r for r in only(docs, "ClusterRole", "kx-kuberun-edit")["rules"]]
    view = [r for r in only(docs, "ClusterRole", "kx-kuberun-view")["rules"]]
    assert any("workflowendpoints" in r["resources"] and "create" in r["verbs"] for r in edit)
    assert any(
        "workflowendpoints" in r["resources"] and r["verbs"] == ["get", "list", "watch"]
        for r in view
    )


def test_the_endpoint_crd_is_installed(helm: str) -> None:
    names = {d["metadata"]["name"] for d in render(helm) if d["kind"] == "CustomResourceDefinition"}
    assert "workflowendpoints.kuberun.dev" in names


def test_view_and_edit_include_the_log_subresource(helm: str) -> None:
    docs = render(helm)
    for role in ("kx-kuberun-view", "kx-kuberun-edit"):
        logs = [
            r
            for r in only(docs, "ClusterRole", role)["rules"]
            if "executions/log" in r["resources"]
        ]
        assert [r["verbs"] for r in logs] == [["get"]]


@pytest.mark.parametrize("value", ["api.replicas=-1", "api.port=0", "api.enabeld=true"])
def test_the_schema_checks_api_values(helm: str, value: str) -> None:
    with pytest.raises(RuntimeError):
        render(helm, value, check=False)
