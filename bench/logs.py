"""Log pipeline benchmark: user `logging` calls → runner → Redis Stream → XREAD reader.

`python -m bench logs` starts its own redis-server and measures, in one run:

- runner: `python -m kuberun.runtime` (the real entry point, a `RunRequest`
  file, default settings except the line cap) running an inline script that
  makes N `logging.getLogger("bench").info("line %d %r", i, time.time())` calls;
- (a) the ceiling: redis-py pipelined XADD of the same records (same fields,
  same batch size as the runner's sender), no runner;
- (b) one synchronous XADD per line;
- (c) one thread per line, each doing its XADD (how the old engine sent logs;
  auto ids, as it had no sequence ids).

A separate follower process waits on the stream with XREAD BLOCK and, at each
wake-up, notes the time and the newest entry id: an entry is readable from the
first wake-up at or past it. Afterwards a full XRANGE is checked (ids must be
`<attempt>-<sequence>`, sequences gapless from 1, every line once, in emit
order) and timed against those samples. Reported per method: lines/s (first
emit → last line readable), cost per logging call on the user's thread,
p50/p99 emit → readable latency, gaps / duplicates / order.
(b) and (c) run on fewer lines (per-line figures do not depend on N); the
output says so. Target: runner ≥ 0.5× the ceiling's lines/s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.util
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import redis

from bench import ordering
from kuberun.contract import identity, keys, logrecord, outcome, request, spec
from kuberun.runtime import resp, speedups, transports
from kuberun.runtime import settings as runner_settings
from kuberun.runtime.records import Entry

DEFAULT_LINES = 200_000
DEFAULT_BASELINE_LINES = 20_000
# Rounds of ceiling and runner, alternating (see `run`).
DEFAULT_ROUNDS = 3
CEILING = "(a) ceiling: pipelined XADD, no runner"
CEILING_HIREDIS = "(a') the same, redis-py with hiredis"
OLDER = "runner from"  # + the other tree's parent directory (--also-runner)
RUNNER = "runner: python -m kuberun.runtime"
STEADY = "runner at a steady 1,000 lines/s"
PROCESS = "runner, KUBERUN_DELIVERY_PROCESS=1"
PYTHON_LOOPS = "runner, KUBERUN_SPEEDUPS=0"
TARGET_RATIO = 1.0
# A captured `logging` call may cost the user's loop at most this many times a call
# into a do-nothing handler, timed in the same process (issue 11, goal 1).
TARGET_COST_RATIO = 1.5
TARGET_FLOOD_P99_MS = 20.0
TARGET_STEADY_P99_MS = 5.0
STEADY_RATE = 1_000
STEADY_SECONDS = 5
NAMESPACE = "bench"
LOGGER = "bench"
# The follower pauses this long after each sample: enough resolution for
# latencies in milliseconds without taking a CPU from the producer.
SAMPLE_PAUSE_SECONDS = 0.0005
RUNNER_TIMEOUT_SECONDS = 600

# The user code of the runner rows. Before and after the captured loop, the very same
# loop runs into a do-nothing handler in the same process (the runner's handler set
# aside for it): the in-process baseline of a `logging` call, timed the same way.
SCRIPT = textwrap.dedent(
    """\
    import logging
    import time

    class DoNothing(logging.Handler):
        def emit(self, record):
            pass

    log = logging.getLogger("bench")
    root = logging.getLogger()

    def bare_loop(n):
        captured = root.handlers[:]
        root.handlers[:] = [DoNothing()]
        try:
            started = time.perf_counter()
            for i in range(n):
                log.info("line %d %r", i, time.time())
            return time.perf_counter() - started
        finally:
            root.handlers[:] = captured

    bare = bare_loop({baseline})
    pause = {pause}
    started = time.perf_counter()
    if pause:
        for i in range({lines}):
            log.info("line %d %r", i, time.time())
            time.sleep(max(0.0, started + (i + 1) * pause - time.perf_counter()))
    else:
        for i in range({lines}):
            log.info("line %d %r", i, time.time())
    loop_seconds = time.perf_counter() - started
    bare += bare_loop({baseline})
    result = {{
        "loop_seconds": loop_seconds,
        "lines": {lines},
        "bare_seconds_per_call": bare / (2 * {baseline}) if {baseline} else 0.0,
    }}
    """
)


@dataclasses.dataclass(frozen=True)
class StreamReport:
    """A stream's entries, checked and timed, reduced to numbers."""

    records: int
    lines: int
    sequences: ordering.OrderCheck
    line_order: ordering.OrderCheck
    bad_ids: int
    first_emit: float
    last_read: float
    p50_ms: float
    p99_ms: float


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One row of the table."""

    method: str
    lines: int
    lines_per_second: float
    user_us_per_call: float
    p50_ms: float
    p99_ms: float
    stored: StreamReport
    extrapolated: bool = False
    note: str = ""
    bare_us_per_call: float = 0.0
    # With rounds: the median of each round's user/bare (each pair from one process).
    rounds_cost_ratio: float = 0.0

    @property
    def cost_ratio(self) -> float:
        """User µs per captured call / µs per call into a do-nothing handler, same process."""
        if self.rounds_cost_ratio:
            return self.rounds_cost_ratio
        return self.user_us_per_call / self.bare_us_per_call if self.bare_us_per_call else math.nan

    @property
    def ordered(self) -> bool:
        """Every line stored once, in emit order, at id `<attempt>-<sequence>`, gapless."""
        stored = self.stored
        return (
            stored.sequences.ok
            and stored.line_order.ok
            and stored.bad_ids == 0
            and stored.lines == self.lines
        )

    def order_text(self) -> str:
        if self.ordered:
            return "ok"
        stored = self.stored
        if not stored.line_order.ok:
            return stored.line_order.describe()
        if stored.bad_ids:
            return f"FAIL ({stored.bad_ids:,} ids not <attempt>-<seq>)"
        return "seq " + stored.sequences.describe()


# --- reading --------------------------------------------------------------


def analyse(
    entries: list[tuple[Any, dict[bytes, bytes], float]],
    *,
    lines: int,
    explicit_ids: bool,
) -> StreamReport:
    """Reduce (entry id, fields, read time) triples; pure apart from parsing."""
    sequences: list[int] = []
    indices: list[int] = []
    latencies: list[float] = []
    bad_ids = 0
    first_emit = float("inf")
    last_read = 0.0
    for entry_id, fields, read_at in entries:
        sequence = int(fields[b"seq"])
        sequences.append(sequence)
        if explicit_ids and logrecord.parse_stream_id(entry_id) != (
            int(fields[b"attempt"]),
            sequence,
        ):
            bad_ids += 1
        if fields.get(b"logger") != LOGGER.encode():
            continue
        _, index, emitted = fields[b"msg"].split(b" ")
        indices.append(int(index))
        emitted_at = float(emitted)
        latencies.append(read_at - emitted_at)
        first_emit = min(first_emit, emitted_at)
        last_read = max(last_read, read_at)
    return StreamReport(
        records=len(entries),
        lines=len(indices),
        sequences=ordering.check_order(sequences, first=1),  # every stream starts at 1
        line_order=ordering.check_order(indices, first=0, expected=lines),
        bad_ids=bad_ids,
        first_emit=first_emit,
        last_read=last_read,
        p50_ms=ordering.percentile(latencies, 0.50) * 1000,
        p99_ms=ordering.percentile(latencies, 0.99) * 1000,
    )


Sample = tuple[float, tuple[int, int]]  # (time.time(), newest entry id) seen by the follower


def _follow(
    url: str,
    key: str,
    ready: Event,
    done: Event,
    results: multiprocessing.connection.Connection,
) -> None:
    """Follower process: at each XREAD BLOCK wake-up, note the time and the stream's newest id.

    It does not parse every entry: in pure-Python redis-py that tops out near
    the rates being measured, and every method would look equally fast. An
    entry is readable from the first wake-up whose newest id is at or past it.
    """
    client = redis.Redis.from_url(url)
    client.ping()
    ready.set()
    samples: list[Sample] = []
    last_id: Any = "0-0"
    while True:
        finished = done.is_set()  # read before sampling: the sample after it sees everything
        woke: Any = client.xread({key: last_id}, count=1, block=200)
        if woke:
            newest: Any = client.xrevrange(key, count=1)
            now = time.time()
            last_id = newest[0][0]
            samples.append((now, logrecord.parse_stream_id(last_id)))
            time.sleep(SAMPLE_PAUSE_SECONDS)
        elif finished:
            break
    results.send(samples)
    results.close()


class Follower:
    """The follower process, started (and connected) before the first line is emitted."""

    def __init__(self, url: str, key: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready = context.Event()
        self._done = context.Event()
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_follow,
            args=(url, key, self._ready, self._done, send),
            name="bench-follower",
            daemon=True,
        )
        self._process.start()
        send.close()
        if not self._ready.wait(30):
            self._process.kill()
            raise RuntimeError("the follower process did not start")

    def samples(self, timeout: float = 60) -> list[Sample]:
        """Tell it the producer is done (everything is in Redis); its samples."""
        self._done.set()
        try:
            if not self._receive.poll(timeout):
                raise RuntimeError("the follower process did not report in time")
            samples: list[Sample] = self._receive.recv()
            return samples
        finally:
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()


def read_stored(client: redis.Redis, key: str) -> list[tuple[Any, dict[bytes, bytes]]]:
    """The whole stream as stored, after the producer is done (XRANGE in chunks)."""
    entries: list[tuple[Any, dict[bytes, bytes]]] = []
    start: Any = "-"
    while True:
        chunk: Any = client.xrange(key, min=start, count=10_000)
        entries.extend(chunk)
        if len(chunk) < 10_000:
            return entries
        start = "(" + chunk[-1][0].decode()


def readable_at(
    entries: list[tuple[Any, dict[bytes, bytes]]], samples: list[Sample]
) -> list[tuple[Any, dict[bytes, bytes], float]]:
    """Each entry with the time of the first sample whose newest id is at or past it. Pure.

    Entries are in stream order and samples in time order with non-decreasing
    ids, so one forward walk suffices. An entry no sample reached (the
    follower missed the end) gets NaN, which shows up in the percentiles.
    """
    timed: list[tuple[Any, dict[bytes, bytes], float]] = []
    index = 0
    for entry_id, fields in entries:
        position = logrecord.parse_stream_id(entry_id)
        while index < len(samples) and samples[index][1] < position:
            index += 1
        timed.append((entry_id, fields, samples[index][0] if index < len(samples) else math.nan))
    return timed


# --- producers --------------------------------------------------------------


def _line_fields() -> Callable[[int, float], dict[str, str]]:
    """Fields of bench line `index` emitted at `now`, identical to `LogRecord.to_fields()`.

    The template is checked against the contract's model once; the hot loop
    only fills in sequence, timestamp and message (what the runner does too).
    """

    def record(index: int, now: float) -> logrecord.LogRecord:
        return logrecord.LogRecord(
            sequence=index + 1,
            timestamp=now,
            level="INFO",
            logger=LOGGER,
            source=logrecord.Origin.LOG,
            message=f"line {index} {now!r}",
            attempt=1,
        )

    template = record(0, 0.0).to_fields()

    def fields(index: int, now: float) -> dict[str, str]:
        line = dict(template)
        line["seq"] = str(index + 1)
        line["ts"] = logrecord.timestamp_text(now)
        line["msg"] = f"line {index} {now!r}"
        return line

    sample = time.time()
    assert fields(7, sample) == record(7, sample).to_fields()
    return fields


@dataclasses.dataclass(frozen=True)
class Produced:
    """What a producer knows: how long the user's thread spent on the N calls."""

    loop_seconds: float
    note: str = ""
    bare_seconds_per_call: float = 0.0


