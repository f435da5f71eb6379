"""Runner pod placement: the operator's defaults merged with an Execution's own, then applied.

Pure. `manifests.build_job_manifest` calls `merge` and `apply_to_pod`. The
merge rule (also in docs/operator.md), field by field:

    nodeSelector, labels, annotations   merged key by key; the Execution wins a key
    tolerations, topologySpread-        defaults first, then the Execution's; exact
    Constraints, imagePullSecrets       duplicates dropped (pull Secrets by name)
    affinity                            the Execution's replaces the default whole
    priorityClassName                   the Execution's, else the default

Lists add up because a platform's tolerations (a tainted pool) must keep working
when a user adds one; affinity is replaced because its terms combine by OR and
AND in ways a mechanical merge would silently change. kuberun's own pod labels
are applied after both, so no label can break the operator's selectors.
"""

from __future__ import annotations

from typing import Any

from kuberun.contract import spec


def _unique(items: list[Any], key: Any = None) -> list[Any]:
    seen: list[Any] = []
    out = []
    for item in items:
        mark = key(item) if key else item
        if mark in seen:
            continue
        seen.append(mark)
        out.append(item)
    return out


def merge(default: spec.Placement | None, own: spec.Placement | None) -> spec.Placement:
    """The placement of a runner pod: `own` (the Execution's) over `default` (the operator's)."""
    base = default or spec.Placement()
    mine = own or spec.Placement()
    return spec.Placement(
        node_selector={**base.node_selector, **mine.node_selector},
        tolerations=_unique([*base.tolerations, *mine.tolerations]),
        affinity=mine.affinity if mine.affinity is not None else base.affinity,
        topology_spread_constraints=_unique(
            [*base.topology_spread_constraints, *mine.topology_spread_constraints]
        ),
        priority_class_name=mine.priority_class_name or base.priority_class_name,
        image_pull_secrets=_unique(
            [*base.image_pull_secrets, *mine.image_pull_secrets], key=lambda s: s.name
        ),
        labels={**base.labels, **mine.labels},
        annotations={**base.annotations, **mine.annotations},
    )


def _dump(model: spec.Model) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def apply_to_pod(template: dict[str, Any], placement: spec.Placement) -> None:
    """Write `placement` into a pod template (`{"metadata", "spec"}`) in place.

    The template's existing labels (kuberun's own) win over the placement's.
    """
    meta = template.setdefault("metadata", {})
    pod = template["spec"]
    if placement.labels:
        meta["labels"] = {**placement.labels, **meta.get("labels", {})}
    if placement.annotations:
        meta["annotations"] = {**meta.get("annotations", {}), **placement.annotations}
    if placement.node_selector:
        pod["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        pod["tolerations"] = [_dump(t) for t in placement.tolerations]
    if placement.affinity is not None:
        pod["affinity"] = _dump(placement.affinity)
    if placement.topology_spread_constraints:
        pod["topologySpreadConstraints"] = [_dump(c) for c in placement.topology_spread_constraints]
    if placement.priority_class_name:
        pod["priorityClassName"] = placement.priority_class_name
    if placement.image_pull_secrets:
        pod["imagePullSecrets"] = [_dump(s) for s in placement.image_pull_secrets]
