"""Cooperative cancellation, the soft deadline, SIGTERM and code that ignores all of them."""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

import pytest
import redis

from kuberun.contract import keys, outcome
from kuberun.contract.phases import Phase, Reason
from kuberun.contract.request import RunRequest
from tests.integration.runtime import runner

SYNC_SLEEPER = textwrap.dedent(
    """
    import time
    print("started", flush=True)
    while True:
        time.sleep(0.05)
    """
)
CHECKING_LOOP = textwrap.dedent(
    """
    from kuberun import context
    print("started")
    n = 0
    while True:
        n += 1  # CPU-bound, checks now and then
        if n % 10000 == 0:
            context.check_cancelled()
    """
)
ASYNC_WAITER = textwrap.dedent(
    """
    import asyncio
    async def main(context):
        print("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            print("cleaning up after", context.cancel_reason)
            raise
    """
)
STUBBORN = textwrap.dedent(
    """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("started")
    while True:
        try:
            time.sleep(0.05)
        except BaseException as exc:
            print("ignoring", type(exc).__name__)
    """
)


def wait_for_start(client: redis.Redis, req: RunRequest) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "started" in runner.messages(client, req):
            return
        time.sleep(0.02)
    raise AssertionError("the code never started")


def cancel(client: redis.Redis, req: RunRequest, reason: str) -> None:
    client.set(keys.cancel(req.identity.namespace, req.identity.uid), reason)


@pytest.mark.parametrize(
    "source", [SYNC_SLEEPER, CHECKING_LOOP, ASYNC_WAITER], ids=["sleep", "check", "async"]
)
def test_cancel_key_stops_the_code(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, source: str
) -> None:
    req = runner.make_request(inline=source, grace=5)
    started = runner.start(tmp_path, req, redis_url=redis_url)
    wait_for_start(redis_client, req)
    t0 = time.monotonic()
    cancel(redis_client, req, "cancelled by alice")
    finished = started.wait(30)
    assert time.monotonic() - t0 < 5.0  # generous for a loaded CI machine; the code never ends
    assert finished.code == outcome.ExitCode.CANCELLED
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.reason) == (Phase.CANCELLED, Reason.CANCELLED)
    assert finished.summary.message == "cancelled by alice"
    messages = runner.messages(redis_client, req)
    if source is ASYNC_WAITER:
        assert "cleaning up after cancelled by alice" in messages
    assert messages[-1].startswith("CANCELLED (Cancelled)")


def test_cancel_requested_before_start_runs_nothing(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(inline="print('should not run')\n")
    cancel(redis_client, req, "changed my mind")
    finished = runner.run(
        tmp_path, req, redis_url=redis_url, env={"KUBERUN_CANCEL_POLL_SECONDS": "30"}
    )
    assert finished.code == outcome.ExitCode.CANCELLED
    assert "should not run" not in runner.messages(redis_client, req)
    assert finished.summary is not None and finished.summary.message == "changed my mind"


def test_soft_deadline_times_out(tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> None:
    req = runner.make_request(inline=SYNC_SLEEPER, timeout=1)
    t0 = time.monotonic()
    finished = runner.run(tmp_path, req, redis_url=redis_url)
    assert 1.0 <= time.monotonic() - t0 < 8.0
    assert finished.code == outcome.ExitCode.TIMED_OUT
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.reason) == (
        Phase.TIMED_OUT,
        Reason.DEADLINE_EXCEEDED,
    )
    assert runner.messages(redis_client, req)[-1].startswith("TIMED_OUT (DeadlineExceeded)")


def test_workflow_timeout_from_the_decorator(tmp_path: Path, redis_url: str) -> None:
    source = (
        "import time\nfrom kuberun import workflow\n"
        "@workflow(timeout_seconds=1)\ndef slow():\n    time.sleep(30)\n"
    )
    req = runner.make_request(inline=source, entrypoint="slow", timeout=60)
    finished = runner.run(tmp_path, req, redis_url=redis_url, timeout=10)
    assert finished.code == outcome.ExitCode.TIMED_OUT


@pytest.mark.parametrize("key_reason", [None, "deleted by the operator"], ids=["plain", "with-key"])
def test_sigterm_is_a_cancel_only_with_the_cancel_key(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, key_reason: str | None
) -> None:
    """Both stop the code and flush; without the key (a pod deleted, evicted or drained)
    the verdict is FAILED/Terminated, never CANCELLED."""
    req = runner.make_request(inline=SYNC_SLEEPER, grace=5)
    started = runner.start(
        tmp_path, req, redis_url=redis_url, env={"KUBERUN_CANCEL_POLL_SECONDS": "30"}
    )
    wait_for_start(redis_client, req)
    if key_reason:
        cancel(redis_client, req, key_reason)
    started.process.send_signal(signal.SIGTERM)
    finished = started.wait(30)
    assert finished.summary is not None
    if key_reason:
        assert finished.code == outcome.ExitCode.CANCELLED
        assert finished.summary.message == key_reason
        assert runner.messages(redis_client, req)[-1].startswith("CANCELLED")
    else:
        assert finished.code == outcome.ExitCode.FAILED
        assert (finished.summary.status, finished.summary.reason) == (
            Phase.FAILED,
            Reason.TERMINATED,
        )
        assert finished.summary.message == "terminated (SIGTERM) without a cancel request"
        assert runner.messages(redis_client, req)[-1].startswith("FAILED (Terminated)")


def test_code_ignoring_cancellation_is_ended_after_the_grace_period(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(inline=STUBBORN, grace=2)
    started = runner.start(tmp_path, req, redis_url=redis_url)
    wait_for_start(redis_client, req)
    t0 = time.monotonic()
    started.process.send_signal(signal.SIGTERM)  # ignored by the code's own handler
    cancel(redis_client, req, "stop now")
    finished = started.wait(30)
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 6.0  # grace (2 s) minus the flush reserve (1 s), plus load
    assert finished.code == outcome.ExitCode.CANCELLED
    assert finished.summary is not None
    assert "did not stop within the 2 s grace period" in (finished.summary.message or "")
    messages = runner.messages(redis_client, req)
    assert "ignoring ExecutionCancelled" in messages
    assert messages[-1].startswith("CANCELLED (Cancelled)")


ASYNC_CPU_BOUND = textwrap.dedent(
    """
    async def main(context):
        print("started")
        n = 0
        while True:  # never awaits: a task cancel alone would never land
            n += 1
    """
)
ASYNC_SLOW_CLEANUP = textwrap.dedent(
    """
    import asyncio
    async def main(context):
        print("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(2)  # async cleanup: the loop stays responsive
            print("cleaned up")
            raise
    """
)


def test_async_code_that_never_awaits_is_interrupted(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(inline=ASYNC_CPU_BOUND, grace=30)
    started = runner.start(tmp_path, req, redis_url=redis_url)
    wait_for_start(redis_client, req)
    t0 = time.monotonic()
    cancel(redis_client, req, "stop spinning")
    finished = started.wait(30)
    assert time.monotonic() - t0 < 10  # not the 30 s grace watchdog
    assert finished.code == outcome.ExitCode.CANCELLED
    assert finished.summary is not None and finished.summary.message == "stop spinning"


def test_async_cleanup_after_a_cancel_is_not_interrupted(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(inline=ASYNC_SLOW_CLEANUP, grace=30)
    started = runner.start(tmp_path, req, redis_url=redis_url)
    wait_for_start(redis_client, req)
    cancel(redis_client, req, "please stop")
    finished = started.wait(30)
    assert finished.code == outcome.ExitCode.CANCELLED
    assert "cleaned up" in runner.messages(redis_client, req)