def pure_python_client(url: str) -> redis.Redis:
    """redis-py as it installs by default: its own Python packing and parsing, even when
    hiredis is there (the ceiling is stated against that; (a') shows hiredis beside it)."""
    from redis._parsers import _RESP2Parser
    from redis.connection import Connection, ConnectionPool, PythonRespSerializer

    class PurePythonConnection(Connection):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(parser_class=_RESP2Parser, **kwargs)  # type: ignore[no-untyped-call]
            self._command_packer = PythonRespSerializer(self._buffer_cutoff, self.encoder.encode)

    return redis.Redis(
        connection_pool=ConnectionPool.from_url(url, connection_class=PurePythonConnection)
    )


def produce_pipelined(client: redis.Redis, key: str, lines: int) -> Produced:
    """(a) The ceiling: batches of the runner's batch size, one pipelined round trip each."""
    fields = _line_fields()
    batch = runner_settings.DEFAULT_BATCH_RECORDS
    started = time.perf_counter()
    for first in range(0, lines, batch):
        pipe = client.pipeline(transaction=False)
        for index in range(first, min(first + batch, lines)):
            pipe.xadd(key, fields(index, time.time()), id=f"1-{index + 1}")  # type: ignore[arg-type]
        pipe.execute()
    return Produced(time.perf_counter() - started)


