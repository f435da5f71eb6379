"""Redis going away mid-run: buffered and delivered after a restart, or counted as dropped.
Also: resends are rejected by Redis, never duplicated; 1,000,000 lines in bounded memory."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from kuberun.contract import keys
from kuberun.contract.phases import Phase
from kuberun.contract.request import RunRequest
from kuberun.runtime import resp
from kuberun.runtime.records import Entry
from kuberun.runtime.transports import RedisStreamTransport, TransportError
from tests.integration.runtime import runner
from tests.integration.runtime.modes import delivery_mode
from tests.support.redis_server import RedisServer

__all__ = ["delivery_mode"]  # every test here runs with the pipeline as a thread and as a process

SLOW_PRINTER = textwrap.dedent(
    """
    import time
    for i in range({count}):
        print("line", i)
        time.sleep({pause})
    """
)


def wait_for_lines(client: redis.Redis, req: RunRequest, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen = runner.messages(client, req)
        if len(seen) >= count:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} lines arrived")


def test_lines_are_buffered_while_redis_is_down_and_delivered_after_restart(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(inline=SLOW_PRINTER.format(count=60, pause=0.05), grace=10)
    started = runner.start(tmp_path, req, redis_url=redis_url)
    wait_for_lines(redis_client, req, 5)
    # A save point makes the shutdown write a snapshot, which the restart loads: the
    # stream survives the outage, so the test can see every line exactly once.
    redis_client.config_set("save", "3600 1")
    redis_server.stop()
    try:
        # Meanwhile the echo on stdout (what `kubectl logs` shows) keeps up.
        deadline = time.monotonic() + 6  # well before the exit flush (grace: 10 s)
        echoed = ""
        while "line 20" not in echoed and time.monotonic() < deadline:
            time.sleep(0.05)
            echoed = (tmp_path / "stdout").read_text()
        assert "line 20" in echoed, echoed[-500:]
        redis_server.start()
        finished = started.wait(30)
        client = redis_server.client()
        entries = runner.stream(client, req)
        client.close()
    finally:
        (redis_server.directory / "dump.rdb").unlink(missing_ok=True)
    assert finished.code == 0, finished.stderr
    assert finished.summary is not None and finished.summary.dropped == 0
    assert [ident for ident, _ in entries] == [f"1-{n}" for n in range(1, len(entries) + 1)]
    assert [record.message for _, record in entries][:60] == [f"line {i}" for i in range(60)]
    assert len(entries) == finished.summary.last_sequence == 61
    assert "log delivery failing" in finished.stderr and "recovered" in finished.stderr


def test_redis_gone_at_exit_is_counted_as_dropped(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, redis_client: redis.Redis
) -> None:
    req = runner.make_request(inline=SLOW_PRINTER.format(count=40, pause=0.02), grace=1)
    started = runner.start(tmp_path, req, redis_url=redis_url)
    wait_for_lines(redis_client, req, 5)
    redis_server.stop()
    finished = started.wait(30)
    assert finished.code == 0  # the code succeeded; the logs are what suffered
    assert finished.summary is not None
    assert finished.summary.status is Phase.SUCCESS
    assert 0 < finished.summary.dropped < finished.summary.last_sequence
    assert "could not be delivered before exit" in finished.stderr
    assert "line 39" in finished.stdout  # the echo still has everything


def test_a_full_buffer_while_redis_is_down_drops_and_says_how_many(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, redis_client: redis.Redis
) -> None:
    down, up = tmp_path / "redis-down", tmp_path / "redis-up"
    burst_done = tmp_path / "burst-done"
    source = textwrap.dedent(
        f"""
        import os, time
        def wait_for(path):
            while not os.path.exists(path):
                time.sleep(0.02)
        print("started")
        wait_for({str(down)!r})
        for i in range(500):
            print("burst", i)
        open({str(burst_done)!r}, "w").close()
        wait_for({str(up)!r})
        print("after the outage")
        """
    )
    req = runner.make_request(inline=source, grace=10)
    started = runner.start(
        tmp_path / "run",
        req,
        redis_url=redis_url,
        env={"KUBERUN_LOG_BUFFER_RECORDS": "50"},
    )
    wait_for_lines(redis_client, req, 1)
    redis_server.stop()
    down.touch()
    deadline = time.monotonic() + 30
    while not burst_done.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    redis_server.start()  # only once the whole burst met the outage
    up.touch()
    finished = started.wait(30)
    assert finished.code == 0, finished.stderr
    client = redis_server.client()
    records = [record for _, record in runner.stream(client, req)]
    client.close()
    markers = [r for r in records if "record(s) dropped" in r.message]
    assert len(markers) == 1, ([r.message for r in records][-5:], finished.summary, finished.stderr)
    dropped = int(markers[0].message.split()[0])
    assert dropped > 0
    assert finished.summary is not None and finished.summary.dropped == dropped
    assert records[-2].message == "after the outage"
    sequences = [r.sequence for r in records]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))


def test_a_resend_is_rejected_not_duplicated(redis_url: str, redis_client: redis.Redis) -> None:
    transport = RedisStreamTransport(resp.Client(redis_url).connection(), "ns", "uid-1")
    batch = [Entry(n, float(n), "INFO", "", "stdout", f"m{n}", 1) for n in range(1, 6)]
    assert transport.send(batch[:3]) is None
    assert transport.send(batch) == 0  # the first three again, as after an interrupted pipeline
    assert transport.send(batch) == 0
    entries: Any = redis_client.xrange(keys.logs_stream("ns", "uid-1"))
    assert [e[0] for e in entries] == [b"1-1", b"1-2", b"1-3", b"1-4", b"1-5"]
    assert [e[1][b"msg"] for e in entries] == [b"m1", b"m2", b"m3", b"m4", b"m5"]
    redis_client.set(keys.logs_stream("ns", "uid-1"), "not a stream")
    with pytest.raises(TransportError, match="WRONGTYPE"):  # any other error is one
        transport.send(batch)


def test_a_rejection_for_someone_elses_entry_is_a_lost_record(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """An id taken by another writer's entry, or passed by a higher id, is not a delivery."""
    transport = RedisStreamTransport(resp.Client(redis_url).connection(), "ns", "uid-2")
    stream = keys.logs_stream("ns", "uid-2")
    redis_client.xadd(stream, {"seq": "1", "msg": "not the runner's"}, id="1-2")
    batch = [Entry(n, float(n), "INFO", "", "stdout", f"m{n}", 1) for n in range(1, 4)]
    assert transport.send(batch) == 2  # 1-1 is below the top now, 1-2 is someone else's
    assert transport.send(batch[2:]) == 0  # 1-3 went in and is ours
    entries: Any = redis_client.xrange(stream)
    assert [e[0] for e in entries] == [b"1-2", b"1-3"]
    # Pipelined: two batches on the wire, the first one's rejection read back meanwhile.
    transport.write(batch[:1])
    transport.write(batch[2:])
    assert transport.confirm() == 1
    assert transport.confirm() == 0


@pytest.mark.timeout(180)
def test_a_million_lines_in_bounded_memory(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    source = textwrap.dedent(
        """
        import logging, time
        log = logging.getLogger("flood")
        started = time.perf_counter()
        for i in range(1_000_000):
            log.info("line %d", i)
        print(f"produced in {time.perf_counter() - started:.1f} s")
        """
    )
    req = runner.make_request(inline=source, grace=30)
    t0 = time.perf_counter()
    finished = runner.run(
        tmp_path,
        req,
        redis_url=redis_url,
        env={"KUBERUN_MAX_LOG_LINES": "2000000", "KUBERUN_ECHO": "0"},
        timeout=170,
    )
    elapsed = time.perf_counter() - t0
    assert finished.code == 0, finished.stderr
    assert finished.summary is not None and finished.summary.dropped == 0
    key = keys.logs_stream(req.identity.namespace, req.identity.uid)
    assert redis_client.xlen(key) == finished.summary.last_sequence == 1_000_002
    print(f"\n1M lines via Redis: {elapsed:.1f} s, peak RSS {finished.peak_rss / 2**20:.0f} MiB")
    assert finished.peak_rss < 200 * 2**20
