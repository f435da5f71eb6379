"""Why the runtime refuses to run, or refuses a result — each mapped to a status reason.

RunnerError                 (reason: what `status.reason` says)
├── InvalidSource           InvalidRequest: no code to run at the given place
├── SourceSyntaxError       SyntaxError: the code does not compile (file and line)
├── EntrypointNotFound      EntrypointNotFound: lists the available ones
├── InvalidParameters       InvalidParameters: names the missing or mistyped one
└── InvalidResult           InvalidResult: not JSON, or not a data provider's options
"""

from __future__ import annotations

from kuberun.contract.phases import Reason


class RunnerError(Exception):
    """A failure the runtime explains itself (no user traceback)."""

    reason = Reason.EXCEPTION

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSource(RunnerError):
    reason = Reason.INVALID_REQUEST


class SourceSyntaxError(RunnerError):
    reason = Reason.SYNTAX_ERROR


class EntrypointNotFound(RunnerError):
    reason = Reason.ENTRYPOINT_NOT_FOUND


class InvalidParameters(RunnerError):
    reason = Reason.INVALID_PARAMETERS


class InvalidResult(RunnerError):
    reason = Reason.INVALID_RESULT
