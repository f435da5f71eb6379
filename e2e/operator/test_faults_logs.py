"""Every log line accounted for under faults, end to end on the real node.

- a hard-deadline stop: the stream holds the runner's lines 1..N, then the
  operator's engine record in its own id space; `status.logs` is filled;
- Redis restarted without persistence mid-run: `status.logs` says which lines
  are missing; with AOF every line is there;
- Redis down when an Execution ends with the archive on: the archive gets
  every line once Redis is back;
- a runner whose Redis is black-holed mid-run still stops at its soft
  deadline and reports TIMED_OUT through its termination message.

Each test gets its own Redis (AOF when parametrized so), which it restarts.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from e2e import harness
from e2e.operator import support
from e2e.operator.archivesupport import postgres, query
from kuberun.contract import logrecord, outcome
from kuberun.contract.phases import Phase, Reason
from tests.support.blackhole import tcp_proxy
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer, running_redis

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["postgres"]  # fixtures

ENGINE = logrecord.ENGINE_SEQUENCE_BASE


@pytest.fixture
def redis_server(service_host: str, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """This test's own Redis: AOF when parametrized with True, else no persistence."""
    with running_redis(service_host, appendonly=getattr(request, "param", False)) as server:
        yield server


def stream(client: redis.Redis, namespace: str, uid: str) -> list[tuple[int, int, dict[str, str]]]:
    """(attempt, sequence, fields) of every entry, in stream order."""
    out = []
    for entry_id, fields in support.stream_messages(client, namespace, uid):
        attempt, sequence = logrecord.parse_stream_id(entry_id)
        out.append((attempt, sequence, fields))
    return out


def runner_lines(entries: list[tuple[int, int, dict[str, str]]]) -> list[tuple[int, str]]:
    return [(seq, f["msg"]) for a, seq, f in entries if a == 1 and 1 <= seq < ENGINE]


def wait_lines(client: redis.Redis, namespace: str, uid: str, count: int) -> None:
    harness.wait_for(
        f"{count} lines in the stream",
        lambda: len(runner_lines(stream(client, namespace, uid))) >= count,
        timeout=60,
        interval=0.05,
    )


# --- a hard-deadline stop --------------------------------------------------------------

HOLDS_THE_GIL = """
import signal, sys, time
for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
    signal.signal(s, signal.SIG_IGN)
for i in range(30):
    print("line", i, flush=True)
time.sleep(1.5)          # the sender delivers them
sum(range(10**13))       # one C call: no signal handler, no other thread runs again
"""


def test_a_hard_deadline_stop_keeps_every_runner_line_then_the_engine_record(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    redis_client: redis.Redis,
) -> None:
    ns = kx_namespace
    created = support.create(
        cluster,
        ns,
        support.execution("hard", HOLDS_THE_GIL, timeoutSeconds=3, gracePeriodSeconds=1),
    )
    uid = created["metadata"]["uid"]
    final = support.wait_phase(cluster, ns, "hard", timeout=90)
    assert (final["phase"], final["reason"]) == ("TIMED_OUT", "DeadlineExceeded"), final
    for pod in support.pods_of(cluster, ns):  # the status came once the runner was gone
        assert pod.status.container_statuses[0].state.terminated is not None

    entries = stream(redis_client, ns, uid)
    lines = runner_lines(entries)
    assert lines == [(n, f"line {n - 1}") for n in range(1, 31)], entries
    after = [(seq, f) for a, seq, f in entries if a == 1 and seq > ENGINE]
    assert [seq for seq, _ in after] == [ENGINE + 1], entries  # its own id space, once
    assert after[0][1]["source"] == "engine" and "timed out" in after[0][1]["msg"]
    ids = [(a, seq) for a, seq, _ in entries]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert final["logs"] == {"lastSequence": 30, "complete": True, "dropped": 0, "missing": []}


# --- Redis restarted mid-run -------------------------------------------------------------

SLOW_PRINTER = """
import time
for i in range(60):
    print("line", i, flush=True)
    time.sleep(0.1)
result = "printed"
"""


def _restart_mid_run(
    cluster: harness.Cluster, ns: str, server: RedisServer, client: redis.Redis
) -> tuple[dict[str, Any], list[tuple[int, int, dict[str, str]]], int]:
    created = support.create(cluster, ns, support.execution("restarted", SLOW_PRINTER))
    uid = created["metadata"]["uid"]
    wait_lines(client, ns, uid, 15)
    server.stop()  # SIGTERM: with AOF the file is fsynced; without, everything is gone
    server.start()
    final = support.wait_phase(cluster, ns, "restarted", timeout=90)
    fresh = server.client()
    entries = stream(fresh, ns, uid)
    fresh.close()
    return final, entries, 61  # 60 lines and the runner's verdict record


def test_redis_restarted_without_persistence_reports_the_missing_range(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    redis_server: RedisServer,
    redis_client: redis.Redis,
) -> None:
    final, entries, last = _restart_mid_run(cluster, kx_namespace, redis_server, redis_client)
    assert final["phase"] == "SUCCESS", final
    logs = final["logs"]
    assert (logs["lastSequence"], logs["complete"], logs["dropped"]) == (last, False, 0), logs
    [[low, high]] = logs["missing"]
    assert low == 1 and 15 <= high < last, logs
    sequences = [seq for seq, _ in runner_lines(entries)]
    assert sequences == list(range(high + 1, last + 1))  # the rest went in after the restart
    notes = [f["msg"] for a, seq, f in entries if a == 1 and seq > ENGINE]
    assert len(notes) == 1 and f"{high} log line(s) of attempt 1 are missing" in notes[0]
    assert f"sequences 1-{high}" in notes[0]


