"""Run the real runner process (`python -m kuberun.runtime`) with a request file, and read
what it left behind: exit code, termination summary, stream records, result key."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import redis

from kuberun.contract import keys, logrecord, outcome, request, spec
from kuberun.contract.identity import ExecutionIdentity


def make_request(
    *,
    inline: str | None = None,
    path: Path | None = None,
    entrypoint: str | None = None,
    parameters: dict[str, Any] | None = None,
    timeout: int = 60,
    grace: int = 2,
    log_level: str = "DEBUG",
    attempt: int = 1,
) -> request.RunRequest:
    source = spec.Source(inline=inline) if inline is not None else spec.Source(path=str(path))
    return request.RunRequest(
        identity=ExecutionIdentity(
            namespace="team-a", name="run", uid=uuid.uuid4().hex, attempt=attempt
        ),
        spec=spec.ExecutionSpec(
            source=source,
            entrypoint=entrypoint,
            parameters=parameters or {},
            timeout_seconds=timeout,
            grace_period_seconds=grace,
            log_level=spec.LogLevel(log_level),
        ),
        source_path=str(path) if path is not None else None,
    )


@dataclass
class Runner:
    process: subprocess.Popen[bytes]
    directory: Path
    request: request.RunRequest

    def wait(self, timeout: float = 60) -> Finished:
        peak = 0
        deadline = time.monotonic() + timeout
        ps = psutil.Process(self.process.pid)
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"runner still running after {timeout} s")
            with contextlib.suppress(psutil.Error):
                peak = max(peak, ps.memory_info().rss)
            time.sleep(0.02)
        summary_file = self.directory / "termination-log"
        raw = summary_file.read_bytes() if summary_file.exists() else b""
        return Finished(
            code=self.process.returncode,
            summary=outcome.TerminationSummary.decode(raw) if raw else None,
            summary_bytes=len(raw),
            stdout=(self.directory / "stdout").read_text("utf-8", "replace"),
            stderr=(self.directory / "stderr").read_text("utf-8", "replace"),
            peak_rss=peak,
        )


@dataclass
class Finished:
    code: int
    summary: outcome.TerminationSummary | None
    summary_bytes: int
    stdout: str
    stderr: str
    peak_rss: int


# Added to every runner's environment (a module's fixture runs its tests in both delivery
# modes through it); a test's own `env` comes after it.
EXTRA_ENV: dict[str, str] = {}


def start(
    directory: Path,
    req: request.RunRequest,
    *,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
) -> Runner:
    directory.mkdir(parents=True, exist_ok=True)
    request_file = directory / "request.json"
    request_file.write_text(req.model_dump_json(by_alias=True))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERUN_")}
    full_env[request.REQUEST_FILE_ENV] = str(request_file)
    full_env[request.TERMINATION_LOG_ENV] = str(directory / "termination-log")
    if redis_url is not None:
        full_env[request.REDIS_URL_ENV] = redis_url
    full_env.update(EXTRA_ENV)
    full_env.update(env or {})
    with open(directory / "stdout", "wb") as out, open(directory / "stderr", "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "kuberun.runtime"],
            env=full_env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    return Runner(process, directory, req)


def run(
    directory: Path,
    req: request.RunRequest,
    *,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Finished:
    return start(directory, req, redis_url=redis_url, env=env).wait(timeout)


def stream(client: redis.Redis, req: request.RunRequest) -> list[tuple[str, logrecord.LogRecord]]:
    """(entry id, record) of every entry of the execution's stream, in stream order."""
    key = keys.logs_stream(req.identity.namespace, req.identity.uid)
    entries: list[tuple[str, logrecord.LogRecord]] = []
    last = "-"
    while True:
        batch: Any = client.xrange(key, min=last, count=10_000)
        if last != "-":
            batch = batch[1:]
        if not batch:
            return entries
        for entry_id, fields in batch:
            ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            entries.append((ident, logrecord.LogRecord.from_fields(fields)))
        last = entries[-1][0]


def messages(client: redis.Redis, req: request.RunRequest) -> list[str]:
    return [record.message for _, record in stream(client, req)]


def result(client: redis.Redis, req: request.RunRequest) -> outcome.RunResult:
    ident = req.identity
    raw: Any = client.get(keys.result(ident.namespace, ident.uid, ident.attempt))
    assert raw is not None, "no result in Redis"
    return outcome.RunResult.model_validate_json(raw)


def ttl(client: redis.Redis, key: str) -> int:
    value: Any = client.ttl(key)
    return int(value)
