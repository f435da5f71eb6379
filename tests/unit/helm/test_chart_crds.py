"""The chart ships the same CRDs as `crds/` (which the operator generates from the contract)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "crds"
CHART = ROOT / "helm" / "kuberun" / "files" / "crds"


def test_chart_has_every_crd() -> None:
    assert sorted(p.name for p in CHART.glob("*.yaml")) == sorted(
        p.name for p in SOURCE.glob("*.yaml")
    ), "copy crds/*.yaml into helm/kuberun/files/crds/"


@pytest.mark.parametrize("name", sorted(p.name for p in SOURCE.glob("*.yaml")))
def test_chart_crd_is_identical(name: str) -> None:
    assert (CHART / name).read_bytes() == (SOURCE / name).read_bytes(), (
        f"helm/kuberun/files/crds/{name} differs from crds/{name}:"
        f" cp crds/{name} helm/kuberun/files/crds/"
    )