@pytest.mark.parametrize("redis_server", [True], indirect=True, ids=["aof"])
def test_with_aof_a_redis_restart_loses_no_line(
    cluster: harness.Cluster,
    kx_namespace: str,
    operator: support.Operator,
    redis_server: RedisServer,
    redis_client: redis.Redis,
) -> None:
    final, entries, last = _restart_mid_run(cluster, kx_namespace, redis_server, redis_client)
    assert final["phase"] == "SUCCESS", final
    assert final["logs"] == {"lastSequence": last, "complete": True, "dropped": 0, "missing": []}
    lines = runner_lines(entries)
    assert [seq for seq, _ in lines] == list(range(1, last + 1))
    assert [m for _, m in lines][:60] == [f"line {i}" for i in range(60)]
    assert not [f for a, seq, f in entries if a == 1 and seq > ENGINE]  # nothing to report


# --- the archive while Redis is down -------------------------------------------------------


@pytest.mark.parametrize("redis_server", [True], indirect=True, ids=["aof"])
def test_redis_down_when_an_execution_ends_the_archive_gets_every_line_once_it_is_back(
    cluster: harness.Cluster,
    kx_namespace: str,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    postgres: PostgresServer,
    tmp_path: pathlib.Path,
) -> None:
    ns = kx_namespace
    op = support.operator_for(
        cluster,
        ns,
        redis_server.url,
        tmp_path / "operator.log",
        {"KUBERUN_ARCHIVE_DSN": postgres.dsn},
    ).start()
    try:
        code = "import time\nfor i in range(50):\n    print('line', i)\ntime.sleep(3)\nresult = 1"
        uid = support.create(cluster, ns, support.execution("archived", code))["metadata"]["uid"]
        wait_lines(redis_client, ns, uid, 50)
        redis_server.stop()
        try:
            final = support.wait_phase(cluster, ns, "archived", timeout=90)
            assert final["phase"] == "SUCCESS", final  # the termination message told
            row = harness.wait_for(
                "the archive row without its logs",
                lambda: query(
                    postgres.dsn,
                    "SELECT logs_archived FROM kuberun_executions WHERE uid = $1",
                    uid,
                ),
                timeout=30,
            )
            assert row[0]["logs_archived"] is False
            assert "kuberun_backlog_pending 1.0" in op.metrics()
        finally:
            redis_server.start()

        def archived() -> list[Any] | None:
            done = query(
                postgres.dsn,
                "SELECT logs_archived FROM kuberun_executions WHERE uid = $1",
                uid,
            )
            if not done or not done[0]["logs_archived"]:
                return None
            return query(
                postgres.dsn,
                "SELECT attempt, sequence, source, message FROM kuberun_execution_logs"
                " WHERE uid = $1 ORDER BY attempt, sequence",
                uid,
            )

        logs = harness.wait_for("the logs archived", archived, timeout=60, interval=0.5)
        user = [r["message"] for r in logs if r["source"] == "stdout"]
        assert user == [f"line {i}" for i in range(50)]  # every line, once
        keys_seen = [(r["attempt"], r["sequence"]) for r in logs]
        assert len(set(keys_seen)) == len(keys_seen)
        assert "kuberun_backlog_pending 0.0" in op.metrics()
    finally:
        op.stop()
        support.release_finalizers(cluster, ns)


# --- a black-holed Redis -------------------------------------------------------------------

TICKER = """
import time
n = 0
while True:
    print("tick", n, flush=True)
    n += 1
    time.sleep(0.1)
"""


def test_a_runner_whose_redis_is_black_holed_stops_at_its_soft_deadline(
    cluster: harness.Cluster,
    namespace: str,
    crd: None,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    service_host: str,
    tmp_path: pathlib.Path,
) -> None:
    ns = namespace
    with tcp_proxy(service_host, "127.0.0.1", redis_server.port) as proxy:
        support.prepare_namespace(cluster, ns, f"redis://{service_host}:{proxy.port}/0")
        op = support.operator_for(cluster, ns, proxy.url, tmp_path / "operator.log").start()
        try:
            timeout, grace = 6, 2
            body = support.execution(
                "blackholed", TICKER, timeoutSeconds=timeout, gracePeriodSeconds=grace
            )
            uid = support.create(cluster, ns, body)["metadata"]["uid"]
            harness.wait_for(
                "ticks in the stream",
                lambda: "tick" in json.dumps(support.stream_messages(redis_client, ns, uid)),
                timeout=60,
                interval=0.05,
            )
            proxy.blackhole()

            def ended() -> Any:
                pods = support.pods_of(cluster, ns)
                statuses = pods[0].status.container_statuses if pods else None
                state = statuses[0].state if statuses else None
                return pods[0] if state is not None and state.terminated is not None else None

            pod = harness.wait_for("the runner ended", ended, timeout=60, interval=0.2)
            term = pod.status.container_statuses[0].state.terminated
            summary = outcome.TerminationSummary.decode(term.message)
            assert (summary.status, summary.reason) == (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED)
            assert term.exit_code == outcome.ExitCode.TIMED_OUT
            assert pod.status.reason != "DeadlineExceeded"  # not the kubelet's hard stop
            ran = (term.finished_at - term.started_at).total_seconds()
            assert timeout <= ran < timeout + grace + 5, ran  # before the hard deadline
            proxy.heal()
            final = support.wait_phase(cluster, ns, "blackholed", timeout=60)
            assert (final["phase"], final["reason"]) == ("TIMED_OUT", "DeadlineExceeded"), final
            assert final["attempts"][0]["exitCode"] == outcome.ExitCode.TIMED_OUT
        finally:
            op.stop()
            support.release_finalizers(cluster, ns)
