"""A runner whose Redis is black-holed mid-run (not refused: nothing answers) still keeps
its soft deadline and SIGTERM, and reports through its termination message."""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

import pytest

from kuberun.contract import outcome
from kuberun.contract.phases import Phase, Reason
from tests.integration.runtime import runner
from tests.support.blackhole import tcp_proxy
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

TICKER = textwrap.dedent(
    """
    import time
    n = 0
    while True:
        print("tick", n, flush=True)
        n += 1
        time.sleep(0.1)
    """
)


def wait_for_ticks(directory: Path, count: int = 3) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (directory / "stdout").read_text().count("tick") >= count:
            return
        time.sleep(0.02)
    raise AssertionError("the runner did not start ticking")


def test_soft_deadline_fires_while_redis_is_black_holed(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    with tcp_proxy("127.0.0.1", "127.0.0.1", redis_server.port) as proxy:
        req = runner.make_request(inline=TICKER, timeout=4, grace=2)
        begun = time.monotonic()
        started = runner.start(
            tmp_path, req, redis_url=proxy.url, env={"KUBERUN_CANCEL_POLL_SECONDS": "0.2"}
        )
        wait_for_ticks(tmp_path)
        proxy.blackhole()
        finished = started.wait(40)
        summary_at = (tmp_path / "termination-log").stat().st_mtime
        ended = time.monotonic() - begun
    assert finished.code == outcome.ExitCode.TIMED_OUT, finished.stderr
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.reason) == (
        Phase.TIMED_OUT,
        Reason.DEADLINE_EXCEEDED,
    )
    # The final flush waits up to the grace period for the unreachable Redis (then 1 s for
    # the stuck sender), the result write 1 s: all before the pod's hard deadline
    # (timeout + grace + 5 s slack from the container's start).
    assert summary_at - started_wall(tmp_path) <= 4 + 2 + 3, summary_at
    assert ended < 4 + 2 + 5, ended  # from the spawn: the interpreter start counts too
    assert finished.summary.dropped > 0  # the lines it could not deliver are counted


def test_the_verdict_is_on_disk_before_the_flush_waits_for_a_black_holed_redis(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    """The kubelet's hard stop (SIGKILL) soon after the soft deadline still finds TIMED_OUT
    in the termination message, although the flush was still waiting for Redis."""
    with tcp_proxy("127.0.0.1", "127.0.0.1", redis_server.port) as proxy:
        req = runner.make_request(inline=TICKER, timeout=3, grace=10)
        started = runner.start(
            tmp_path, req, redis_url=proxy.url, env={"KUBERUN_CANCEL_POLL_SECONDS": "0.2"}
        )
        wait_for_ticks(tmp_path)
        proxy.blackhole()
        time.sleep(max(0.0, started_wall(tmp_path) + 3 + 2.0 - time.time()))
        assert started.process.poll() is None  # still flushing (grace: 10 s)
        started.process.send_signal(signal.SIGKILL)
        finished = started.wait(10)
    assert finished.code == -signal.SIGKILL
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.reason) == (
        Phase.TIMED_OUT,
        Reason.DEADLINE_EXCEEDED,
    )
    assert finished.summary.dropped > 0  # not delivered yet: counted as dropped


def test_sigterm_stops_the_code_while_redis_is_black_holed(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    with tcp_proxy("127.0.0.1", "127.0.0.1", redis_server.port) as proxy:
        req = runner.make_request(inline=TICKER, timeout=60, grace=2)
        started = runner.start(
            tmp_path, req, redis_url=proxy.url, env={"KUBERUN_CANCEL_POLL_SECONDS": "0.2"}
        )
        wait_for_ticks(tmp_path)
        proxy.blackhole()
        time.sleep(0.5)  # the cancel-key poller is now stuck in a read
        sent = time.time()
        started.process.send_signal(signal.SIGTERM)
        finished = started.wait(40)
        summary_at = (tmp_path / "termination-log").stat().st_mtime
    # The cancel key cannot be read, so the runner cannot tell a cancel from an
    # eviction: FAILED/Terminated, which the operator turns into CANCELLED when
    # spec.cancel was set (only it knows).
    assert finished.code == outcome.ExitCode.FAILED, finished.stderr
    assert finished.summary is not None
    assert (finished.summary.status, finished.summary.reason) == (
        Phase.FAILED,
        Reason.TERMINATED,
    )
    # At most 1 s for the key's reason, then the final flush (as above).
    assert summary_at - sent <= 1 + 2 + 3, summary_at - sent


def started_wall(directory: Path) -> float:
    """Wall-clock time the runner started (its request file was written just before)."""
    return (directory / "request.json").stat().st_mtime
