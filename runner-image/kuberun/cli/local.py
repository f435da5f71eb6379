"""Run one execution on this machine through the real runtime, in a child process group.

Two transports, the same runtime:
- no Redis: records and the result come back over a pipe (`KUBERUN_RECORD_FD`,
  JSON lines), in the runner's order, counted by the runner as in a pod;
- with Redis: the runner writes the real stream, result and termination
  summary; this side follows the stream with XREAD BLOCK and sets the real
  cancel key on Ctrl-C.

Stopping: the first Ctrl-C asks cooperatively (SIGINT to the runner over the
pipe transport, the cancel key with Redis); a second Ctrl-C, or the deadline
plus the grace period, kills the group: SIGTERM, then SIGKILL one grace
period later. When the runner dies without a verdict, the verdict is made up
here from what is known (and says so).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from kuberun.cli import configuring
from kuberun.contract import caller, keys, logrecord, outcome, request, spec
from kuberun.contract.identity import ExecutionIdentity
from kuberun.contract.phases import Phase, Reason
from kuberun.runtime import settings as runner_settings
from kuberun.runtime.transports import parse_pipe_line

LOCAL_NAMESPACE = "local"
CANCEL_REASON = "cancelled from the command line (Ctrl-C)"
# A second Ctrl-C means now: SIGKILL follows SIGTERM after at most this long.
USER_KILL_SECONDS = 3.0
# How long after the runner exits to keep reading the pipe for output of
# grandchildren that inherited it.
_PIPE_LINGER_SECONDS = 0.5


@dataclass
class Options:
    path: str
    entrypoint: str | None = None
    parameters: dict[str, object] = field(default_factory=dict)
    timeout_seconds: int = spec.DEFAULT_TIMEOUT_SECONDS
    grace_seconds: int = spec.DEFAULT_GRACE_PERIOD_SECONDS
    tracing: bool = False
    log_level: str = "DEBUG"
    redis_url: str | None = None
    organization_id: str | None = None
    organization_name: str | None = None
    user_id: str | None = None  # None: the login name of whoever runs `kuberun run`
    user_email: str | None = None
    user_name: str | None = None
    platform_admin: bool = False
    config: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    integrations: dict[str, dict[str, str]] = field(default_factory=dict)


def local_user() -> str:
    """Who runs `kuberun run`, as the caller's id when `--user` is not given."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without /etc/passwd entry)
        return "local"


def build_request(
    options: Options, uid: str | None = None, run_dir: Path | None = None
) -> request.RunRequest:
    """The request the runtime reads; pydantic.ValidationError for bad options.

    With `run_dir`, the configuration, secrets and integrations are laid out
    under it as the operator mounts them in a pod, with a temp directory.
    """
    source = Path(options.path).resolve()
    name = "".join(c if c.isalnum() else "-" for c in source.stem.lower()).strip("-") or "local"
    organization = (
        caller.Organization(id=options.organization_id, name=options.organization_name)
        if options.organization_id
        else None
    )
    user_id = options.user_id or local_user()
    who = caller.Caller(
        user_id=user_id,
        email=options.user_email,
        name=options.user_name,
        is_platform_admin=options.platform_admin,
    )
    directories: dict[str, str] = {}
    if run_dir is not None:
        directories = {
            "config_dir": str(run_dir / "config"),
            "secrets_dir": str(run_dir / "secrets"),
            "integrations_dir": str(run_dir / "integrations"),
            "temp_dir": str(run_dir / "tmp"),
        }
    return request.RunRequest(
        identity=ExecutionIdentity(
            namespace=LOCAL_NAMESPACE, name=name[:63], uid=uid or uuid.uuid4().hex, attempt=1
        ),
        spec=spec.ExecutionSpec(
            source=spec.Source(path=str(source)),
            entrypoint=options.entrypoint,
            parameters=options.parameters,
            timeout_seconds=options.timeout_seconds,
            grace_period_seconds=options.grace_seconds,
            tracing=options.tracing,
            log_level=spec.LogLevel(options.log_level.upper()),
            organization=options.organization_id,
            caller=user_id,
        ),
        source_path=str(source),
        organization=organization,
        caller=who,
        **directories,
    )


def write_mounts(options: Options, req: request.RunRequest) -> None:
    """The run's configuration, secrets and integrations as files, as a pod's mounts are."""
    if req.config_dir:
        configuring.write_values(Path(req.config_dir), options.config)
    if req.secrets_dir:
        configuring.write_values(Path(req.secrets_dir), options.secrets)
    if req.integrations_dir:
        root = Path(req.integrations_dir)
        configuring.write_values(root, {})
        for name, values in options.integrations.items():
            configuring.write_values(root / configuring.check_key(name), values)


