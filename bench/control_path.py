"""`python -m bench control`: the operator's control path against bare Jobs, same run.

On the local control plane (started for the run unless `--kubeconfig` or
`$KUBERUN_E2E_KUBECONFIG` names a cluster), with a real Redis and the operator
as a subprocess:

1. latency: create-to-terminal of `--latency-runs` no-op executions, one at a
   time, interleaved with the *same pod* run as a bare Job created directly
   (request Secret made beforehand) — the floor the operator adds to. Terminal
   is the moment a watch sees the Execution's terminal phase, or the Job's
   Complete condition. Target: p50 overhead ≤ 20 %.
2. throughput: `--burst` executions created at once; executions per second
   from the first create to the last terminal phase, the operator's CPU
   seconds and peak RSS over the burst.

Exit code 1 when the latency target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
import psutil

from e2e import harness
from e2e.cluster import controlplane
from e2e.node import images
from e2e.operator import support
from kuberun.contract import spec as contract
from kuberun_operator import manifests
from kuberun_operator.settings import Settings
from tests.support.redis_server import RedisServer, running_redis

NOOP = "pass"
TARGET_OVERHEAD = 0.20


class Watcher(threading.Thread):
    """Timestamps the first terminal event of each object name in a namespace."""

    def __init__(self, cluster: harness.Cluster, namespace: str, kind: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.namespace, self.kind = cluster, namespace, kind
        self.done: dict[str, float] = {}
        self.changed = threading.Condition()
        self._halt = threading.Event()
        watch_module: Any = kubernetes.watch  # untyped
        self._watch: Any = watch_module.Watch()
        self.ready = threading.Event()

    def is_terminal(self, obj: Any) -> bool:
        if self.kind == "Execution":
            return (obj.get("status") or {}).get("phase") in support.TERMINAL
        if self.kind == "Pod":
            return any(c.state.terminated for c in (obj.status.container_statuses or []))
        conditions = obj.status.conditions or []
        return any(c.type in ("Complete", "Failed") and c.status == "True" for c in conditions)

    def name_of(self, obj: Any) -> str:
        if self.kind == "Pod":  # pods are known by their Job
            return str((obj.metadata.labels or {}).get("job-name", obj.metadata.name))
        return str(obj["metadata"]["name"] if isinstance(obj, dict) else obj.metadata.name)

    def run(self) -> None:
        while not self._halt.is_set():
            if self.kind == "Execution":
                func: Any = self.cluster.custom.list_namespaced_custom_object
                args: tuple[Any, ...] = (
                    contract.GROUP,
                    contract.VERSION,
                    self.namespace,
                    contract.PLURAL,
                )
            elif self.kind == "Pod":
                func, args = self.cluster.core.list_namespaced_pod, (self.namespace,)
            else:
                func, args = self.cluster.batch.list_namespaced_job, (self.namespace,)
            self.ready.set()
            with contextlib.suppress(Exception):
                for event in self._watch.stream(func, *args, timeout_seconds=60):
                    now = time.monotonic()
                    obj = event["object"]
                    name = self.name_of(obj)
                    if name not in self.done and self.is_terminal(obj):
                        with self.changed:
                            self.done[name] = now
                            self.changed.notify_all()
                    if self._halt.is_set():
                        break

    def wait(self, name: str, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        with self.changed:
            while name not in self.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.kind} {name} did not finish in {timeout}s")
                self.changed.wait(left)
            return self.done[name]

    def stop(self) -> None:
        self._halt.set()
        self._watch.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bare_job(
    namespace: str, name: str, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The operator's exact Secret and Job for a no-op, minus the owner (there is none)."""
    ref = manifests.ExecutionRef(name=name, namespace=namespace, uid=str(uuid.uuid4()))
    execution = contract.ExecutionSpec.model_validate({"source": {"inline": NOOP}})
    secret = manifests.build_request_secret(ref, execution, 1)
    job = manifests.build_job_manifest(ref, execution, 1, settings)
    for body in (secret, job):
        del body["metadata"]["ownerReferences"]
    return secret, job


@contextlib.contextmanager
def cluster_for(kubeconfig: str | None) -> Iterator[harness.Cluster]:
    if kubeconfig:
        path = pathlib.Path(kubeconfig)
        state = harness.local_state_for(path)
        yield harness.connect(path, harness.LocalCluster(state) if state else None)
        return
    state_dir = pathlib.Path(tempfile.mkdtemp(prefix="kuberun-bench-"))
    try:
        print(f"# starting a local control plane in {state_dir}", flush=True)
        state = controlplane.up(state_dir)
        yield harness.connect(state.kubeconfig, harness.LocalCluster(state))
    finally:
        controlplane.down(state_dir)


