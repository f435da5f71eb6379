"""`python -m bench stampede`: identical data-provider misses at once, guard on vs off.

On the local cluster (the real kubelet, the operator installed by our chart, a
real Redis), `--count` Executions of the same data provider with the same
parameters and organization are created at once, twice in the same run: with
the operator's stampede guard on (`KUBERUN_CACHE_STAMPEDE_GUARD`, the default)
and off (every one gets a pod whose runner waits on the cache lock). Each run
uses its own organization, so neither finds the other's cache entry.

Printed: Jobs started, pods started, the computations (counted by the provider
in Redis), create→terminal p50/p99, wall time and the operator's CPU seconds.
Target: the guard starts exactly one Job. Exit code 1 when it does not.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import platform
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import redis

from bench.control_path import Watcher, cluster_for, percentile
from e2e import harness
from e2e.operator import support
from tests.support.data_providers import counting_provider
from tests.support.redis_server import RedisServer, running_redis


def one_run(
    cluster: harness.Cluster, redis_server: RedisServer, count: int, guard: bool, seconds: float
) -> dict[str, Any]:
    ns = f"bench-st-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace({"metadata": {"name": ns}})
    harness.wait_for(
        "default ServiceAccount",
        lambda: any(
            sa.metadata.name == "default"
            for sa in cluster.core.list_namespaced_service_account(ns).items
        ),
    )
    support.prepare_namespace(cluster, ns, redis_server.url)
    log = pathlib.Path(tempfile.mkdtemp(prefix="kuberun-bench-st-")) / "operator.log"
    env = {
        "KUBERUN_CACHE_STAMPEDE_GUARD": "true" if guard else "false",
        "KUBERUN_MAX_RUNNING": str(count),
        "KUBERUN_MAX_RUNNING_PER_NAMESPACE": str(count),
        "KUBERUN_LOG_LEVEL": "WARNING",
    }
    op = support.operator_for(cluster, ns, redis_server.url, log, env)
    if isinstance(op, support.ChartOperator):
        op.liveness_probe = {"periodSeconds": 10, "timeoutSeconds": 20, "failureThreshold": 6}
    op.start()
    client = redis.Redis.from_url(redis_server.url)
    counter = f"bench:{ns}:computations"
    code = counting_provider(counter, seconds=seconds)
    watcher = Watcher(cluster, ns, "Execution")
    pods: set[str] = set()
    try:
        watcher.start()
        watcher.ready.wait()
        time.sleep(0.5)
        proc = psutil.Process(op.pid())
        cpu_before = sum(proc.cpu_times()[:2])
        names = [f"st-{i:03d}" for i in range(count)]
        created: dict[str, float] = {}

        def submit(name: str) -> None:
            created[name] = time.monotonic()
            support.create(
                cluster,
                ns,
                support.execution(
                    name,
                    code,
                    entrypoint="regions",
                    parameters={"cloud": "gcp"},
                    organization=f"org-{ns}",
                ),
            )

        first = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(submit, names))
        finished = [watcher.wait(n, timeout=900) for n in names]
        cpu = sum(proc.cpu_times()[:2]) - cpu_before
        reasons: dict[str, int] = {}
        for n in names:
            st = support.status(cluster, ns, n)
            key = f"{st.get('phase')}/{st.get('reason')}"
            reasons[key] = reasons.get(key, 0) + 1
        jobs = len(support.jobs_of(cluster, ns))
        pods = {p.metadata.name for p in support.pods_of(cluster, ns)}
        computed = int(client.get(counter) or 0)  # type: ignore[arg-type]
        per = [watcher.done[n] - created[n] for n in names]
        return {
            "guard": guard,
            "jobs": jobs,
            "pods": len(pods),
            "computed": computed,
            "p50": percentile(per, 0.5),
            "p99": percentile(per, 0.99),
            "wall": max(finished) - first,
            "cpu": cpu,
            "reasons": reasons,
        }
    finally:
        watcher.stop()
        client.close()
        op.stop()
        support.release_finalizers(cluster, ns)
        with contextlib.suppress(Exception):
            cluster.core.delete_namespace(ns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench stampede",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBERUN_E2E_KUBECONFIG"))
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0, help="the provider's compute time")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(cluster_for(args.kubeconfig))
        host = cluster.local.state.node_ip if cluster.local is not None else "127.0.0.1"
        redis_server = stack.enter_context(running_redis(host))
        support.apply_crd(cluster)
        runs = [one_run(cluster, redis_server, args.count, g, args.seconds) for g in (True, False)]
    load = os.getloadavg()
    print(
        f"\nstampede — {args.count} identical data-provider executions created at once "
        f"(provider computes {args.seconds:g} s; {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python {platform.python_version()})"
    )
    print(f"{'guard':8}{'Jobs':>6}{'pods':>6}{'computed':>10}{'p50 s':>8}{'p99 s':>8}"
          f"{'wall s':>8}{'op CPU s':>10}  outcomes")  # fmt: skip
    for r in runs:
        print(
            f"{'on' if r['guard'] else 'off':8}{r['jobs']:>6}{r['pods']:>6}{r['computed']:>10}"
            f"{r['p50']:>8.1f}{r['p99']:>8.1f}{r['wall']:>8.1f}{r['cpu']:>10.1f}  "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items()))
        )
    ok = runs[0]["jobs"] == 1
    print(f"{'PASS' if ok else 'FAIL'}  guard on started {runs[0]['jobs']} Job (target 1)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
