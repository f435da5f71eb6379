"""`python -m kuberun.runtime` / `kuberun-runner`: run the request in `$KUBERUN_REQUEST_FILE`.

The runner image's entrypoint, and what `kuberun run` spawns locally. Exit
codes: `kuberun.contract.outcome.ExitCode` (0 only for SUCCESS; see
docs/runner.md). The process ends with `os._exit` once everything is
delivered, so threads the code left running cannot hold it open.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import pydantic

from kuberun.contract import outcome
from kuberun.contract.phases import Phase, Reason
from kuberun.contract.request import RunRequest
from kuberun.runtime import reporting, settings
from kuberun.runtime.echoing import Warn
from kuberun.runtime.running import Execution


def _invalid(termination_log: str, message: str, started: float) -> int:
    """Report a request the runner cannot use: stderr, termination summary, exit code 14."""
    warn = Warn(2)
    warn(f"kuberun: invalid request: {message}")
    result = outcome.RunResult(
        status=Phase.FAILED,
        reason=Reason.INVALID_REQUEST,
        error=outcome.ErrorInfo(type="InvalidRequest", message=message),
        started_at=started,
        finished_at=time.time(),
    )
    reporting.write_summary(termination_log, result, warn)
    return int(outcome.ExitCode.INVALID_REQUEST)


def read_request(path: str) -> RunRequest:
    """The request file; OSError or pydantic.ValidationError when it is missing or wrong."""
    return RunRequest.model_validate_json(Path(path).read_bytes())


def run(environ: dict[str, str]) -> int:
    started = time.time()
    try:
        config = settings.from_environ(environ)
    except settings.SettingsError as exc:
        termination_log = environ.get("KUBERUN_TERMINATION_LOG") or "/dev/termination-log"
        return _invalid(termination_log, str(exc), started)
    try:
        request = read_request(config.request_file)
    except OSError as exc:
        return _invalid(
            config.termination_log, f"cannot read {config.request_file}: {exc}", started
        )
    except pydantic.ValidationError as exc:
        return _invalid(
            config.termination_log, f"{config.request_file} is not a valid request: {exc}", started
        )
    return Execution(config, request, started=started).run()


def main() -> NoReturn:
    code = run(dict(os.environ))
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
