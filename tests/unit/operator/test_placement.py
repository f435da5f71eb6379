"""Runner pod placement: the merge rule, and what reaches the Job's pod template."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from kuberun.contract import spec
from kuberun_operator import manifests, naming, placement
from kuberun_operator.settings import Settings

REF = manifests.ExecutionRef(name="train", namespace="ml", uid="uid-7")
GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
SPOT_TAINT = {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute"}


def pl(**fields: Any) -> spec.Placement:
    return spec.Placement.model_validate(fields)


def pod_of(execution: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    settings = Settings(runner_placement=pl(**(defaults or {})))
    parsed = spec.ExecutionSpec.model_validate({"source": {"inline": "print(1)"}, **execution})
    template: dict[str, Any] = manifests.build_job_manifest(REF, parsed, 1, settings)["spec"][
        "template"
    ]
    return template


def test_maps_merge_key_by_key_and_the_execution_wins() -> None:
    got = placement.merge(
        pl(nodeSelector={"pool": "batch", "zone": "a"}, labels={"team": "data"}),
        pl(nodeSelector={"pool": "gpu"}, annotations={"karpenter.sh/do-not-disrupt": "true"}),
    )
    assert got.node_selector == {"pool": "gpu", "zone": "a"}
    assert got.labels == {"team": "data"}
    assert got.annotations == {"karpenter.sh/do-not-disrupt": "true"}


def test_lists_add_up_without_duplicates() -> None:
    got = placement.merge(
        pl(tolerations=[SPOT_TAINT], imagePullSecrets=[{"name": "registry"}]),
        pl(tolerations=[SPOT_TAINT, GPU_TAINT], imagePullSecrets=[{"name": "registry"}]),
    )
    assert [t.key for t in got.tolerations] == ["spot", "nvidia.com/gpu"]
    assert [s.name for s in got.image_pull_secrets] == ["registry"]


def test_affinity_and_priority_class_are_replaced_not_merged() -> None:
    zone: dict[str, Any] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}
    mine: dict[str, Any] = {
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}
    }
    got = placement.merge(pl(affinity=zone, priorityClassName="low"), pl(affinity=mine))
    assert got.affinity is not None and got.affinity.node_affinity is None
    assert got.affinity.pod_anti_affinity == mine["podAntiAffinity"]
    assert got.priority_class_name == "low"
    higher = placement.merge(pl(priorityClassName="low"), pl(priorityClassName="high"))
    assert higher.priority_class_name == "high"


def test_no_placement_leaves_the_pod_as_it_was() -> None:
    template = pod_of({})
    for field in ("nodeSelector", "tolerations", "affinity", "priorityClassName",
                  "imagePullSecrets", "topologySpreadConstraints"):  # fmt: skip
        assert field not in template["spec"]
    assert "annotations" not in template["metadata"]


def test_everything_reaches_the_pod_template() -> None:
    spread = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
              "whenUnsatisfiable": "ScheduleAnyway",
              "labelSelector": {"matchLabels": {"app": "x"}}}  # fmt: skip
    template = pod_of(
        {
            "placement": {
                "nodeSelector": {"pool": "gpu"},
                "tolerations": [GPU_TAINT],
                "topologySpreadConstraints": [spread],
                "priorityClassName": "batch-high",
                "imagePullSecrets": [{"name": "private"}],
                "labels": {"team": "ml", naming.UID_LABEL: "spoofed"},
                "annotations": {"karpenter.sh/do-not-disrupt": "true"},
            },
            "resources": {"extended": {"nvidia.com/gpu": 2}},
        },
        defaults={"tolerations": [SPOT_TAINT], "nodeSelector": {"zone": "a"}},
    )
    pod = template["spec"]
    assert pod["nodeSelector"] == {"zone": "a", "pool": "gpu"}
    assert pod["tolerations"] == [SPOT_TAINT, GPU_TAINT]
    assert pod["topologySpreadConstraints"] == [spread]
    assert pod["priorityClassName"] == "batch-high"
    assert pod["imagePullSecrets"] == [{"name": "private"}]
    labels = template["metadata"]["labels"]
    assert labels["team"] == "ml" and labels[naming.UID_LABEL] == "uid-7"  # ours win
    assert template["metadata"]["annotations"] == {"karpenter.sh/do-not-disrupt": "true"}
    resources = pod["containers"][0]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "2"
    assert resources["requests"]["cpu"] == Settings().default_cpu_request  # defaults still apply


@pytest.mark.parametrize(
    "bad",
    [
        {"placement": {"tolerations": [{"key": "x", "operator": "Maybe"}]}},
        {"placement": {"tolerations": [{"key": "x", "effect": "NoScheduling"}]}},
        {"placement": {"nodeSelector": {"bad key!": "x"}}},
        {"placement": {"labels": {"team": "not a label value"}}},
        {"placement": {"priorityClassName": "Upper_Case"}},
        {"placement": {"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "z",
                                                      "whenUnsatisfiable": "DoNotSchedule"}]}},
        {"placement": {"nodeName": "pinned"}},
        {"resources": {"extended": {"gpu": 1}}},
        {"resources": {"extended": {"nvidia.com/gpu": -1}}},
    ],
    ids=["operator", "effect", "selector-key", "label-value", "priority-class", "max-skew",
         "unknown-field", "extended-unqualified", "extended-negative"],
)  # fmt: skip
def test_wrong_placement_is_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        spec.ExecutionSpec.model_validate({"source": {"inline": "x"}, **bad})