def produce_one_by_one(client: redis.Redis, key: str, lines: int) -> Produced:
    """(b) One synchronous XADD per line, on the user's thread."""
    fields = _line_fields()
    started = time.perf_counter()
    for index in range(lines):
        client.xadd(key, fields(index, time.time()), id=f"1-{index + 1}")  # type: ignore[arg-type]
    return Produced(time.perf_counter() - started)


def produce_thread_per_line(client: redis.Redis, key: str, lines: int) -> Produced:
    """(c) A new thread per line doing the XADD (auto ids: the old engine had no sequence ids)."""
    fields = _line_fields()
    failures: list[BaseException] = []

    def send(line: dict[str, str]) -> None:
        try:
            client.xadd(key, line)  # type: ignore[arg-type]
        except Exception as error:  # the old engine swallowed these; we count them
            failures.append(error)

    threads: list[threading.Thread] = []
    started = time.perf_counter()
    for index in range(lines):
        thread = threading.Thread(target=send, args=(fields(index, time.time()),))
        thread.start()
        threads.append(thread)
    loop_seconds = time.perf_counter() - started
    for thread in threads:
        thread.join()
    note = f"{len(failures)} XADD failed" if failures else ""
    return Produced(loop_seconds, note)


def produce_with_runner(
    url: str,
    key_uid: str,
    lines: int,
    *,
    rate: float = 0.0,
    baseline: int | None = None,
    tree: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Produced:
    """The runner: `python -m kuberun.runtime` with a request file, as in a pod.

    `rate` > 0 paces the loop at that many lines a second; `baseline` calls into a
    do-nothing handler are timed before and after it (default: as many as the loop);
    `tree`: run the runner from that source tree (`runner-image/` of another version).
    """
    baseline = lines if baseline is None else baseline
    script = SCRIPT.format(lines=lines, baseline=baseline, pause=1.0 / rate if rate else 0.0)
    with tempfile.TemporaryDirectory(prefix="kuberun-bench-") as tmp:
        run_request = request.RunRequest(
            identity=identity.ExecutionIdentity(
                namespace=NAMESPACE, name="log-bench", uid=key_uid, attempt=1
            ),
            spec=spec.ExecutionSpec(
                source=spec.Source(inline=script),
                timeout_seconds=RUNNER_TIMEOUT_SECONDS,
            ),
        )
        request_file = Path(tmp, "request.json")
        request_file.write_text(run_request.model_dump_json(by_alias=True))
        env = {
            **os.environ,
            request.REQUEST_FILE_ENV: str(request_file),
            request.REDIS_URL_ENV: url,
            request.TERMINATION_LOG_ENV: str(Path(tmp, "termination-log")),
            # The only change from the defaults: the 100k-line cap would cut the run.
            runner_settings.MAX_LOG_LINES_ENV: str(lines + 1_000),
            **({"PYTHONPATH": tree} if tree else {}),
            **(extra_env or {}),
        }
        completed = subprocess.run(
            [sys.executable, "-m", "kuberun.runtime"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,  # the echo for `kubectl logs` stays on, as in a pod
            stderr=subprocess.PIPE,
            timeout=RUNNER_TIMEOUT_SECONDS,
            check=False,
        )
    client = redis.Redis.from_url(url)
    try:
        raw: Any = client.get(keys.result(NAMESPACE, key_uid, 1))
    finally:
        client.close()
    if raw is None:
        stderr = completed.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"runner exited {completed.returncode} without a result:\n{stderr}")
    result = outcome.RunResult.model_validate_json(raw)
    if not isinstance(result.result, dict) or "loop_seconds" not in result.result:
        raise RuntimeError(f"runner result is not the script's: {result.model_dump_json()}")
    note = f"runner {result.status.value}, exit {completed.returncode}, dropped {result.dropped}"
    if result.status.value != "SUCCESS" or result.dropped:
        raise RuntimeError(note)
    return Produced(
        float(result.result["loop_seconds"]),
        note,
        float(result.result.get("bare_seconds_per_call", 0.0)),
    )


# --- measuring --------------------------------------------------------------


def measure(
    url: str,
    method: str,
    lines: int,
    produce: Callable[[str], Produced],
    *,
    explicit_ids: bool = True,
    extrapolated: bool = False,
) -> Measurement:
    """Run one producer against a fresh stream with a follower; check and time it."""
    uid = f"{method.split()[0].strip('()')}-{uuid.uuid4().hex[:8]}"
    key = keys.logs_stream(NAMESPACE, uid)
    follower = Follower(url, key)
    produced = produce(uid)
    samples = follower.samples()
    client = redis.Redis.from_url(url)
    try:
        stored = analyse(
            readable_at(read_stored(client, key), samples), lines=lines, explicit_ids=explicit_ids
        )
        client.delete(key)
    finally:
        client.close()
    elapsed = stored.last_read - stored.first_emit
    return Measurement(
        method=method,
        lines=lines,
        lines_per_second=stored.lines / elapsed if elapsed > 0 else math.nan,
        user_us_per_call=produced.loop_seconds / lines * 1e6,
        p50_ms=stored.p50_ms,
        p99_ms=stored.p99_ms,
        stored=stored,
        extrapolated=extrapolated,
        note=produced.note,
        bare_us_per_call=produced.bare_seconds_per_call * 1e6,
    )


@dataclasses.dataclass(frozen=True)
class SenderCost:
    """One way of sending the same entries: CPU and wall time per record on the sending thread."""

    method: str
    cpu_us: float
    wall_us: float


def _send_handpacked(url: str, key_uid: str, batches: list[list[Entry]]) -> None:
    client = resp.Client(url)
    transport = transports.RedisStreamTransport(client.connection(), NAMESPACE, key_uid)
    try:
        for batch in batches:
            transport.send(batch)
    finally:
        transport.close()
        client.close()


def _send_handpacked_python(url: str, key_uid: str, batches: list[list[Entry]]) -> None:
    native, speedups.native = speedups.native, None
    try:
        _send_handpacked(url, key_uid, batches)
    finally:
        speedups.native = native


def _send_redis_py(url: str, key_uid: str, batches: list[list[Entry]]) -> None:
    _pipeline(redis.Redis.from_url(url), key_uid, batches)


def _send_redis_py_pure(url: str, key_uid: str, batches: list[list[Entry]]) -> None:
    _pipeline(pure_python_client(url), key_uid, batches)


def _pipeline(client: redis.Redis, key_uid: str, batches: list[list[Entry]]) -> None:
    key = keys.logs_stream(NAMESPACE, key_uid)
    try:
        for batch in batches:
            pipe = client.pipeline(transaction=False)
            for entry in batch:
                pipe.xadd(key, entry.fields(), id=entry.stream_id())  # type: ignore[arg-type]
            pipe.expire(key, keys.DEFAULT_TTL_SECONDS)
            pipe.execute()
    finally:
        client.close()


def compare_senders(
    url: str, records: int = 20_000, rounds: int = DEFAULT_ROUNDS
) -> list[SenderCost]:
    """The runner's hand-packed XADD against redis-py's own pipeline, alternating rounds.

    Both send the same `Entry` batches (the runner's batch size) to a fresh
    stream and wait for every reply; the figure is the sending thread's CPU time
    per record (what the user's code pays for under the GIL) and its wall time.
    """
    batch_size = runner_settings.DEFAULT_BATCH_RECORDS
    now = time.time()
    entries = [
        Entry(n, now + n * 1e-6, "INFO", LOGGER, "log", f"line {n - 1} {now + n * 1e-6!r}", 1)
        for n in range(1, records + 1)
    ]
    batches = [entries[i : i + batch_size] for i in range(0, records, batch_size)]
    parser = "hiredis" if _has_hiredis() else "no hiredis"
    methods: list[tuple[str, Callable[[str, str, list[list[Entry]]], None]]] = [
        ("hand-packed XADD (kuberun.runtime.resp)", _send_handpacked),
        (f"redis-py {redis.__version__} pipeline ({parser})", _send_redis_py),
    ]
    if speedups.native is not None:  # the first row packed in C: also its Python loop
        methods.append(("the same, KUBERUN_SPEEDUPS=0", _send_handpacked_python))
    if parser == "hiredis":
        methods.append(
            (f"redis-py {redis.__version__} pipeline (pure Python)", _send_redis_py_pure)
        )
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in methods}
    cleanup = redis.Redis.from_url(url)
    try:
        for _ in range(max(rounds, 1)):
            for name, send in methods:
                uid = f"senders-{uuid.uuid4().hex[:8]}"
                cpu, wall = time.thread_time(), time.perf_counter()
                send(url, uid, batches)
                cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                samples[name].append((cpu / records * 1e6, wall / records * 1e6))
                cleanup.delete(keys.logs_stream(NAMESPACE, uid))
    finally:
        cleanup.close()
    costs = []
    for name, _ in methods:
        ranked = sorted(samples[name])
        cpu_us, wall_us = ranked[(len(ranked) - 1) // 2]
        costs.append(SenderCost(name, cpu_us, wall_us))
    return costs


@dataclasses.dataclass(frozen=True)
class Report:
    lines: int
    baseline_lines: int
    measurements: list[Measurement]
    environment: str
    senders: list[SenderCost] = dataclasses.field(default_factory=list)

    def row(self, prefix: str) -> Measurement:
        return next(m for m in self.measurements if m.method.startswith(prefix))

    @property
    def runner(self) -> Measurement:
        return self.row(RUNNER)

    @property
    def steady(self) -> Measurement | None:
        return next((m for m in self.measurements if m.method.startswith(STEADY)), None)

    @property
    def ceiling(self) -> Measurement:
        return self.row(CEILING)

    @property
    def ratio(self) -> float:
        return self.runner.lines_per_second / self.ceiling.lines_per_second

    @property
    def cost_ratio(self) -> float:
        return self.runner.cost_ratio

    def checks(self) -> list[tuple[bool, str]]:
        runner, steady = self.runner, self.steady
        found = [
            (
                self.ratio >= TARGET_RATIO,
                f"runner throughput {self.ratio:.2f}× the ceiling (target ≥ {TARGET_RATIO}×)",
            ),
            (
                self.cost_ratio <= TARGET_COST_RATIO,
                f"cost of a log line to the user's loop {self.cost_ratio:.2f}× a call into a"
                f" do-nothing handler in the same process ({runner.user_us_per_call:.2f} vs"
                f" {runner.bare_us_per_call:.2f} µs; target ≤ {TARGET_COST_RATIO}×)",
            ),
            (
                runner.p99_ms <= TARGET_FLOOD_P99_MS,
                f"latency under the {runner.lines:,}-line flood: p99 {runner.p99_ms:.1f} ms"
                f" (target ≤ {TARGET_FLOOD_P99_MS:g} ms)",
            ),
            (
                runner.ordered,
                f"runner order: {runner.stored.lines:,} lines"
                f" stored, {runner.stored.line_order.missing} gaps,"
                f" {runner.stored.line_order.duplicates} duplicates,"
                f" {runner.stored.line_order.out_of_order} out of order;"
                f" stream sequences 1..{runner.stored.records}"
                f" {runner.stored.sequences.describe()},"
                f" ids <attempt>-<sequence>: {runner.stored.bad_ids} bad",
            ),
        ]
        if steady is not None:
            found.append(
                (
                    steady.p99_ms <= TARGET_STEADY_P99_MS and steady.ordered,
                    f"latency at a steady {STEADY_RATE:,} lines/s: p50 {steady.p50_ms:.1f} ms,"
                    f" p99 {steady.p99_ms:.1f} ms (target ≤ {TARGET_STEADY_P99_MS:g} ms),"
                    f" order {steady.order_text()}",
                )
            )
        return found

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.checks())

    def render(self) -> str:
        header = (
            f"{'method':<38} {'lines':>8} {'lines/s':>9} {'× ceiling':>9}"
            f" {'user µs/call':>12} {'bare µs/call':>12} {'× bare':>6}"
            f" {'p50 ms':>8} {'p99 ms':>8}  order/gaps/dups"
        )
        rows = [header, "-" * len(header)]
        for m in self.measurements:
            lines = f"{m.lines:,}" + ("*" if m.extrapolated else "")
            ratio = (
                f"{m.lines_per_second / self.ceiling.lines_per_second:>8.2f}×"
                if m is not self.steady
                else f"{'paced':>9}"
            )
            bare = f"{m.bare_us_per_call:>12.2f}" if m.bare_us_per_call else f"{'':>12}"
            cost = (
                f"{m.cost_ratio:>5.2f}×"
                if m.bare_us_per_call and m is not self.steady
                else f"{'':>6}"
            )
            rows.append(
                f"{m.method:<38} {lines:>8} {m.lines_per_second:>9,.0f} {ratio}"
                f" {m.user_us_per_call:>12.2f} {bare} {cost}"
                f" {m.p50_ms:>8.1f} {m.p99_ms:>8.1f}  {m.order_text()}"
                + (f"  [{m.note}]" if m.note else "")
            )
        verdicts = [f"{'PASS' if ok else 'FAIL'}  {text}" for ok, text in self.checks()]
        footnotes = [
            f"* measured on {self.baseline_lines:,} lines; lines/s and µs/call are per line,"
            " so they stand for the full run (latency figures are from the shorter run).",
            "lines/s: first line emitted → last line readable on the stream."
            " user µs/call: time of the logging loop on the user's thread / lines.",
            "bare µs/call: the same loop in the same runner process into a do-nothing"
            " logging.Handler (timed before and after the captured loop); × bare = user / bare"
            " (with rounds: the median of the rounds' ratios, each from one process).",
            "p50/p99: emit (time.time() in the message) → readable (an XREAD BLOCK follower"
            " in a separate process saw the stream's newest id reach it).",
        ]
        senders = []
        if self.senders:
            records = f"{runner_settings.DEFAULT_BATCH_RECORDS:,}"
            senders = [
                "",
                f"sending the same records in batches of {records} to the same Redis (median"
                " of rounds; CPU of the sending thread, which user code shares the GIL with):",
                *(
                    f"  {s.method:<46} {s.cpu_us:>6.2f} µs CPU/record"
                    f"  {s.wall_us:>6.2f} µs wall/record"
                    for s in self.senders
                ),
            ]
            if len(self.senders) >= 2:
                own, library = self.senders[0], self.senders[1]
                senders.append(
                    f"  → {own.method.split(' (')[0]}: {library.cpu_us / own.cpu_us:.2f}× less CPU"
                    f" per record than {library.method}"
                )
        return "\n".join([self.environment, "", *rows, "", *footnotes, *senders, "", *verdicts])


