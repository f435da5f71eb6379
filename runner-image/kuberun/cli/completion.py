"""`kuberun completion bash|zsh`: a shell completion script, written from the parser itself.

Why not argcomplete or shtab: argcomplete starts Python (and imports the CLI)
on every Tab press, which is slow; shtab is one more dependency. The parser
already knows every command and option, so a static script is printed from
it: commands, their options, files for paths, and Execution names (from
`kuberun list -o name`, run only when a name is completed). zsh uses the same
script through `bashcompinit`.
"""

from __future__ import annotations

import argparse

NAME_COMMANDS = ("get", "logs", "wait", "cancel", "retry", "delete")
PATH_COMMANDS = ("run", "submit", "inspect", "schedules", "endpoints")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    found: list[str] = []
    for action in parser._actions:
        found.extend(s for s in action.option_strings if s.startswith("--"))
    return sorted(set(found))


def bash_script(parser: argparse.ArgumentParser, prog: str = "kuberun") -> str:
    """The bash completion function for `parser`. Pure."""
    commands = _subparsers(parser)
    cases = []
    for name, sub in sorted(commands.items()):
        nested = _subparsers(sub)
        words = _options(sub) + sorted(nested)
        for child in nested.values():
            words += _options(child)
        cases.append(f'    {name}) opts="{" ".join(sorted(set(words)))}" ;;')
    top = " ".join([*sorted(commands), *_options(parser)])
    function = "_" + prog.replace("-", "_")
    return "\n".join(
        [
            f"# {prog} completion (bash); load with: source <({prog} completion bash)",
            f"{function}() {{",
            '  local cur="${COMP_WORDS[COMP_CWORD]}" cmd="" opts="" i',
            "  for ((i = 1; i < COMP_CWORD; i++)); do",
            '    case "${COMP_WORDS[i]}" in -*) ;; *) cmd="${COMP_WORDS[i]}"; break ;; esac',
            "  done",
            '  case "$cmd" in',
            f'    "") COMPREPLY=($(compgen -W "{top}" -- "$cur")); return ;;',
            *cases,
            "  esac",
            '  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); return; fi',
            '  case "$cmd" in',
            f"    {'|'.join(NAME_COMMANDS)})",
            f'      COMPREPLY=($(compgen -W "$({prog} list -o name 2>/dev/null'
            ' | sed \'s#.*/##\')" -- "$cur")) ;;',
            f'    {"|".join(PATH_COMMANDS)}) COMPREPLY=($(compgen -f -- "$cur")) ;;',
            "  esac",
            "}",
            f"complete -o default -F {function} {prog}",
            "",
        ]
    )


def zsh_script(parser: argparse.ArgumentParser, prog: str = "kuberun") -> str:
    """zsh runs the bash function through `bashcompinit` (part of zsh)."""
    return (
        f"# {prog} completion (zsh); load with: source <({prog} completion zsh)\n"
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser, prog)
    )
