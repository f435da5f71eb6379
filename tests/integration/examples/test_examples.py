"""Every example does what examples/README.md promises, through `kuberun run --output json`.

The files under examples/ run as a newcomer runs them; the inline code of
each manifest in examples/executions/ runs with the manifest's entrypoint,
parameters and timeout, so a manifest cannot drift from working code.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
KUBERUN = [sys.executable, "-m", "kuberun.cli"]


def kuberun_run(
    *args: str, timeout: float = 60
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """Exit code, the final JSON object (stdout) and the records (JSON lines on stderr)."""
    completed = subprocess.run(
        [*KUBERUN, "run", *args, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert completed.stdout.strip(), completed.stderr
    final = json.loads(completed.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in completed.stderr.splitlines() if line.startswith("{")]
    return completed.returncode, final, records


def messages(records: list[dict[str, Any]], logger: str) -> list[str]:
    return [r["message"] for r in records if r.get("logger") == logger]


def test_hello() -> None:
    code, final, records = kuberun_run("examples/hello.py")
    assert (code, final["status"]) == (0, "SUCCESS")
    assert final["result"]["greeting"] == "hello kuberun"
    assert [r["source"] for r in records[:2]] == ["stdout", "log"]  # print, then logging


def test_hello_traced_shows_the_script_variables() -> None:
    _, final, _ = kuberun_run("examples/hello.py", "--trace")
    variables = final["variables"]
    assert variables["words"] == ["hello", "kuberun"]
    assert "platform" not in variables and "logging" not in variables  # modules are code


def test_workflow_with_parameters_and_helper_module() -> None:
    code, final, records = kuberun_run(
        "examples/workflows", "--entrypoint", "greet",
        "-p", "name=Ada", "-p", "times:=2", "-p", "loud:=true", "-p", "ticket=OPS-42",
    )  # fmt: skip
    assert (code, final["status"]) == (0, "SUCCESS")
    assert final["result"]["greetings"] == ["HELLO, ADA!", "HELLO, ADA!"]
    assert final["result"]["unused_parameters"] == {"ticket": "OPS-42"}
    assert messages(records, "text") == ["shouting 'Hello, Ada'"] * 2  # the helper's logger


def test_identity_flags_reach_the_workflow() -> None:
    _, final, _ = kuberun_run(
        "examples/workflows", "--entrypoint", "greet", "-p", "name=Ada", "-p", "times=1",
        "--org", "acme", "--org-name", "Acme Corp", "--user", "g1", "--user-name", "Grace Hopper",
    )  # fmt: skip
    assert final["status"] == "SUCCESS", final
    assert (final["result"]["organization"], final["result"]["greeted_by"]) == (
        "Acme Corp",
        "Grace Hopper",
    )


def test_params_are_checked_before_the_workflow_runs() -> None:
    code, final, records = kuberun_run(
        "examples/workflows", "--entrypoint", "greet", "-p", "name=Ada", "-p", "times=11"
    )
    assert (code, final["status"], final["reason"]) == (11, "FAILED", "InvalidParameters")
    assert final["error"]["message"] == (
        "parameter 'times' (How many times): must be at most 10, got 11"
    )
    assert not messages(records, "greet")


def test_config_secrets_files_and_integrations() -> None:
    code, final, records = kuberun_run(
        "examples/workflows", "--entrypoint", "export_report",
        "--config-file", "examples/config.env", "--secrets-file", "examples/secrets.env",
        "--integration", "crm=examples/integrations/crm.json",
    )  # fmt: skip
    assert (code, final["status"]) == (0, "SUCCESS"), final
    assert final["result"] == {
        "title": "Weekly numbers",
        "account": "Example Ltd",
        "authorization": "Bearer ***",
        "temp_files": ["report.csv"],
        "report_lines": 4,
        "workspace_has_me": True,
    }
    assert "calling the CRM with key ***" in messages(records, "reports")
    everything = json.dumps([final, records])
    assert "example-crm-key-0000" not in everything
    assert "example-access-token-0000" not in everything


def test_config_missing_integration_is_handled_by_the_code() -> None:
    code, final, records = kuberun_run("examples/workflows", "--entrypoint", "export_report")
    assert (code, final["status"]) == (0, "SUCCESS"), final
    assert final["result"]["title"] == "Report" and final["result"]["account"] is None
    assert any("'crm' is not configured" in m for m in messages(records, "reports"))


def test_params_file_then_overrides() -> None:
    _, final, _ = kuberun_run(
        "examples/workflows", "--entrypoint", "greet",
        "--params-file", "examples/params.json", "-p", "name=Bob",
    )  # fmt: skip
    assert final["result"]["greetings"] == ["Hello, Bob", "Hello, Bob"]
    assert final["result"]["unused_parameters"] == {"ticket": "OPS-7"}


def test_success_false_is_completed_with_errors() -> None:
    code, final, records = kuberun_run("examples/workflows", "--entrypoint", "check_orders")
    assert (code, final["status"]) == (10, "COMPLETED_WITH_ERRORS")
    assert final["result"]["errors"] == [{"order": 2, "error": "quantity must be positive"}]
    assert "order 2 has quantity -1" in messages(records, "orders")


def test_user_error_is_failed_with_its_message() -> None:
    code, final, _ = kuberun_run(
        "examples/workflows", "--entrypoint", "import_orders", "-p", "source=ftp://x"
    )
    assert (code, final["status"], final["reason"]) == (11, "FAILED", "UserError")
    assert final["error"]["message"] == "source must be an https:// URL, got 'ftp://x'"


def test_data_provider_returns_options() -> None:
    code, final, _ = kuberun_run(
        "examples/data_providers.py", "--entrypoint", "regions", "-p", "cloud=gcp"
    )
    assert (code, final["status"]) == (0, "SUCCESS")
    assert [o["value"] for o in final["result"]] == ["us-central1", "europe-west1"]
    assert all(set(o) == {"label", "value", "metadata"} for o in final["result"])


def test_data_provider_of_strings_and_config() -> None:
    _, final, _ = kuberun_run(
        "examples/data_providers.py", "--entrypoint", "departments", "--config", "departments=HR,IT"
    )
    assert final["result"] == [{"label": "HR", "value": "HR"}, {"label": "IT", "value": "IT"}]


def test_inspect_lists_the_examples_for_forms() -> None:
    completed = subprocess.run(
        [*KUBERUN, "inspect", "examples/workflows", "--output", "json"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    catalog = json.loads(completed.stdout)
    names = {w["name"]: w for w in catalog["workflows"]}
    assert set(names) == {"greet", "check_orders", "import_orders", "export_report"}
    greet = {f["name"]: f for f in names["greet"]["parameters"]}
    assert (greet["name"]["label"], greet["name"]["helpText"]) == (
        "Who to greet",
        "A first name will do",
    )
    assert names["greet"]["category"] == "Examples" and catalog["errors"] == []


def test_cancellable_times_out() -> None:
    started = time.monotonic()
    code, final, records = kuberun_run(
        "examples/cancellable.py", "--entrypoint", "count_slowly", "--timeout", "2"
    )
    assert (code, final["status"], final["reason"]) == (12, "TIMED_OUT", "DeadlineExceeded")
    assert messages(records, "count_slowly")[0].startswith("tick 0")
    assert time.monotonic() - started < 20


def test_cancellable_cancelled_by_ctrl_c() -> None:
    process = subprocess.Popen(
        [*KUBERUN, "run", "examples/cancellable.py", "--entrypoint", "count_slowly",
         "--output", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:  # wait for the first tick: the code is running
            if '"tick 0' in line:
                break
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    final = json.loads(stdout.strip().splitlines()[-1])
    assert (process.returncode, final["status"]) == (13, "CANCELLED")


# --- the manifests' inline code, run as the operator would run it ------------

EXPECTED_PHASE = {
    "hello.yaml": "SUCCESS",
    "workflow-parameters.yaml": "SUCCESS",
    "timeout.yaml": "TIMED_OUT",
    "data-provider.yaml": "SUCCESS",
    "gpu-placement.yaml": "SUCCESS",  # placement matters only on a cluster; the code runs anywhere
    # cancel.yaml: runs until cancelled (test_cancellable_cancelled_by_ctrl_c is the same loop)
    # configmap.yaml: no inline code; it is examples/workflows/orders.py (tested above)
}


def _inline_spec(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((EXAMPLES / "executions" / name).read_text())
    spec: dict[str, Any] = doc["spec"]
    return spec


@pytest.mark.parametrize("name", sorted(EXPECTED_PHASE))
def test_manifest_inline_code(name: str, tmp_path: Path) -> None:
    spec = _inline_spec(name)
    script = tmp_path / "code.py"
    script.write_text(spec["source"]["inline"])
    args = [str(script), "--timeout", str(spec.get("timeoutSeconds", 60))]
    if spec.get("entrypoint"):
        args += ["--entrypoint", spec["entrypoint"]]
    for key, value in spec.get("parameters", {}).items():
        args += ["-p", f"{key}:={json.dumps(value)}"]
    if spec.get("tracing"):
        args.append("--trace")
    _, final, _ = kuberun_run(*args)
    assert final["status"] == EXPECTED_PHASE[name], final


def test_every_manifest_is_covered() -> None:
    names = {p.name for p in (EXAMPLES / "executions").glob("*.yaml")}
    assert names == set(EXPECTED_PHASE) | {"cancel.yaml", "configmap.yaml"}
    cancel = _inline_spec("cancel.yaml")
    assert "context.check_cancelled()" in cancel["source"]["inline"]
    assert _inline_spec("configmap.yaml")["entrypoint"] == "check_orders"
