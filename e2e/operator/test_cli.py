"""The `kuberun` cluster commands against the real API server, operator and node: `submit
--watch` prints the logs live and exits with the outcome's code; `list -o json` parses;
get, wait, cancel, retry and delete do what they say. The CLI runs as a user runs it: a
subprocess with the cluster's kubeconfig."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from e2e import harness
from e2e.operator import support
from kuberun.contract import exitcodes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def kuberun_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "kuberun.cli", *args]


def cli_env(cluster: harness.Cluster) -> dict[str, str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "NO_COLOR": "1"}
    env.pop("KUBERUN_API_URL", None)
    env.pop("KUBERUN_REDIS_URL", None)
    return env


def kuberun(
    cluster: harness.Cluster, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        kuberun_argv(*args),
        cwd=support.REPO,
        env=cli_env(cluster),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_submit_watch_prints_the_logs_live_and_exits_with_the_outcome(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    assert operator.redis_url is not None
    redis = ("--redis", operator.redis_url)
    # One workflow and no main: it runs without --entrypoint.
    watcher = subprocess.Popen(
        kuberun_argv(
            "submit", "examples/cancellable.py", "-n", kx_namespace, "--name", "ticks",
            "-p", "limit:=6", "-p", "interval:=0.5", "--watch", *redis,
        ),
        cwd=support.REPO, env=cli_env(cluster), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert watcher.stdout is not None
    lines: list[str] = []
    phase_at_first_tick = None
    for line in watcher.stdout:
        lines.append(line.rstrip("\n"))
        if "tick 0" in line and phase_at_first_tick is None:
            phase_at_first_tick = support.status(cluster, kx_namespace, "ticks").get("phase")
    assert watcher.wait(timeout=120) == 0, watcher.stderr.read() if watcher.stderr else ""
    stderr = watcher.stderr.read() if watcher.stderr else ""
    assert phase_at_first_tick == "RUNNING", "the first line arrived only after the end"
    ticks = [match.group(0) for line in lines if (match := re.search(r"tick \d+", line))]
    assert ticks == [f"tick {i}" for i in range(6)]
    assert "ticks: SUCCESS" in stderr
    assert support.status(cluster, kx_namespace, "ticks")["phase"] == "SUCCESS"

    # A failing script: FAILED, its exit code, the error shown once.
    failed = kuberun(
        cluster, "submit", "examples/failing.py", "-n", kx_namespace, "--watch", *redis
    )
    assert failed.returncode == exitcodes.for_phase("FAILED") == 11, failed.stderr
    everything = failed.stdout + failed.stderr
    assert everything.count("the input file is empty") == 1, everything
    assert "checking the input" in failed.stdout

    # A directory: a ConfigMap with one key per file; `greet` imports its sibling `text`.
    greeted = kuberun(
        cluster, "submit", "examples/workflows", "-e", "greet", "-n", kx_namespace,
        "--name", "greeted", "-p", "name=Ada", "-p", "times:=2", "-p", "loud:=true",
        "--watch", *redis,
    )  # fmt: skip
    assert greeted.returncode == 0, greeted.stdout + greeted.stderr
    assert "HELLO, ADA" in greeted.stdout.upper()
    source = support.get(cluster, kx_namespace, "greeted")["spec"]["source"]
    assert source["configMap"] == {"name": "greeted-source", "key": "greetings.py"}
    owners = json.loads(
        cluster.kubectl(
            "-n", kx_namespace, "get", "configmap", "greeted-source", "-o",
            "jsonpath={.metadata.ownerReferences}",
        ).stdout
    )  # fmt: skip
    assert [o["name"] for o in owners] == ["greeted"]

    # A workflow that reports failure: COMPLETED_WITH_ERRORS, exit code 10.
    orders = kuberun(
        cluster, "submit", "examples/workflows/orders.py", "-e", "check_orders",
        "-n", kx_namespace, "--watch", *redis,
    )  # fmt: skip
    assert orders.returncode == 10, orders.stdout + orders.stderr
    assert "COMPLETED_WITH_ERRORS" in orders.stderr


def _names(listing: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in listing["items"]]


def test_list_get_wait_cancel_retry_delete(
    cluster: harness.Cluster, kx_namespace: str, operator: support.Operator
) -> None:
    ns = ("-n", kx_namespace)
    watching = subprocess.Popen(
        kuberun_argv("list", *ns, "-w", "-o", "json"),
        cwd=support.REPO, env=cli_env(cluster), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    events: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=lambda: events.extend(json.loads(line) for line in watching.stdout or []),
        daemon=True,
    )
    reader.start()
    created = kuberun(
        cluster, "submit", "examples/cancellable.py", *ns, "--name", "long", "-p", "limit:=600"
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "execution.kuberun.dev/long created"

    listed = kuberun(cluster, "list", *ns, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert "long" in _names(json.loads(listed.stdout))
    assert kuberun(cluster, "list", *ns, "-o", "name").stdout.split() == [
        "execution.kuberun.dev/long"
    ]
    table = kuberun(cluster, "list", *ns).stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "PHASE", "REASON"] and table[1].startswith("long ")

    support.wait_phase(cluster, kx_namespace, "long", "RUNNING", timeout=90)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
        e["object"]["metadata"]["name"] == "long"
        and (e["object"].get("status") or {}).get("phase") == "RUNNING"
        for e in list(events)
    ):
        time.sleep(0.1)
    watching.terminate()
    watching.wait(10)
    reader.join(10)
    phases = [(e["object"].get("status") or {}).get("phase") for e in events]
    assert "RUNNING" in phases, events  # `list -w`: the change arrived as a JSON line
    got = kuberun(cluster, "get", "long", *ns, "-o", "json")
    assert json.loads(got.stdout)["status"]["phase"] == "RUNNING"
    described = kuberun(cluster, "get", "long", *ns)
    assert "Phase:       RUNNING" in described.stdout

    started = time.monotonic()
    early = kuberun(cluster, "wait", "long", *ns, "--timeout", "2")
    assert early.returncode == 4, early.stderr
    assert early.stderr.count("timed out after 2 s") == 1
    assert time.monotonic() - started < 30

    cancelled = kuberun(cluster, "cancel", "long", *ns, "--wait", "--timeout", "90")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "long CANCELLED" in cancelled.stdout
    waited = kuberun(cluster, "wait", "long", *ns, "--exit-code")
    assert waited.returncode == 13 and "CANCELLED" in waited.stdout

    assert operator.redis_url is not None
    logs = kuberun(cluster, "logs", "long", *ns, "--redis", operator.redis_url, "-o", "json")
    records = [json.loads(line) for line in logs.stdout.splitlines()]
    assert len(records) > 3 and any("tick 0" in r["message"] for r in records), logs.stderr
    later = kuberun(cluster, "logs", "long", *ns, "--redis", operator.redis_url, "-o", "json",
                    "--since-seq", records[2]["id"])  # fmt: skip
    assert [json.loads(line) for line in later.stdout.splitlines()] == records[3:]

    retried = kuberun(cluster, "retry", "long", *ns, "--name", "long-again")
    assert retried.returncode == 0, retried.stderr
    old, new = (support.get(cluster, kx_namespace, n) for n in ("long", "long-again"))
    assert new["spec"]["source"] == old["spec"]["source"]
    assert new["spec"]["parameters"] == {"limit": 600}
    assert not new["spec"].get("cancel")
    assert new["metadata"]["annotations"]["kuberun.dev/retry-of"] == "long"
    support.wait_phase(cluster, kx_namespace, "long-again", "RUNNING", timeout=90)

    deleted = kuberun(cluster, "delete", "long", "long-again", *ns)
    assert deleted.returncode == 0, deleted.stderr
    gone = kuberun(cluster, "get", "long", *ns)
    assert gone.returncode == 3
    assert gone.stderr.count("kuberun:") == 1 and "hint:" in gone.stderr
