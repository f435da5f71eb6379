"""The chart as a platform team uses it: schema, CRDs, RBAC, monitoring, placement.

Rendered with the real Helm binary (see test_chart.py); nothing is installed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberun.contract import spec
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings
from tests.integration.helm.test_chart import (
    CHART,
    NAMESPACE,
    ROOT,
    container,
    env_of,
    helm,
    only,
    render,
    rules,
)

__all__ = ["helm"]  # the fixture, imported for this module's tests
pytestmark = pytest.mark.timeout(900)

CRD_NAME = f"{spec.PLURAL}.{spec.GROUP}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("admission.maxRuning=5", "additional properties 'maxRuning' not allowed"),
        ("operator.replicas=two", "/operator/replicas"),
        ("admission.maxRunning=-5", "/admission/maxRunning"),
        ("runner.placement.nodeSelectr.pool=gpu", "'nodeSelectr' not allowed"),
        ("operator.image.pullPolicy=Sometimes", "/operator/image/pullPolicy"),
    ],
    ids=["misspelt-key", "wrong-type", "below-minimum", "misspelt-placement", "bad-enum"],
)
def test_schema_rejects_bad_values_with_a_readable_message(
    helm: str, value: str, expected: str
) -> None:
    with pytest.raises(RuntimeError) as error:
        render(helm, value, check=False)
    message = str(error.value)
    assert "values don't meet the specifications of the schema" in message, message
    assert expected in message, message


def test_crd_is_a_template_kept_on_uninstall_and_equal_to_crds_dir(helm: str) -> None:
    crd = only(render(helm), "CustomResourceDefinition", CRD_NAME)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    source = yaml.safe_load((ROOT / "crds" / f"{CRD_NAME}.yaml").read_text())
    assert crd["spec"] == source["spec"]
    unkept = only(render(helm, "crds.keep=false"), "CustomResourceDefinition", CRD_NAME)
    assert "helm.sh/resource-policy" not in (unkept["metadata"].get("annotations") or {})
    assert not [
        d for d in render(helm, "crds.install=false") if d["kind"] == "CustomResourceDefinition"
    ]


@pytest.mark.parametrize("sets", [(), ("watchNamespaces={team-a}",)], ids=["cluster", "namespaced"])
def test_finalizers_rule_for_owner_reference_enforcement(helm: str, sets: tuple[str, ...]) -> None:
    docs = render(helm, *sets)
    kind = "Role" if sets else "ClusterRole"
    finalizers = [r for r in rules(docs, kind) if "executions/finalizers" in r["resources"]]
    assert [r["verbs"] for r in finalizers] == [["update"]]


def test_aggregated_roles_grant_executions_to_tenants(helm: str) -> None:
    docs = render(helm)
    edit = only(docs, "ClusterRole", "kx-kuberun-edit")
    view = only(docs, "ClusterRole", "kx-kuberun-view")
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    edit_verbs = {v for r in edit["rules"] if "executions" in r["resources"] for v in r["verbs"]}
    assert {"create", "patch", "delete"} <= edit_verbs
    assert {v for r in view["rules"] for v in r["verbs"]} == {"get", "list", "watch"}
    status_rules = [r for r in edit["rules"] if "executions/status" in r["resources"]]
    assert all("patch" not in r["verbs"] for r in status_rules)  # the status is the operator's
    names = {d["metadata"]["name"] for d in render(helm, "rbac.aggregateToDefaultRoles=false")}
    assert "kx-kuberun-edit" not in names


def test_optional_objects_are_off_by_default(helm: str) -> None:
    kinds = {d["kind"] for d in render(helm)}
    for kind in ("PodDisruptionBudget", "ServiceMonitor", "PrometheusRule", "NetworkPolicy",
                 "ConfigMap"):  # fmt: skip
        assert kind not in kinds


def test_pdb_and_network_policy(helm: str) -> None:
    docs = render(
        helm,
        "operator.podDisruptionBudget.enabled=true",
        "networkPolicy.enabled=true",
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
    )
    pdb = only(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    policy = only(docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]


def exported_metric_names() -> set[str]:
    names = set()
    for collector in Metrics().registry.collect():
        for sample in collector.samples:
            names.add(sample.name)
        names.add(collector.name)
        if collector.type == "histogram":
            names |= {f"{collector.name}_{s}" for s in ("bucket", "sum", "count")}
        if collector.type == "counter":
            names.add(f"{collector.name}_total")
    return names


def named_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\bkuberun_[a-z_]+", expr))


def test_monitoring_objects_read_only_exported_metrics(helm: str) -> None:
    docs = render(
        helm,
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prometheus",
        "metrics.prometheusRule.enabled=true",
        "metrics.grafanaDashboard.enabled=true",
    )
    monitor = only(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    service = only(docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["spec"]["selector"].items()

    exported = exported_metric_names()
    rule_group = only(docs, "PrometheusRule")["spec"]["groups"][0]
    alerts = {r["alert"]: r for r in rule_group["rules"]}
    assert {"KuberunOperatorDown", "KuberunExecutionsFailing", "KuberunRedisErrors"} <= set(alerts)
    for rule in alerts.values():
        assert named_metrics(rule["expr"]) and named_metrics(rule["expr"]) <= exported, rule
        for text in (rule.get("annotations") or {}).values():
            assert "$labels" not in text or "{{ $labels." in text  # left to Prometheus

    dashboard = json.loads(only(docs, "ConfigMap")["data"]["kuberun.json"])
    assert only(docs, "ConfigMap")["metadata"]["labels"]["grafana_dashboard"] == "1"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        assert named_metrics(expr) <= exported, expr
    used = set().union(*(named_metrics(e) for e in exprs))
    for series in ("kuberun_executions_by_phase", "kuberun_queue_wait_seconds_bucket",
                   "kuberun_dropped_log_lines_total", "kuberun_api_errors_total",
                   "kuberun_redis_errors_total", "kuberun_build_info"):  # fmt: skip
        assert series in used


def test_service_monitor_needs_the_metrics_service(helm: str) -> None:
    with pytest.raises(RuntimeError, match=r"operator\.metricsService\.enabled"):
        render(
            helm,
            "metrics.serviceMonitor.enabled=true",
            "operator.metricsService.enabled=false",
            check=False,
        )


def test_security_context_resources_image_and_env_from_values(helm: str) -> None:
    docs = render(
        helm,
        "operator.podSecurityContext.runAsNonRoot=true",
        "operator.podSecurityContext.runAsUser=null",
        "operator.podSecurityContext.runAsGroup=null",
        "operator.securityContext.readOnlyRootFilesystem=false",
        "operator.resources.limits.memory=1Gi",
        "operator.image.repository=registry.local/kuberun-operator",
        "operator.image.tag=dev",
        "operator.image.pullPolicy=Never",
        "operator.env[0].name=KUBERNETES_SERVICE_HOST",
        "operator.env[0].value=10.0.0.1",
    )
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert "runAsUser" not in pod["securityContext"]  # a platform that assigns uids itself
    operator = container(docs)
    assert operator["securityContext"]["readOnlyRootFilesystem"] is False
    assert operator["resources"]["limits"]["memory"] == "1Gi"
    assert operator["image"] == "registry.local/kuberun-operator:dev"
    assert operator["imagePullPolicy"] == "Never"
    env = operator["env"]
    assert env[-1] == {"name": "KUBERNETES_SERVICE_HOST", "value": "10.0.0.1"}  # last one wins


def test_runner_placement_reaches_the_operator_as_its_setting(
    helm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values: dict[str, Any] = {
        "runner": {
            "placement": {
                "nodeSelector": {"pool": "batch"},
                "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
                "priorityClassName": "batch-low",
                "annotations": {"karpenter.sh/do-not-disrupt": "true"},
            }
        }
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    completed = subprocess.run(
        [helm, "template", "kx", str(CHART), "-n", NAMESPACE, "-f", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    docs = [d for d in yaml.safe_load_all(completed.stdout) if d]
    monkeypatch.setenv("KUBERUN_RUNNER_PLACEMENT", env_of(docs)["KUBERUN_RUNNER_PLACEMENT"])
    placement = Settings().runner_placement
    assert placement.node_selector == {"pool": "batch"}
    assert placement.tolerations[0].key == "batch"
    assert placement.priority_class_name == "batch-low"
