"""Run a module's runner tests in both delivery modes: the pipeline as a thread of the
code's process (the default) and as a process of its own (`KUBERUN_DELIVERY_PROCESS=1`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kuberun.runtime.settings import DELIVERY_PROCESS_ENV
from tests.integration.runtime import runner


@pytest.fixture(autouse=True, params=["thread", "process"])
def delivery_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    env = {DELIVERY_PROCESS_ENV: "1"} if request.param == "process" else {}
    monkeypatch.setattr(runner, "EXTRA_ENV", env)
    yield str(request.param)
