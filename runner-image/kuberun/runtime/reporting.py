"""Tell the outcome: the full `RunResult` to Redis (and the CLI's pipe), the summary to a file.

The termination-message file (`KUBERUN_TERMINATION_LOG`, default
`/dev/termination-log`) gets `TerminationSummary.encode()` — at most 4096
bytes — so the operator learns the verdict from the pod status even when
Redis is down. A file that cannot be written is reported on stderr and
otherwise ignored: the exit code still tells the story.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from kuberun.contract import keys

if TYPE_CHECKING:
    from kuberun.contract import outcome


class Setter(Protocol):
    """What writing the result needs of a Redis client (`resp.Client`)."""

    def set(self, key: str, value: bytes | str, *, ex: int | None = None) -> None: ...

    def close(self) -> None: ...


def write_result(
    client: Setter, namespace: str, uid: str, attempt: int, result: outcome.RunResult
) -> None:
    """The full result under `keys.result(...)` with the standard TTL; raises `resp.RespError`."""
    payload = result.model_dump_json(by_alias=True)
    client.set(keys.result(namespace, uid, attempt), payload, ex=keys.DEFAULT_TTL_SECONDS)


def write_summary(path: str, result: outcome.RunResult, warn: Callable[[str], None]) -> bool:
    """The termination summary into `path`; False (with a warning) if it cannot be written."""
    data = result.summary().encode()
    try:
        with open(path, "wb") as file:
            file.write(data)
    except OSError as exc:
        warn(f"kuberun: cannot write the termination summary to {path}: {exc}")
        return False
    return True


def exit_code(result: outcome.RunResult) -> int:
    """The process exit code for a verdict (see `contract.outcome.ExitCode`)."""
    from kuberun.contract import outcome

    return int(outcome.ExitCode.for_verdict(result.status, result.reason))


def safe_close(client: Setter | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