def _environment(lines: int, url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        info: Any = client.info("server")
        version = info.get("redis_version", "?")
    finally:
        client.close()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parser = "hiredis" if _has_hiredis() else "no hiredis"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"kuberun log pipeline benchmark · {now} · {lines:,} logging calls\n"
        f"Python {platform.python_version()} (runner and baselines) · redis-server {version}"
        f" on loopback · redis-py {redis.__version__} ({parser}) · {os.cpu_count()} CPUs,"
        f" load average {load} at the end"
    )


def _has_hiredis() -> bool:
    return importlib.util.find_spec("hiredis") is not None


def run(
    url: str,
    lines: int = DEFAULT_LINES,
    baseline_lines: int = DEFAULT_BASELINE_LINES,
    rounds: int = DEFAULT_ROUNDS,
    also: str | None = None,
) -> Report:
    """Every method against the Redis at `url`, in one run (`also`: another runner tree).

    The ceiling and the runner alternate for `rounds` rounds and each reports
    its median round, so a burst of load from elsewhere on the machine hits
    both alike instead of deciding the ratio.
    """
    baseline_lines = min(baseline_lines, lines)
    short = baseline_lines < lines

    def with_client(
        produce: Callable[[redis.Redis, str, int], Produced], n: int, *, hiredis: bool = False
    ) -> Callable[[str], Produced]:
        def go(uid: str) -> Produced:
            client = redis.Redis.from_url(url) if hiredis else pure_python_client(url)
            try:
                return produce(client, keys.logs_stream(NAMESPACE, uid), n)
            finally:
                client.close()

        return go

    rows: dict[str, list[Measurement]] = {}
    producers: dict[str, Callable[[str], Produced]] = {
        CEILING: with_client(produce_pipelined, lines),
        RUNNER: lambda uid: produce_with_runner(url, uid, lines),
    }
    producers[PROCESS] = lambda uid: produce_with_runner(
        url, uid, lines, extra_env={runner_settings.DELIVERY_PROCESS_ENV: "1"}
    )
    producers[PYTHON_LOOPS] = lambda uid: produce_with_runner(
        url, uid, lines, extra_env={speedups.ENV: "0"}
    )
    if _has_hiredis():
        producers[CEILING_HIREDIS] = with_client(produce_pipelined, lines, hiredis=True)
    if also:
        producers[f"{OLDER} {Path(also).resolve().parent.name}"] = lambda uid: produce_with_runner(
            url, uid, lines, tree=also
        )
    for _ in range(max(rounds, 1)):
        for method, produce in producers.items():
            rows.setdefault(method, []).append(measure(url, method, lines, produce))
    steady_lines = min(lines, STEADY_RATE * STEADY_SECONDS)
    measurements = [
        *(median_round(found) for found in rows.values()),
        measure(url, STEADY, steady_lines,
                lambda uid: produce_with_runner(url, uid, steady_lines, rate=STEADY_RATE,
                                                baseline=0)),
        measure(url, "(b) one synchronous XADD per line", baseline_lines,
                with_client(produce_one_by_one, baseline_lines), extrapolated=short),
        measure(url, "(c) one thread per line (old engine)", baseline_lines,
                with_client(produce_thread_per_line, baseline_lines),
                explicit_ids=False, extrapolated=short),
    ]  # fmt: skip
    senders = compare_senders(url, min(lines, 20_000), rounds)
    return Report(lines, baseline_lines, measurements, _environment(lines, url), senders)