class LocalRun:
    """One local execution: spawn, follow, stop, and come back with a `RunResult`."""

    def __init__(
        self,
        options: Options,
        on_record: Callable[[logrecord.LogRecord], None],
        notice: Callable[[str], None],
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self.options = options
        self.on_record = on_record
        self.notice = notice
        self.flush = flush  # after each chunk of records: output is buffered in between
        self._dir = Path(tempfile.mkdtemp(prefix="kuberun-run-"))
        try:
            self.request = build_request(options, run_dir=self._dir)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._termination = self._dir / "termination-log"
        self._process: subprocess.Popen[bytes] | None = None
        self._interrupts = 0
        self._killed_by: str | None = None  # "deadline" or "user"
        self._sigkill_at: float | None = None
        self._result: outcome.RunResult | None = None
        self._last_sequence = 0
        self._client = redis.Redis.from_url(options.redis_url) if options.redis_url else None

    # --- lifecycle ----------------------------------------------------------

    def run(self) -> outcome.RunResult:
        write_mounts(self.options, self.request)
        request_file = self._dir / request.REQUEST_FILE_NAME
        request_file.write_text(self.request.model_dump_json(by_alias=True))
        env = dict(os.environ)
        env.pop(runner_settings.RECORD_FD_ENV, None)
        env[request.REQUEST_FILE_ENV] = str(request_file)
        env[request.TERMINATION_LOG_ENV] = str(self._termination)
        env[runner_settings.ECHO_ENV] = "0"
        read_fd: int | None = None
        pass_fds: tuple[int, ...] = ()
        if self._client is not None:
            env[request.REDIS_URL_ENV] = str(self.options.redis_url)
        else:
            env.pop(request.REDIS_URL_ENV, None)
            read_fd, write_fd = os.pipe()
            env[runner_settings.RECORD_FD_ENV] = str(write_fd)
            pass_fds = (write_fd,)
        started = time.time()
        self._deadline = (
            time.monotonic() + self.options.timeout_seconds + self.options.grace_seconds
        )
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        previous_term = signal.signal(signal.SIGTERM, self._on_terminate)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "kuberun.runtime"],
                env=env,
                start_new_session=True,
                pass_fds=pass_fds,
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr.fileno(),  # stray output must not break `--output json`
            )
            for fd in pass_fds:
                os.close(fd)
            if read_fd is not None:
                self._follow_pipe(read_fd)
            else:
                self._follow_stream()
        finally:
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, previous_term)
            if self._process is not None and self._process.poll() is None:
                self._kill_group(signal.SIGKILL)
                self._process.wait()
        return self._verdict(started)

    def _on_interrupt(self, signum: int, frame: object) -> None:
        self._interrupts += 1
        process = self._process
        if process is None or process.poll() is not None:
            return
        if self._interrupts == 1:
            self.notice("cancelling… (press Ctrl-C again to kill)")
            if self._client is not None:
                ident = self.request.identity
                try:
                    self._client.set(
                        keys.cancel(ident.namespace, ident.uid),
                        CANCEL_REASON,
                        ex=keys.DEFAULT_TTL_SECONDS,
                    )
                except redis.RedisError as exc:
                    self.notice(f"cannot set the cancel key ({exc}); interrupting the runner")
                    self._signal(signal.SIGINT)
            else:
                self._signal(signal.SIGINT)
        elif self._killed_by is None:
            self.notice("killing the runner")
            self._escalate("user")

    def _on_terminate(self, signum: int, frame: object) -> None:
        """The CLI itself is being stopped: take the runner down with it, quickly."""
        if self._killed_by is None and self._running():
            self.notice("terminated: killing the runner")
            self._escalate("user")

    def _signal(self, signum: int) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signum)

    def _kill_group(self, signum: int) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signum)

    def _escalate(self, why: str) -> None:
        """SIGTERM the group (the runner reports and exits at once), SIGKILL what is left later:
        after the grace period for the deadline, after a few seconds for a second Ctrl-C."""
        self._killed_by = why
        self._kill_group(signal.SIGTERM)
        grace = max(1.0, float(self.options.grace_seconds))
        delay = grace if why == "deadline" else min(grace, USER_KILL_SECONDS)
        self._sigkill_at = time.monotonic() + delay

    def _tick(self) -> None:
        """Deadline and SIGKILL escalation; called between reads."""
        now = time.monotonic()
        if self._killed_by is None and now >= self._deadline:
            self.notice(
                f"deadline plus grace period passed ({self.options.timeout_seconds}"
                f" + {self.options.grace_seconds} s): killing the runner"
            )
            self._escalate("deadline")
        if self._sigkill_at is not None and now >= self._sigkill_at:
            self._kill_group(signal.SIGKILL)
            self._sigkill_at = None

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # --- following ------------------------------------------------------------

    def _follow_pipe(self, fd: int) -> None:
        buffer = b""
        exited_at: float | None = None
        try:
            while True:
                self._tick()
                if exited_at is None and not self._running():
                    exited_at = time.monotonic()
                if exited_at is not None and time.monotonic() - exited_at > _PIPE_LINGER_SECONDS:
                    break
                try:
                    ready, _, _ = select.select([fd], [], [], 0.1)
                except InterruptedError:
                    continue
                if not ready:
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    if exited_at is None:
                        self._wait_exit()
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._handle_pipe_line(line)
                self.flush()
        finally:
            os.close(fd)
        if buffer:
            self._handle_pipe_line(buffer)
        self.flush()

    def _wait_exit(self) -> None:
        while self._running():
            self._tick()
            time.sleep(0.05)

    def _handle_pipe_line(self, line: bytes) -> None:
        message = parse_pipe_line(line)
        if message is None:
            return
        kind = message.pop("type")
        if kind == "record":
            # The runner wrote it from a validated model; skip re-validating a million lines.
            message["source"] = logrecord.Origin(message.get("source", "log"))
            self._deliver(logrecord.LogRecord.model_construct(**message))
        elif kind == "result":
            self._result = outcome.RunResult.model_validate(message)

    def _deliver(self, record: logrecord.LogRecord) -> None:
        self._last_sequence = max(self._last_sequence, record.sequence)
        self.on_record(record)

    def _follow_stream(self) -> None:
        assert self._client is not None
        ident = self.request.identity
        stream = keys.logs_stream(ident.namespace, ident.uid)
        last_id = "0-0"
        client = self._client
        draining = False
        failures = 0
        while True:
            self._tick()
            if not draining and not self._running():
                draining = True
            try:
                replies = client.xread(
                    {stream: last_id}, count=1000, block=None if draining else 100
                )
            except redis.RedisError as exc:
                failures += 1
                if failures == 1:
                    self.notice(f"cannot read the log stream ({exc}); retrying")
                if draining:
                    break
                time.sleep(0.2)
                continue
            failures = 0
            entries: list[Any] = replies[0][1] if replies else []  # type: ignore[index]
            for entry_id, fields in entries:
                last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                self._deliver(logrecord.LogRecord.from_fields(fields))
            self.flush()
            if draining and not entries:
                break
        try:
            raw = client.get(keys.result(ident.namespace, ident.uid, ident.attempt))
        except redis.RedisError:
            raw = None
        if isinstance(raw, bytes | str):
            with contextlib.suppress(ValueError):
                self._result = outcome.RunResult.model_validate_json(raw)

    # --- the verdict ------------------------------------------------------------

    def _verdict(self, started: float) -> outcome.RunResult:
        if self._result is not None:
            return self._result
        code = self._process.returncode if self._process is not None else None
        duration = int((time.time() - started) * 1000)
        summary = self._read_summary()
        if summary is not None:
            return outcome.RunResult(
                status=summary.status,
                reason=summary.reason,
                error=outcome.ErrorInfo(type=summary.error_type, message=summary.message or "")
                if summary.error_type
                else None,
                duration_ms=summary.duration_ms,
                last_sequence=summary.last_sequence,
                dropped=summary.dropped,
                log_lines=self._last_sequence,
                result_bytes=summary.result_bytes,
            )
        if self._killed_by == "deadline":
            status, reason = Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED
            message = (
                f"the runner did not stop within the deadline plus grace period"
                f" ({self.options.timeout_seconds} + {self.options.grace_seconds} s) and was killed"
            )
            kind = "ExecutionTimedOut"
        elif self._killed_by == "user":
            status, reason = Phase.CANCELLED, Reason.RUNNER_KILLED
            message = "killed from the command line (second Ctrl-C)"
            kind = "ExecutionCancelled"
        else:
            status, reason = Phase.FAILED, Reason.RUNNER_DIED
            message = f"the runner exited with code {code} without reporting a verdict"
            kind = "RunnerDied"
        return outcome.RunResult(
            status=status,
            reason=reason,
            error=outcome.ErrorInfo(type=kind, message=message),
            duration_ms=duration,
            log_lines=self._last_sequence,
            last_sequence=self._last_sequence,
        )

    def _read_summary(self) -> outcome.TerminationSummary | None:
        try:
            raw = self._termination.read_bytes()
        except OSError:
            return None
        if not raw:
            return None
        try:
            return outcome.TerminationSummary.decode(raw)
        except ValueError:
            return None

    def cleanup(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)  # secrets and temp files included
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
