"""The hard deadline counted from the container's start: `deadlines.pod_deadline`, row by row."""

from __future__ import annotations

from typing import Any

import pytest

from kuberun_operator import deadlines
from kuberun_operator import statusmapping as sm
from tests.unit.operator import factories as f

RUN = 17  # timeout + grace + slack

CASES: list[tuple[str, dict[str, Any], int | None]] = [
    # The kubelet took the pod at T0; the image pull and start took 30 s.
    ("slow-start-counts-not", f.pod(started=f.T0, state=f.running(f.T0 + 30)), 30 + RUN),
    ("fast-start", f.pod(started=f.T0, state=f.running(f.T0 + 0.2)), 1 + RUN),
    ("already-set", f.pod(started=f.T0, state=f.running(f.T0 + 30), deadline=30 + RUN), None),
    ("lower-one-kept", f.pod(started=f.T0, state=f.running(f.T0 + 30), deadline=5), None),
    ("higher-one-lowered", f.pod(started=f.T0, state=f.running(f.T0 + 3), deadline=900), 3 + RUN),
    ("not-started-yet", f.pod(started=f.T0, state=f.waiting("ContainerCreating")), None),
    ("start-time-unknown", f.pod(state=f.running(f.T0 + 3)), None),
    ("ended", f.pod(started=f.T0, phase="Succeeded", state=f.terminated(0)), None),
    ("deleting", f.pod(started=f.T0, state=f.running(f.T0 + 3), deleting=True), None),
]


@pytest.mark.parametrize("pod, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pod_deadline(pod: dict[str, Any], expected: int | None) -> None:
    assert deadlines.pod_deadline(sm.pod_view(pod), RUN) == expected
