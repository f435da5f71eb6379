"""Runner settings, read once from the environment at startup (never at import time).

Every default says why it was chosen. `from_environ` is pure: pass any mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kuberun.contract import pipe
from kuberun.contract import podenv as request
from kuberun.runtime import resp

# Past this many records an execution's log is cut (one marker says how much
# was dropped): 100k lines is far more than a human reads, and bounds the
# stream in Redis to a few tens of MB.
DEFAULT_MAX_LOG_LINES = 100_000
# The same bound in bytes of message text: 50 MB keeps one chatty execution
# from filling a shared Redis.
DEFAULT_MAX_LOG_BYTES = 50 * 1024 * 1024
# Records waiting for the sender. 10k records of ~200 bytes is ~2 MB: enough to
# ride out a Redis restart of a few seconds at a normal log rate, while memory
# stays bounded whatever the code prints.
DEFAULT_LOG_BUFFER_RECORDS = 10_000
# When the buffer is full but Redis is healthy (only slower than the code), the
# code waits this long for room before a record is dropped: backpressure keeps
# a log flood lossless; the bound keeps user code from blocking forever.
DEFAULT_BACKPRESSURE_SECONDS = 5.0
# Records per pipelined XADD round trip: large enough to amortise the round
# trip, small enough that a batch is a few hundred KB at most.
DEFAULT_BATCH_RECORDS = 1_000
# How often the cancel key is polled: a cancel feels immediate at 200 ms and
# costs Redis 5 GETs a second.
DEFAULT_CANCEL_POLL_SECONDS = 0.2
# A partial stdout line (no newline yet) is sent after this long, so a progress
# message without newline still shows up.
DEFAULT_PARTIAL_LINE_SECONDS = 0.5
# Delay between retries while Redis is unreachable doubles up to this cap.
DEFAULT_MAX_RETRY_SECONDS = 2.0

RECORD_FD_ENV = pipe.RECORD_FD_ENV
ECHO_ENV = "KUBERUN_ECHO"
MAX_LOG_LINES_ENV = "KUBERUN_MAX_LOG_LINES"
MAX_LOG_BYTES_ENV = "KUBERUN_MAX_LOG_BYTES"
LOG_BUFFER_RECORDS_ENV = "KUBERUN_LOG_BUFFER_RECORDS"
BACKPRESSURE_SECONDS_ENV = "KUBERUN_BACKPRESSURE_SECONDS"
CANCEL_POLL_SECONDS_ENV = "KUBERUN_CANCEL_POLL_SECONDS"
CAPTURE_FDS_ENV = "KUBERUN_CAPTURE_FDS"
# "1": the log pipeline runs in a process of its own beside the code (`delivering`) instead
# of a thread of the code's process. Off by default: a second process in every pod, and
# on 2 CPUs shared with Redis `bench logs` finds it cheaper per call for the code more
# often but the thread's latency lower more often (docs/runner.md#delivery). With a CPU
# to spare (Redis elsewhere, a limit of 2 or more) it is the better one.
DELIVERY_PROCESS_ENV = "KUBERUN_DELIVERY_PROCESS"


class SettingsError(ValueError):
    """An environment variable has a value the runner cannot use."""


@dataclass(frozen=True)
class Settings:
    """Where the request and Redis are, and the log limits."""

    request_file: str = request.REQUEST_FILE_DEFAULT
    redis_url: str | None = None
    termination_log: str = request.TERMINATION_LOG_DEFAULT
    record_fd: int | None = None
    echo: bool = True
    capture_fds: bool = True
    max_log_lines: int = DEFAULT_MAX_LOG_LINES
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    log_buffer_records: int = DEFAULT_LOG_BUFFER_RECORDS
    backpressure_seconds: float = DEFAULT_BACKPRESSURE_SECONDS
    batch_records: int = DEFAULT_BATCH_RECORDS
    cancel_poll_seconds: float = DEFAULT_CANCEL_POLL_SECONDS
    partial_line_seconds: float = DEFAULT_PARTIAL_LINE_SECONDS
    max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    delivery_process: bool = False


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")


def _redis_url(env: Mapping[str, str]) -> str | None:
    """The Redis URL, checked now: one the runner cannot use is a bad setting, not a crash."""
    url = env.get(request.REDIS_URL_ENV) or None
    if url is not None:
        try:
            resp.parse_url(resp.single_server_form(url))  # a cluster's: any node's form
        except ValueError as exc:
            raise SettingsError(f"{request.REDIS_URL_ENV}: {exc}") from None
    return url


def from_environ(env: Mapping[str, str]) -> Settings:
    """Settings from environment variables; SettingsError names a bad one."""
    record_fd = env.get(RECORD_FD_ENV) or None
    return Settings(
        request_file=env.get(request.REQUEST_FILE_ENV) or request.REQUEST_FILE_DEFAULT,
        redis_url=_redis_url(env),
        termination_log=env.get(request.TERMINATION_LOG_ENV) or request.TERMINATION_LOG_DEFAULT,
        record_fd=_int(env, RECORD_FD_ENV, 0, 3) if record_fd else None,
        # In pipe mode the CLI prints the records itself; an echo would double them.
        echo=_flag(env, ECHO_ENV, default=record_fd is None),
        capture_fds=_flag(env, CAPTURE_FDS_ENV, default=True),
        max_log_lines=_int(env, MAX_LOG_LINES_ENV, DEFAULT_MAX_LOG_LINES, 1),
        max_log_bytes=_int(env, MAX_LOG_BYTES_ENV, DEFAULT_MAX_LOG_BYTES, 1),
        log_buffer_records=_int(env, LOG_BUFFER_RECORDS_ENV, DEFAULT_LOG_BUFFER_RECORDS, 10),
        backpressure_seconds=_float(
            env, BACKPRESSURE_SECONDS_ENV, DEFAULT_BACKPRESSURE_SECONDS, 0.0
        ),
        cancel_poll_seconds=_float(env, CANCEL_POLL_SECONDS_ENV, DEFAULT_CANCEL_POLL_SECONDS, 0.01),
        delivery_process=_flag(env, DELIVERY_PROCESS_ENV, default=False),
    )
