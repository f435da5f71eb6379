"""`kuberun logs -f` against a live Execution: every line in order, then it stops by itself."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from e2e import harness
from e2e.operator import support

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_follow_prints_the_whole_run_and_exits_when_it_ends(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    code = "import time\nfor i in range(6):\n    print('tick', i)\n    time.sleep(0.5)\n"
    support.create(cluster, kx_namespace, support.execution("ticker", code))
    assert operator.redis_url is not None
    follower = subprocess.run(
        [
            sys.executable, "-m", "kuberun.cli", "logs", "ticker",
            "-n", kx_namespace, "-f",
            "--redis", operator.redis_url,
        ],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )  # fmt: skip
    assert follower.returncode == 0, follower.stderr
    lines = follower.stdout.splitlines()
    ticks = [line.split(": ", 1)[1] for line in lines if ": tick " in line]
    assert ticks == [f"tick {i}" for i in range(6)]
    assert "queued" in lines[0]
    assert "SUCCESS" in lines[-1]  # the runner's final record: nothing after the end is missed
    assert support.status(cluster, kx_namespace, "ticker")["phase"] == "SUCCESS"
