"""`kuberun schedules`: a workspace's scheduled workflows as ScheduledExecution manifests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from kuberun.cli import main, schedules
from kuberun.contract import schedule

WORKSPACE = {
    "jobs.py": """
        from kuberun import workflow

        @workflow(schedule="*/15 * * * *", timeout_seconds=120, retry_policy={"max_attempts": 3})
        def Sync_Accounts():
            return 1

        @workflow(name="nightly.report", schedule="0 2 * * *")
        def report():
            return 2

        @workflow()
        def on_demand():
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


def test_one_manifest_per_scheduled_workflow(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        [
            "schedules",
            str(workspace),
            "--source-path",
            "/workspace",
            "--image",
            "example/app:1",
            "-n",
            "team-a",
            "--time-zone",
            "Europe/Berlin",
            "--concurrency-policy",
            "Forbid",
        ],
        capsys,
    )
    assert code == 0
    docs = [d for d in yaml.safe_load_all(out) if d]
    by_workflow = {d["metadata"]["annotations"][schedules.WORKFLOW_ANNOTATION]: d for d in docs}
    assert set(by_workflow) == {"Sync_Accounts", "nightly.report"}
    sync = by_workflow["Sync_Accounts"]
    assert sync["kind"] == schedule.KIND and sync["metadata"]["namespace"] == "team-a"
    assert sync["spec"]["schedule"] == "*/15 * * * *"
    assert sync["spec"]["timeZone"] == "Europe/Berlin"
    assert sync["spec"]["concurrencyPolicy"] == "Forbid"
    assert sync["spec"]["executionTemplate"]["spec"] == {
        "source": {"path": "/workspace"},
        "entrypoint": "Sync_Accounts",
        "timeoutSeconds": 120,
        "retry": {"limit": 2},
        "image": "example/app:1",
    }
    for doc in docs:  # what the API server's schema (the same models) accepts
        schedule.ScheduledExecutionSpec.model_validate(doc["spec"])
        assert len(doc["metadata"]["name"]) <= schedule.MAX_NAME_LENGTH


def test_names_are_dns_labels_and_stable() -> None:
    assert schedules.resource_name("", "backup") == "backup"
    odd = schedules.resource_name("", "nightly report")
    assert odd == schedules.resource_name("", "nightly report")
    assert odd.startswith("nightly-report-")
    assert odd != schedules.resource_name("", "nightly-report")
    long = schedules.resource_name("team-", "x" * 80)
    assert len(long) <= schedule.MAX_NAME_LENGTH and long.startswith("team-x")


def test_a_config_map_source_and_usage_errors(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["schedules", str(workspace / "jobs.py"), "--config-map", "code:jobs.py"], capsys
    )
    assert code == 0
    first = next(d for d in yaml.safe_load_all(out) if d)
    assert first["spec"]["executionTemplate"]["spec"]["source"] == {
        "configMap": {"name": "code", "key": "jobs.py"}
    }
    code, _, err = run_cli(["schedules", str(workspace), "--config-map", "nokey"], capsys)
    assert code == 2 and "NAME:KEY" in err
    code, _, err = run_cli(
        ["schedules", str(workspace), "--source-path", "/w", "--starting-deadline-seconds", "-1"],
        capsys,
    )
    assert code == 2 and "startingDeadlineSeconds" in err
    spaced = workspace / "more"
    spaced.mkdir()
    (spaced / "spaced_names.py").write_text(
        "from kuberun import workflow\n"
        "@workflow(name='has spaces', schedule='@daily')\n"
        "def spaced():\n    pass\n"
    )
    code, _, err = run_cli(["schedules", str(spaced), "--source-path", "/w"], capsys)
    assert code == 2 and "workflow 'has spaces'" in err and "entrypoint" in err


def test_no_scheduled_workflow_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.py").write_text(
        "from kuberun import workflow\n@workflow()\ndef a():\n    pass\n"
    )
    code, out, err = run_cli(["schedules", str(tmp_path), "--source-path", "/w"], capsys)
    assert (code, out) == (0, "") and "no workflow has a schedule" in err


def test_the_examples_scheduled_workflow(capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).resolve().parents[3] / "examples" / "schedules"
    code, out, _ = run_cli(
        ["schedules", str(examples / "nightly.py"), "--source-path", "/w"], capsys
    )
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert code == 0 and [d["metadata"]["name"] for d in docs] == ["nightly-cleanup-6f0b34"]
    assert docs[0]["spec"]["schedule"] == "0 2 * * *"
