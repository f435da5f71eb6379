"""Every failure is printed once, with what to do, and exits with its code from the table."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from kuberun.cli import errors, kube, main, remote
from kuberun.contract import exitcodes
from kuberun.contract.exitcodes import CommandExit
from kuberun.contract.outcome import ExitCode


class ApiError(Exception):
    def __init__(self, status: int, body: str = "", reason: str = "") -> None:
        super().__init__(reason)
        self.status, self.body, self.reason = status, body, reason


@pytest.mark.parametrize(
    "status, kind, code, words",
    [
        (404, errors.NotFound, 3, "kuberun list"),
        (403, errors.RequestFailed, 1, "roles"),
        (422, errors.UsageError, 2, "rejected"),
        (409, errors.RequestFailed, 1, "--generate-name"),
        (500, errors.RequestFailed, 1, "500"),
        (0, errors.RequestFailed, 1, "current-context"),
    ],
    ids=["not-found", "forbidden", "invalid", "conflict", "server", "unreachable"],
)
def test_api_failures_become_one_error_with_the_servers_words(
    status: int, kind: type[errors.CliError], code: int, words: str
) -> None:
    body = '{"kind": "Status", "message": "executions.kuberun.dev \\"x\\" the words"}'
    error = kube.translate(ApiError(status, body, "Reason"), "execution ns/x")
    assert isinstance(error, kind) and error.code == code
    assert words in error.render()
    if status:
        assert 'executions.kuberun.dev "x" the words' in error.message


def test_dispatch_prints_an_error_exactly_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def connect(args: argparse.Namespace) -> Any:
        raise kube.translate(ApiError(404, '{"message": "not there"}'), "execution ns/gone")

    monkeypatch.setattr(remote, "connect", connect)
    code = main.dispatch(main.build_parser().parse_args(["get", "gone"]))
    captured = capsys.readouterr()
    assert code == int(CommandExit.NOT_FOUND)
    assert captured.out == ""
    assert captured.err.count("not there") == 1
    assert captured.err.splitlines() == [
        "kuberun: execution ns/gone: not there",
        "  hint: list the namespace's executions with: kuberun list",
    ]


def test_a_usage_error_in_run_is_printed_once(capsys: pytest.CaptureFixture[str]) -> None:
    code = main.dispatch(main.build_parser().parse_args(["run", "/nonexistent/flow.py"]))
    err = capsys.readouterr().err
    assert code == 2 and err.count("no such file or directory") == 1


def test_logs_without_a_source_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    code = main.dispatch(main.build_parser().parse_args(["logs", "x", "--api", ""]))
    err = capsys.readouterr().err
    assert code == 2 and err.count("kuberun:") == 1 and "KUBERUN_API_URL" in err


@pytest.mark.parametrize(
    "phase, code",
    [
        ("SUCCESS", 0),
        ("COMPLETED_WITH_ERRORS", 10),
        ("FAILED", 11),
        ("TIMED_OUT", 12),
        ("CANCELLED", 13),
        ("RUNNING", 11),
        (None, 11),
        ("bogus", 11),
    ],
)
def test_exit_code_table(phase: str | None, code: int) -> None:
    assert exitcodes.for_phase(phase) == code


def test_command_codes_never_collide_with_verdict_codes() -> None:
    verdicts = {int(c) for c in ExitCode} - {0}
    assert not verdicts & ({int(c) for c in CommandExit} - {0})
