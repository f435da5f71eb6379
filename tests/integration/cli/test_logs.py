"""`kuberun logs`: an Execution's stream printed in its one order, from a real Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import redis

from kuberun.contract import keys, logrecord


def add(client: redis.Redis, stream: str, entry_id: str, message: str, **fields: object) -> None:
    attempt = int(entry_id.split("-")[0])
    record = logrecord.LogRecord(
        sequence=max(1, int(entry_id.split("-")[1])),
        timestamp=1_700_000_000.0,
        message=message,
        attempt=attempt,
        **fields,  # type: ignore[arg-type]
    )
    entry: dict[Any, Any] = record.to_fields()
    client.xadd(stream, entry, id=entry_id)


def kuberun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kuberun.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_prints_every_attempt_and_engine_record_in_stream_order(
    redis_url: str, redis_client: redis.Redis
) -> None:
    stream = keys.logs_stream("team-a", "uid-1")
    engine = {"source": logrecord.Origin.ENGINE, "logger": "kuberun"}
    add(redis_client, stream, "0-1", "queued", **engine)
    add(redis_client, stream, "1-0", "starting attempt 1 of 2", **engine)
    for i in range(1, 1501):  # more than one page
        add(redis_client, stream, f"1-{i}", f"first {i}")
    add(redis_client, stream, "1-1501", "retrying", **engine)
    add(redis_client, stream, "2-1", "second")

    done = kuberun(
        "logs", "job", "-n", "team-a", "--uid", "uid-1", "--redis", redis_url, "--output", "json"
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["message"] for line in lines] == [
        "queued",
        "starting attempt 1 of 2",
        *[f"first {i}" for i in range(1, 1501)],
        "retrying",
        "second",
    ]
    assert lines[0]["source"] == "engine" and lines[-1]["attempt"] == 2

    text = kuberun("logs", "job", "-n", "team-a", "--uid", "uid-1", "--redis", redis_url)
    assert text.returncode == 0 and "INFO    kuberun: queued" in text.stdout.splitlines()[0]


def test_bad_invocations_say_what_is_missing(redis_url: str) -> None:
    no_redis = kuberun("logs", "job", "-n", "ns", "--uid", "u", "--redis", "")
    assert no_redis.returncode == 2 and "--redis" in no_redis.stderr
    no_namespace = kuberun("logs", "job", "--uid", "u", "--redis", redis_url)
    assert no_namespace.returncode == 2 and "-n NAMESPACE" in no_namespace.stderr
    gone = kuberun("logs", "job", "-n", "ns", "--uid", "u", "--redis", "redis://127.0.0.1:1/0")
    assert gone.returncode == 1 and "cannot read the logs from Redis" in gone.stderr
    assert gone.stderr.count("kuberun:") == 1  # once, with a hint
    assert "hint:" in gone.stderr
    empty = kuberun("logs", "job", "-n", "ns", "--uid", "nothing", "--redis", redis_url)
    assert empty.returncode == 0 and "no log records" in empty.stderr
