"""`kuberun run` starts its runner without the remote commands' dependencies: the CLI
module imports redis-py, urllib.request and the ScheduledExecution renderer only in
the commands that use them, and every command still reaches its implementation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kuberun.cli import logapi, main, remote

HEAVY = ("redis", "urllib.request", "http.client", "kuberun.cli.remote", "kuberun.cli.logapi")


def test_importing_the_cli_imports_none_of_the_remote_dependencies() -> None:
    probe = (
        f"import sys, kuberun.cli.main\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "", f"imported at start: {found}"


def test_the_help_text_names_the_log_apis_variable() -> None:
    assert main.API_URL_ENV == logapi.API_URL_ENV


def test_every_remote_command_resolves_to_its_function(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[str] = []
    names = {
        "submit": "submit_command",
        "get": "get_command",
        "list": "list_command",
        "logs": "logs_command",
        "wait": "wait_command",
        "cancel": "cancel_command",
        "retry": "retry_command",
        "delete": "delete_command",
        "cache": "cache_invalidate_command",
    }

    def stand_in(name: str) -> object:
        def command(args: object) -> int:
            called.append(name)
            return 7

        return command

    for name in names.values():
        assert callable(getattr(remote, name)), name
        monkeypatch.setattr(remote, name, stand_in(name))
    for command in names:
        argv = {"cache": ["cache", "invalidate", "p"], "list": ["list"]}.get(
            command, [command, "x"]
        )
        args = main.build_parser().parse_args(argv)
        assert main.dispatch(args) == 7, command
    assert called == list(names.values())
