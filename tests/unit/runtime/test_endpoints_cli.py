"""`kuberun endpoints`: a workspace's endpoint-enabled workflows as WorkflowEndpoint manifests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from kuberun.cli import main, schedules
from kuberun.contract import endpoint

WORKSPACE = {
    "hooks.py": """
        from kuberun import workflow

        @workflow(endpoint_enabled=True, allowed_methods=["get", "POST"], timeout_seconds=60)
        def lookup(customer: str):
            return customer

        @workflow(name="orders.ingest", endpoint_enabled=True, execution_mode="async",
                  public_endpoint=True)
        def ingest(order: dict):
            return 1

        @workflow()
        def internal():
            return 3
    """,
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    for name, text in WORKSPACE.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main.main(args)
    out = capsys.readouterr()
    return int(exited.value.code or 0), out.out, out.err


def test_one_manifest_per_endpoint_enabled_workflow(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["endpoints", str(workspace), "--source-path", "/workspace", "--image", "app:1",
         "-n", "team-a", "--sync-timeout-seconds", "90"],
        capsys,
    )  # fmt: skip
    assert code == 0
    docs = [d for d in yaml.safe_load_all(out) if d]
    by_workflow = {d["metadata"]["annotations"][schedules.WORKFLOW_ANNOTATION]: d for d in docs}
    assert set(by_workflow) == {"lookup", "orders.ingest"}
    lookup = by_workflow["lookup"]
    assert lookup["kind"] == endpoint.KIND and lookup["metadata"]["namespace"] == "team-a"
    assert lookup["metadata"]["name"] == "lookup"
    assert lookup["spec"]["allowedMethods"] == ["GET", "POST"]
    assert lookup["spec"]["executionMode"] == "sync"  # bifrost's default for endpoints
    assert lookup["spec"]["public"] is False
    assert lookup["spec"]["syncTimeoutSeconds"] == 90
    assert lookup["spec"]["executionTemplate"]["spec"] == {
        "source": {"path": "/workspace"},
        "entrypoint": "lookup",
        "timeoutSeconds": 60,
        "image": "app:1",
    }
    ingest = by_workflow["orders.ingest"]
    assert ingest["metadata"]["name"] != "orders.ingest"  # dots are not DNS labels here
    assert ingest["spec"]["executionMode"] == "async"
    assert ingest["spec"]["public"] is True
    assert ingest["spec"]["allowedMethods"] == ["POST"]
    for doc in docs:  # what is printed is what the CRD's models accept
        endpoint.WorkflowEndpointSpec.model_validate(doc["spec"])


def test_config_map_source_and_no_endpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain.py").write_text(
        "from kuberun import workflow\n@workflow()\ndef a():\n    return 1\n"
    )
    code, out, err = run_cli(
        ["endpoints", str(tmp_path / "plain.py"), "--config-map", "code:plain.py"], capsys
    )
    assert code == 0 and out == ""
    assert "no workflow has endpoint_enabled" in err


def test_a_bad_timeout_names_the_workflow(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        ["endpoints", str(workspace), "--source-path", "/w", "--sync-timeout-seconds", "9999"],
        capsys,
    )
    assert code != 0
    assert "lookup" in err and "syncTimeoutSeconds" in err.replace(
        "sync_timeout_seconds", "syncTimeoutSeconds"
    )
