"""Pure parts of the process kubelet: image table, quantities, env expansion, statuses.

No cluster needed (no ``e2e`` marker): these run with the unit tests.
"""

from __future__ import annotations

import sys

import pytest

from e2e.kubelet import envs, fields, images, statuses

pytestmark = pytest.mark.timeout(2)

PY = sys.executable


@pytest.mark.parametrize(
    ("image", "command", "args", "expected"),
    [
        ("kuberun/runner:dev", [], [], [PY, "-m", "kuberun.runtime"]),
        (
            "ghcr.io/acme/kuberun/runner@sha256:00",
            [],
            ["--x"],
            [PY, "-m", "kuberun.runtime", "--x"],
        ),
        ("kuberun/runner:dev", ["python", "-c", "1"], [], [PY, "-c", "1"]),
        ("kuberun/operator:1", [], [], [PY, "-m", "kuberun_operator"]),
        ("python:3.11-slim", [], [], [PY]),
        ("docker.io/library/python:3.12", [], ["python3", "-c", "1"], [PY, "-c", "1"]),
        ("python:3.11", ["/usr/local/bin/python", "x.py"], ["a"], [PY, "x.py", "a"]),
        ("busybox", [], ["sh", "-c", "echo"], ["sh", "-c", "echo"]),
        ("localhost:5000/tool:1", ["env"], [], ["env"]),
    ],
    ids=[
        "runner",
        "runner-registry",
        "runner-command",
        "operator",
        "python-cmd",
        "python-args",
        "python-path",
        "busybox-args",
        "registry-port",
    ],
)
def test_image_table_resolves_like_a_runtime(image, command, args, expected) -> None:
    assert images.resolve(images.load(), image, command, args) == expected


def test_unknown_image_without_command_cannot_run() -> None:
    with pytest.raises(images.ImageError):
        images.resolve(images.load(), "nginx:latest", [], [])


def test_image_table_can_be_replaced(tmp_path, monkeypatch) -> None:
    table = tmp_path / "images.json"
    table.write_text('{"rules": [{"match": "*", "entrypoint": ["/bin/true"], "cmd": null}]}')
    monkeypatch.setenv("KUBERUN_KUBELET_IMAGES", str(table))
    assert images.resolve(images.load(), "anything", [], ["x"]) == ["/bin/true", "x"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", 0.5),
        ("2", 2),
        ("64Mi", 64 << 20),
        ("1G", 1e9),
        ("1.5Gi", 1.5 * 2**30),
        ("1e3", 1000),
    ],
)
def test_quantities(text, value) -> None:
    assert fields.quantity(text) == value


def test_bad_quantity_is_an_error() -> None:
    with pytest.raises(fields.FieldError):
        fields.quantity("12parsecs")


def test_env_expansion_follows_kubernetes() -> None:
    env = {"A": "1", "B": "two"}
    assert envs.expand("$(A)-$(B)-$(C)-$$(A)", env) == "1-two-$(C)-$(A)"


def test_termination_message_falls_back_to_logs_only_on_error() -> None:
    fallback = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    assert statuses.termination_message(fallback, b"", b"a\nb\n", 1) == "a\nb"
    assert statuses.termination_message(fallback, b"", b"a\nb\n", 0) == ""
    assert statuses.termination_message({}, b"", b"a\n", 1) == ""
    assert statuses.termination_message({}, b"x" * 5000, b"", 0) == "x" * 4096


@pytest.mark.parametrize(
    ("exit_info", "oom", "reason", "code"),
    [
        ({"exitCode": 0}, False, "Completed", 0),
        ({"exitCode": 3}, False, "Error", 3),
        ({"exitCode": 137, "signal": 9}, True, "OOMKilled", 137),
        ({"exitCode": 137, "signal": 9}, False, "Error", 137),
        ({"exitCode": 128, "reason": "StartError"}, False, "StartError", 128),
    ],
    ids=["ok", "error", "oom", "killed", "start-error"],
)
def test_terminated_state(exit_info, oom, reason, code) -> None:
    state = statuses.terminated(exit_info, oom_killed=oom, message="", attempt_id="x")
    assert (state["reason"], state["exitCode"]) == (reason, code)


def test_condition_transition_time_changes_only_with_status(monkeypatch) -> None:
    conditions = statuses.Conditions()
    monkeypatch.setattr(statuses, "now", lambda: "T1")
    conditions.set("Ready", True)
    monkeypatch.setattr(statuses, "now", lambda: "T2")
    conditions.set("Ready", True)
    assert conditions.render()[0]["lastTransitionTime"] == "T1"
    conditions.set("Ready", False, "PodCompleted")
    assert conditions.render()[0]["lastTransitionTime"] == "T2"
