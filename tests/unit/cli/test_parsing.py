"""The command line's grammar: every command parses as documented, bad input exits 2."""

from __future__ import annotations

import pytest

from kuberun.cli import completion, main


def parse(*argv: str) -> object:
    return main.build_parser().parse_args(list(argv))


def test_submit_takes_every_documented_option() -> None:
    args = parse(
        "submit", "flow.py", "-e", "greet", "-p", "name=Ada", "-p", "n:=2", "--timeout", "30",
        "--generate-name", "nightly-", "-n", "team-a", "--watch", "--api", "http://api",
    )  # fmt: skip
    assert (args.path, args.entrypoint, args.param) == ("flow.py", "greet", ["name=Ada", "n:=2"])  # type: ignore[attr-defined]
    assert (args.timeout, args.generate_name, args.namespace) == (30, "nightly-", "team-a")  # type: ignore[attr-defined]
    assert args.watch and args.api == "http://api" and args.name is None  # type: ignore[attr-defined]


def test_name_and_generate_name_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("submit", "f.py", "--name", "a", "--generate-name", "b-")
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("output", ["table", "wide", "json", "yaml", "name"])
def test_list_outputs(output: str) -> None:
    args = parse("list", "-o", output, "-w")
    assert args.output == output and args.watch  # type: ignore[attr-defined]


def test_list_rejects_an_unknown_output() -> None:
    with pytest.raises(SystemExit) as exited:
        parse("list", "-o", "xml")
    assert exited.value.code == 2


@pytest.mark.parametrize(
    "argv, attrs",
    [
        (["logs", "x", "-f", "--since-seq", "2-7"], {"follow": True, "since_seq": "2-7"}),
        (["wait", "x", "--timeout", "5", "--exit-code"], {"timeout": 5.0, "exit_code": True}),
        (["cancel", "x", "--wait"], {"wait": True, "name": "x"}),
        (["retry", "x", "--name", "y", "-w"], {"new_name": "y", "watch": True}),
        (["delete", "a", "b"], {"names": ["a", "b"]}),
        (["cache", "invalidate", "regions", "-p", "cloud=aws"], {"provider": "regions"}),
        (["completion", "zsh"], {"shell": "zsh"}),
    ],
    ids=["logs", "wait", "cancel", "retry", "delete", "cache", "completion"],
)
def test_commands(argv: list[str], attrs: dict[str, object]) -> None:
    args = parse(*argv)
    for key, value in attrs.items():
        assert getattr(args, key) == value


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--version")
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("kuberun ")


def test_completion_scripts_know_every_command_and_option() -> None:
    parser = main.build_parser()
    bash = completion.bash_script(parser)
    for command in ("submit", "get", "list", "logs", "wait", "cancel", "retry", "delete"):
        assert f"    {command}) opts=" in bash
    assert "--since-seq" in bash and "--generate-name" in bash
    assert bash.rstrip().endswith("complete -o default -F _kuberun kuberun")
    zsh = completion.zsh_script(parser)
    assert "bashcompinit" in zsh and bash in zsh