class Sampler(threading.Thread):
    """Peak RSS of a process, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)

    def stop(self) -> None:
        self._halt.set()


def latency(
    cluster: harness.Cluster, ns: str, runs: int, settings: Settings
) -> tuple[list[float], list[float], list[float]]:
    """(bare Job → Complete, bare Job → pod terminated, Execution → terminal), in seconds."""
    executions = Watcher(cluster, ns, "Execution")
    jobs = Watcher(cluster, ns, "Job")
    pods = Watcher(cluster, ns, "Pod")
    for w in (executions, jobs, pods):
        w.start()
        w.ready.wait()
    time.sleep(0.5)
    bare_times: list[float] = []
    pod_times: list[float] = []
    operator_times: list[float] = []
    try:
        for i in range(runs + 2):  # two warm-up rounds, not counted
            secret, job = bare_job(ns, f"bare-{i}", settings)
            cluster.core.create_namespaced_secret(ns, secret)
            started = time.monotonic()
            cluster.batch.create_namespaced_job(ns, job)
            bare = jobs.wait(job["metadata"]["name"]) - started
            pod_done = pods.wait(job["metadata"]["name"]) - started

            name = f"lat-{i}"
            started = time.monotonic()
            support.create(cluster, ns, support.execution(name, NOOP))
            through_operator = executions.wait(name) - started
            if i >= 2:
                bare_times.append(bare)
                pod_times.append(pod_done)
                operator_times.append(through_operator)
    finally:
        executions.stop()
        jobs.stop()
        pods.stop()
    return bare_times, pod_times, operator_times


def bare_burst(
    cluster: harness.Cluster, ns: str, count: int, settings: Settings
) -> dict[str, float]:
    """The same no-op pods as bare Jobs, all created at once: what the cluster itself manages."""
    jobs = Watcher(cluster, ns, "Job")
    jobs.start()
    jobs.ready.wait()
    time.sleep(0.5)
    bodies = [bare_job(ns, f"bare-burst-{i:03d}", settings) for i in range(count)]
    first = time.monotonic()

    def submit(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
        cluster.core.create_namespaced_secret(ns, pair[0])
        cluster.batch.create_namespaced_job(ns, pair[1])

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(submit, bodies))
    last = max(jobs.wait(job["metadata"]["name"], timeout=900) for _, job in bodies)
    jobs.stop()
    return {"wall_seconds": last - first, "rate": count / (last - first)}


def burst(cluster: harness.Cluster, ns: str, count: int, op: support.Operator) -> dict[str, float]:
    watcher = Watcher(cluster, ns, "Execution")
    watcher.start()
    watcher.ready.wait()
    time.sleep(0.5)
    proc = psutil.Process(op.pid())
    cpu_before = sum(proc.cpu_times()[:2])
    sampler = Sampler(proc.pid)
    sampler.start()
    names = [f"burst-{i:03d}" for i in range(count)]
    created: dict[str, float] = {}
    first = time.monotonic()

    def submit(name: str) -> None:
        created[name] = time.monotonic()
        support.create(cluster, ns, support.execution(name, NOOP))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(submit, names))
    submitted = time.monotonic()
    finished = [watcher.wait(n, timeout=900) for n in names]
    last = max(finished)
    cpu_after = sum(proc.cpu_times()[:2])
    sampler.stop()
    watcher.stop()
    phases: dict[str, int] = {}
    for n in names:
        phase = support.status(cluster, ns, n).get("phase", "?")
        phases[phase] = phases.get(phase, 0) + 1
    per = [watcher.done[n] - created[n] for n in names]
    return {
        "count": count,
        "submit_seconds": submitted - first,
        "wall_seconds": last - first,
        "rate": count / (last - first),
        "p50": percentile(per, 0.5),
        "p99": percentile(per, 0.99),
        "cpu_seconds": cpu_after - cpu_before,
        "peak_rss_mib": sampler.peak / 2**20,
        "success": phases.get("SUCCESS", 0),
        "phases": float(len(phases)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench control",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBERUN_E2E_KUBECONFIG"))
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument(
        "--burst-baseline",
        action="store_true",
        help="also run the burst as bare Jobs first (what the cluster manages without us)",
    )
    parser.add_argument(
        "--max-running",
        type=int,
        default=100,
        help="the operator's global admission limit during the burst",
    )
    args = parser.parse_args(argv)

    # The bare Jobs run the runner image the operator's pods run.
    settings = Settings(runner_image=images.planned().runner.ref)
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(cluster_for(args.kubeconfig))
        host = cluster.local.state.node_ip if cluster.local is not None else "127.0.0.1"
        redis_server = stack.enter_context(running_redis(host))
        return _run(args, settings, cluster, redis_server)


def _run(
    args: argparse.Namespace,
    settings: Settings,
    cluster: harness.Cluster,
    redis_server: RedisServer,
) -> int:
    support.apply_crd(cluster)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace({"metadata": {"name": ns}})
    harness.wait_for(
        "default ServiceAccount",
        lambda: any(
            sa.metadata.name == "default"
            for sa in cluster.core.list_namespaced_service_account(ns).items
        ),
    )
    support.prepare_namespace(cluster, ns, redis_server.url)
    # The chart makes the runner account the bare Jobs use too.
    log = pathlib.Path(tempfile.mkdtemp(prefix="kuberun-bench-op-")) / "operator.log"
    env = {
        "KUBERUN_MAX_RUNNING": str(args.max_running),
        "KUBERUN_MAX_RUNNING_PER_NAMESPACE": str(args.max_running),
        "KUBERUN_LOG_LEVEL": "WARNING",
    }
    op = support.operator_for(cluster, ns, redis_server.url, log, env)
    if isinstance(op, support.ChartOperator):
        # The burst saturates both cores for minutes: a probe that gives up after 15 s
        # would restart the operator mid-measurement.
        op.liveness_probe = {"periodSeconds": 10, "timeoutSeconds": 20, "failureThreshold": 6}
    op.start()
    try:
        bare, pod_floor, through = latency(cluster, ns, args.latency_runs, settings)
        floor = (
            bare_burst(cluster, ns, args.burst, settings)
            if args.burst and args.burst_baseline
            else None
        )
        load = burst(cluster, ns, args.burst, op) if args.burst else None
    finally:
        op.stop()
        support.release_finalizers(cluster, ns)
        with contextlib.suppress(Exception):
            cluster.core.delete_namespace(ns)

    b50, o50 = statistics.median(bare), statistics.median(through)
    overhead = o50 / b50 - 1
    pod_overhead = o50 / statistics.median(pod_floor) - 1
    print(f"\ncontrol path — {len(bare)} no-op runs each, one at a time (seconds)")
    print(f"{'':32}{'p50':>8}{'p99':>8}{'mean':>8}")
    rows = (
        ("bare Job → Complete (floor)", bare),
        ("bare Job → pod terminated", pod_floor),
        ("Execution → terminal phase", through),
    )
    for label, values in rows:
        print(
            f"{label:32}{statistics.median(values):8.3f}{percentile(values, 0.99):8.3f}"
            f"{statistics.fmean(values):8.3f}"
        )
    verdict = "OK" if overhead <= TARGET_OVERHEAD else "MISSED"
    print(
        f"p50 overhead over bare Jobs: {overhead * 100:+.1f}% "
        f"(target ≤ {TARGET_OVERHEAD * 100:.0f}%: {verdict})"
    )
    print(
        f"p50 overhead over the bare pod's own end: {pod_overhead * 100:+.1f}% (the operator"
        " ends at the pod's termination; the Job controller marks Complete later)"
    )
    if load:
        print(
            f"\nburst — {int(load['count'])} executions created at once "
            f"(admission limit {args.max_running}, {os.cpu_count()} CPUs, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, Python {platform.python_version()})"
        )
        print(f"  submitted in           {load['submit_seconds']:.1f} s")
        print(
            f"  all terminal after     {load['wall_seconds']:.1f} s "
            f"→ {load['rate']:.1f} executions/s ({int(load['success'])} SUCCESS)"
        )
        print(f"  create→terminal        p50 {load['p50']:.1f} s, p99 {load['p99']:.1f} s")
        print(f"  operator CPU           {load['cpu_seconds']:.1f} s")
        busy = load["cpu_seconds"] / load["wall_seconds"]
        print(
            f"  per operator CPU-s     {load['count'] / load['cpu_seconds']:.1f} executions "
            f"({load['rate']:.2f} executions/s over {busy:.3f} operator CPU-s per s)"
        )
        print(f"  operator peak RSS      {load['peak_rss_mib']:.0f} MiB")
        if floor:
            print(
                f"  same pods as bare Jobs {floor['wall_seconds']:.1f} s "
                f"→ {floor['rate']:.1f} Jobs/s to Complete (no admission limit)"
            )
    return 0 if overhead <= TARGET_OVERHEAD else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
