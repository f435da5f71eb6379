"""The command line's one error type: every failure becomes a `CliError` where it enters
(a bad argument, an API status, a Redis error) and `main` prints it exactly once, as
`kuberun: <what happened>` plus one line saying what to do, and exits with its code.

    CliError(message, hint, code)
    ├── UsageError      code 2: the arguments or files are wrong
    ├── NotFound        code 3: no such Execution
    └── RequestFailed   code 1: the API server, the log API or Redis refused or failed
"""

from __future__ import annotations

from kuberun.contract.exitcodes import CommandExit


class CliError(Exception):
    """A failure the user sees once, with what to do about it."""

    code: int = int(CommandExit.REQUEST_FAILED)

    def __init__(self, message: str, hint: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def render(self) -> str:
        """`kuberun: message` and, when known, `  hint: what to do` (the one printed form)."""
        text = f"kuberun: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(CliError):
    code = int(CommandExit.USAGE)


class NotFound(CliError):
    code = int(CommandExit.NOT_FOUND)


class RequestFailed(CliError):
    code = int(CommandExit.REQUEST_FAILED)
