"""`kuberun run` starts its runner without the remote commands' dependencies or pydantic:
the CLI module imports redis-py, urllib.request, the ScheduledExecution renderer and the
contract's models only where they are used, and every command still reaches its
implementation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kuberun.cli import logapi, main, remote
from kuberun.contract import spec

HEAVY = (
    "redis",
    "urllib.request",
    "http.client",
    "pydantic",
    "importlib.metadata",
    "kuberun.sdk",
    "kuberun.cli.remote",
    "kuberun.cli.logapi",
    "kuberun.contract.spec",
)


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


def test_the_log_level_choices_are_the_models_in_its_order() -> None:
    assert list(main.LOG_LEVELS) == [level.value for level in spec.LogLevel]


def test_version_is_looked_up_when_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main.build_parser().parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"kuberun {main.version()}\n"


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
