"""`python -m bench admission`: the admission round alone, full re-plan vs incremental queue.

In-process, no cluster: the operator's own `ClusterState` is filled with N
queued Executions (bodies as the watch delivers them), then, for each N:

- one new Execution arriving: the full round (`admission.plan()` over
  `state.candidates()`: what every event cost before) against the incremental
  one (`observe_execution` keeping `admissionqueue` + `queue.admit`);
- one slot freeing at N queued: the incremental round plus the position
  publication that follows (`handlers._admit`), and how many positions it writes;
- the memory the admission view holds per Execution (tracemalloc).

This isolates the quadratic term the real-cluster benchmark (`bench scale`)
measures end to end; it runs in seconds, so it also goes to N = 100,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from typing import Any, cast

from kuberun_operator import admission, handlers
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.context import OperatorContext
from kuberun_operator.kubeio import Kube
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings

LIMIT = 2


def body(i: int, phase: str = "PENDING", attempt: int = 0) -> dict[str, Any]:
    second = i // 400  # 400 created per second, as a burst from 16 clients
    return {
        "metadata": {
            "uid": f"uid-{i:07d}",
            "name": f"q-{i:07d}",
            "namespace": "bench",
            "creationTimestamp": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + second)
            ),
        },
        "spec": {"source": {"inline": "pass"}, "priority": 0},
        "status": {"phase": phase, "attempt": attempt, "reason": "Queued"},
    }


def context() -> OperatorContext:
    return OperatorContext(
        settings=Settings(max_running=LIMIT, max_running_per_namespace=LIMIT),
        kube=cast(Kube, None),
        redis=None,
        metrics=Metrics(),
        state=ClusterState(),
    )


def measure(n: int, samples: int) -> dict[str, float]:
    rt = context()
    state = rt.state
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        state.observe_execution(body(i))
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    loop = asyncio.new_event_loop()
    try:
        handlers._admit(rt, 0.0, loop)  # the first LIMIT start; positions published
        for uid in list(state.queue._items):
            state.queue_position(uid)
        full: list[float] = []
        incremental: list[float] = []
        for _ in range(samples):
            started = time.perf_counter()
            admission.plan(state.candidates(), LIMIT, LIMIT)
            full.append(time.perf_counter() - started)
        gc.collect()  # the full plans' garbage is not the incremental round's cost
        for k in range(samples * 10):
            new = body(n + k)
            started = time.perf_counter()
            state.observe_execution(new)
            state.queue.admit(LIMIT, LIMIT)
            incremental.append(time.perf_counter() - started)
        freed: list[float] = []
        writes: list[int] = []
        for _ in range(samples):
            running = next(iter(state.queue._holding))
            published = dict(state.positions)
            started = time.perf_counter()
            state.forget(running)
            handlers._admit(rt, 0.0, loop)
            freed.append(time.perf_counter() - started)
            writes.append(sum(1 for u, p in state.positions.items() if published.get(u) != p))
    finally:
        loop.close()
    return {
        "full_ms": statistics.median(full) * 1000,
        "incremental_us": statistics.median(incremental) * 1e6,
        "freed_ms": statistics.median(freed) * 1000,
        "writes": statistics.fmean(writes),
        "bytes_per_execution": held / n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench admission",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args(argv)
    results = {n: measure(n, args.samples) for n in args.counts}
    load = os.getloadavg()
    print(
        f"\nadmission round — N queued, limit {LIMIT} (median of {args.samples}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"Python {platform.python_version()})"
    )
    print(f"{'':46}" + "".join(f"{'N=' + format(n, ','):>12}" for n in results))
    rows = [
        ("new Execution, full re-plan (ms)", "full_ms", "{:.2f}"),
        ("new Execution, incremental (µs)", "incremental_us", "{:.1f}"),
        ("freed slot: admit + publish positions (ms)", "freed_ms", "{:.2f}"),
        ("  positions written per freed slot", "writes", "{:.1f}"),
        ("admission view per Execution (bytes)", "bytes_per_execution", "{:.0f}"),
    ]
    for label, key, fmt in rows:
        print(f"{label:46}" + "".join(f"{fmt.format(r[key]):>12}" for r in results.values()))
    biggest = max(results)
    ratio = results[biggest]["incremental_us"] / results[min(results)]["incremental_us"]
    print(f"incremental cost at N={biggest:,} is {ratio:.1f}× the cost at N={min(results):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