def median_round(rounds: list[Measurement]) -> Measurement:
    """The round with the median lines/s, or the first unordered one (a failure must show)."""
    broken = [m for m in rounds if not m.ordered]
    ranked = sorted(rounds, key=lambda m: m.lines_per_second)
    chosen = broken[0] if broken else ranked[(len(ranked) - 1) // 2]
    if len(rounds) == 1:
        return chosen
    spread = (
        f"median of {len(rounds)} rounds,"
        f" {ranked[0].lines_per_second:,.0f}–{ranked[-1].lines_per_second:,.0f} lines/s"
    )
    costs = sorted(m.cost_ratio for m in rounds if m.bare_us_per_call)
    if costs:
        spread += f", × bare {costs[0]:.2f}–{costs[-1]:.2f}"
    return dataclasses.replace(
        chosen,
        note="; ".join(filter(None, [spread, chosen.note])),
        rounds_cost_ratio=statistics.median(costs) if costs else 0.0,
    )


@contextlib.contextmanager
def _redis_url(url: str | None) -> Iterator[str]:
    """`url` itself, or a throwaway redis-server started for the run."""
    if url is not None:
        yield url
        return
    from tests.support.redis_server import running_redis  # the repo's helper, not a dependency

    with running_redis() as server:
        yield server.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench logs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES)
    parser.add_argument("--baseline-lines", type=int, default=DEFAULT_BASELINE_LINES)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--redis", help="use this Redis instead of starting a redis-server")
    parser.add_argument("--markdown", type=Path, help="also write the output into this file")
    parser.add_argument(
        "--also-runner",
        metavar="TREE",
        help="also measure the runner of another source tree (its runner-image/ directory)",
    )
    args = parser.parse_args(argv)
    with _redis_url(args.redis) as url:
        report = run(url, args.lines, args.baseline_lines, args.rounds, args.also_runner)
    text = report.render()
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(with_section(_read(args.markdown), SECTION, text))
        print(f"\n(written into {args.markdown})")
    return 0 if report.passed else 1


SECTION = "logs"


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def with_section(document: str, name: str, output: str) -> str:
    """`document` with the fenced output between `<!-- bench:NAME -->` markers replaced.

    Other sections (another benchmark's, the prose around them) stay as they
    are; a missing section is appended.
    """
    begin, end = f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"
    block = f"{begin}\n```text\n{output.rstrip()}\n```\n{end}"
    if begin in document and end in document:
        head, _, rest = document.partition(begin)
        _, _, tail = rest.partition(end)
        return head + block + tail
    return document.rstrip("\n") + ("\n\n" if document else "") + block + "\n"
