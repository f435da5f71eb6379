"""The chart's part in ScheduledExecutions: the CRD, the operator's rules, tenants' roles.

Rendered with the real Helm binary (see test_chart.py); nothing is installed.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kuberun.contract import schedule, spec
from tests.integration.helm.test_chart import ROOT, helm, only, render, rules

__all__ = ["helm"]  # the fixture, imported for this module's tests
pytestmark = pytest.mark.timeout(900)

CRD_NAME = f"{schedule.PLURAL}.{spec.GROUP}"


def verbs(found: list[dict[str, Any]], resource: str) -> set[str]:
    return {str(v) for r in found if resource in r["resources"] for v in r["verbs"]}


def test_the_crd_is_rendered_as_in_crds_dir_and_kept(helm: str) -> None:
    crd = only(render(helm), "CustomResourceDefinition", CRD_NAME)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    source = yaml.safe_load((ROOT / "crds" / f"{CRD_NAME}.yaml").read_text())
    assert crd["spec"] == source["spec"]


@pytest.mark.parametrize("sets", [(), ("watchNamespaces={team-a}",)], ids=["cluster", "namespaced"])
def test_the_operator_may_run_schedules(helm: str, sets: tuple[str, ...]) -> None:
    found = list(rules(render(helm, *sets), "Role" if sets else "ClusterRole"))
    assert {"get", "list", "watch", "patch"} <= verbs(found, schedule.PLURAL)
    assert verbs(found, f"{schedule.PLURAL}/status") == {"get", "patch"}
    assert verbs(found, f"{schedule.PLURAL}/finalizers") == {"update"}
    assert {"create", "delete", "list", "watch"} <= verbs(found, spec.PLURAL)
    assert "create" not in verbs(found, schedule.PLURAL)  # schedules are the tenants'


def test_tenants_edit_and_view_schedules(helm: str) -> None:
    docs = render(helm)
    edit = only(docs, "ClusterRole", "kx-kuberun-edit")["rules"]
    view = only(docs, "ClusterRole", "kx-kuberun-view")["rules"]
    assert {"create", "update", "patch", "delete"} <= verbs(edit, schedule.PLURAL)
    assert "patch" not in verbs(edit, f"{schedule.PLURAL}/status")
    assert verbs(view, schedule.PLURAL) == {"get", "list", "watch"}
    assert verbs(view, f"{schedule.PLURAL}/status") == {"get", "list", "watch"}
