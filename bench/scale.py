"""`python -m bench scale`: the operator holding thousands of queued Executions.

On the local cluster (real API server and kubelet, the operator installed by
our chart), with the admission limit at `--limit` (2) so all but a few stay
queued, for each N of `--counts` (a fresh namespace and operator each):

1. `--limit` holders are created and run (`time.sleep`), then N Executions are
   created at once (16 clients); reported: the time from the last create until
   every one has a status, and the operator's CPU for it (per 1,000);
2. idle-queued for `--idle` seconds: operator CPU (per 1,000 per minute),
   status writes per second (Execution MODIFIED events: only the operator
   writes then);
3. a freed slot: a holder is cancelled, the time from its terminal phase to
   the next Execution's admission (its status shows attempt 1), `--frees` times;
4. every queued one is cancelled (`spec.cancel`), the time until all are
   CANCELLED — a queued Execution needs no pod for it;

and over the whole: operator peak RSS, and API requests per Execution (from
the API server's own `apiserver_request_total`, requests on `executions` —
the operator's and kopf's; the benchmark's own creates, patches and watches
are subtracted).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
import psutil

from bench.control_path import Sampler, cluster_for
from e2e import harness
from e2e.operator import support
from kuberun.contract import spec as contract
from tests.support.redis_server import RedisServer, running_redis

HOLD = "import time\ntime.sleep(3600)"
REQUESTS = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$", re.M)


class StatusWatcher(threading.Thread):
    """First moments each Execution had a status, was admitted, ended; every MODIFIED event."""

    def __init__(self, cluster: harness.Cluster, namespace: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.namespace = cluster, namespace
        self.statused: dict[str, float] = {}
        self.admitted: dict[str, float] = {}
        self.ended: dict[str, tuple[float, str]] = {}
        self.modified: list[float] = []
        self.lock = threading.Condition()
        self._halt = threading.Event()
        watch_module: Any = kubernetes.watch
        self._watch: Any = watch_module.Watch()
        self.ready = threading.Event()
        self.requests = 0  # its own list + watch calls, for the API count

    def run(self) -> None:
        version = None
        while not self._halt.is_set():
            self.requests += 1
            self.ready.set()
            kwargs: dict[str, Any] = {"timeout_seconds": 120}
            if version:
                kwargs["resource_version"] = version
            try:
                for event in self._watch.stream(
                    self.cluster.custom.list_namespaced_custom_object,
                    contract.GROUP,
                    contract.VERSION,
                    self.namespace,
                    contract.PLURAL,
                    **kwargs,
                ):
                    self._seen(event)
                    version = event["object"]["metadata"].get("resourceVersion", version)
                    if self._halt.is_set():
                        break
            except Exception:  # e.g. 410 Gone: list again (only first moments are kept)
                version = None
                time.sleep(0.2)

    def _seen(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        obj = event["object"]
        name = obj["metadata"]["name"]
        st = obj.get("status") or {}
        with self.lock:
            if event["type"] == "MODIFIED":
                self.modified.append(now)
            if st.get("phase") and name not in self.statused:
                self.statused[name] = now
            if int(st.get("attempt") or 0) >= 1 and name not in self.admitted:
                self.admitted[name] = now
            if st.get("phase") in support.TERMINAL and name not in self.ended:
                self.ended[name] = (now, str(st["phase"]))
            self.lock.notify_all()

    def wait(self, what: str, check: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                got = check()
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{what}: not within {timeout:.0f} s")
                self.lock.wait(min(left, 1.0))

    def stop(self) -> None:
        self._halt.set()
        self._watch.stop()


def execution_requests(cluster: harness.Cluster) -> float:
    """Requests the API server has served on Executions so far, all verbs."""
    api: Any = cluster.core.api_client
    try:
        response = api.call_api("GET", f"{api.configuration.host}/metrics")
        raw = response.read() if callable(getattr(response, "read", None)) else None
        data = getattr(response, "data", None) or raw or b""
        text = data.decode() if isinstance(data, bytes) else str(data)
    except Exception as exc:  # a figure missing, not the run lost
        print(f"# API server metrics unreadable: {exc}", flush=True)
        return float("nan")
    total = 0.0
    for match in REQUESTS.finditer(text):
        if 'resource="executions"' in match["labels"]:
            total += float(match["value"])
    return total


class Cpu:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    def now(self) -> float:
        return float(sum(self.process.cpu_times()[:2]))


def one_count(
    cluster: harness.Cluster, redis_server: RedisServer, n: int, args: argparse.Namespace
) -> dict[str, Any]:
    ns = f"bench-sc-{uuid.uuid4().hex[:6]}"
    cluster.core.create_namespace({"metadata": {"name": ns}})
    harness.wait_for(
        "default ServiceAccount",
        lambda: any(
            sa.metadata.name == "default"
            for sa in cluster.core.list_namespaced_service_account(ns).items
        ),
    )
    support.prepare_namespace(cluster, ns, redis_server.url)
    log = pathlib.Path(tempfile.mkdtemp(prefix="kuberun-bench-sc-")) / "operator.log"
    env = {
        "KUBERUN_MAX_RUNNING": str(args.limit),
        "KUBERUN_MAX_RUNNING_PER_NAMESPACE": str(args.limit),
        "KUBERUN_LOG_LEVEL": "WARNING",
    }
    op = support.operator_for(cluster, ns, redis_server.url, log, env)
    if isinstance(op, support.ChartOperator):
        op.liveness_probe = {"periodSeconds": 10, "timeoutSeconds": 30, "failureThreshold": 10}
    op.start()
    watcher = StatusWatcher(cluster, ns)
    own = 0  # the benchmark's requests on executions
    out: dict[str, Any] = {"n": n}
    sampler: Sampler | None = None
    try:
        watcher.start()
        watcher.ready.wait()
        cpu = Cpu(op.pid())
        sampler = Sampler(op.pid())
        sampler.start()
        api_before = execution_requests(cluster)
        holders = [f"hold-{i}" for i in range(args.limit)]
        for name in holders:
            support.create(cluster, ns, support.execution(name, HOLD))
            own += 1
        watcher.wait("holders admitted", lambda: all(h in watcher.admitted for h in holders), 120)
        names = [f"q-{i:05d}" for i in range(n)]

        def submit(name: str) -> None:
            support.create(cluster, ns, support.execution(name, HOLD))

        cpu0, first = cpu.now(), time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(submit, names))
        own += n
        last_create = time.monotonic()
        watcher.wait(
            "every one has a status",
            lambda: all(q in watcher.statused for q in names),
            timeout=args.status_timeout,
        )
        statused = max(watcher.statused[q] for q in names)
        out.update(
            create_seconds=last_create - first,
            status_after_last_create=statused - last_create,
            create_cpu_per_1000=(cpu.now() - cpu0) / n * 1000,
            rss_after_create=sampler.peak / 2**20,
        )
        # Let the last position publications settle, then idle.
        time.sleep(5)
        cpu0, mods0, t0 = cpu.now(), len(watcher.modified), time.monotonic()
        time.sleep(args.idle)
        idle = time.monotonic() - t0
        out.update(
            idle_cpu_per_1000_per_min=(cpu.now() - cpu0) / idle * 60 / n * 1000,
            idle_writes_per_s=(len(watcher.modified) - mods0) / idle,
        )
        # Freed slots: cancel a holder, time its end to the next admission.
        delays: list[float] = []
        writes: list[int] = []
        running = list(holders)
        for _ in range(args.frees):
            victim = running.pop(0)
            with watcher.lock:
                admitted_before = set(watcher.admitted)
            mods0 = len(watcher.modified)
            support.patch_spec(cluster, ns, victim, cancel=True)
            own += 1
            watcher.wait(f"{victim} ended", lambda v=victim: v in watcher.ended, 120)

            def next_admitted(before: set[str] = admitted_before) -> str | None:
                fresh = [q for q in watcher.admitted if q not in before]
                return fresh[0] if fresh else None

            new = watcher.wait("the next admission", next_admitted, 60)
            delays.append(watcher.admitted[new] - watcher.ended[victim][0])
            running.append(new)
            time.sleep(args.queue_interval + 1)  # the positions' publication follows
            writes.append(len(watcher.modified) - mods0)
        out.update(
            next_admission_p50=statistics.median(delays),
            next_admission_max=max(delays),
            writes_per_freed_slot=statistics.fmean(writes),
        )
        # Cancel every queued one; none needs a pod.
        queued = [q for q in names if q not in watcher.admitted]
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda q: support.patch_spec(cluster, ns, q, cancel=True), queued))
        own += len(queued)
        patched = time.monotonic()
        watcher.wait(
            "every queued one ended",
            lambda: all(q in watcher.ended for q in queued),
            timeout=args.status_timeout,
        )
        done = max(watcher.ended[q][0] for q in queued)
        phases: dict[str, int] = {}
        for q in queued:
            phase = watcher.ended[q][1]
            phases[phase] = phases.get(phase, 0) + 1
        out.update(
            cancelled=phases.get("CANCELLED", 0),
            queued_at_cancel=len(queued),
            cancel_phases=phases,
            cancel_patch_seconds=patched - t0,
            cancel_all_seconds=done - t0,
        )
        own += watcher.requests
        out["api_per_execution"] = (execution_requests(cluster) - api_before - own) / (
            n + args.limit
        )
        out["peak_rss_mib"] = sampler.peak / 2**20
        return out
    finally:
        if sampler is not None:
            sampler.stop()
        watcher.stop()
        for name in list(watcher.admitted):
            with contextlib.suppress(Exception):
                support.patch_spec(cluster, ns, name, cancel=True)
        op.stop()
        support.release_finalizers(cluster, ns)
        with contextlib.suppress(Exception):
            cluster.core.delete_namespace(ns)


def _served(cluster: harness.Cluster) -> bool:
    """Whether the API server serves Executions yet: Established comes a moment before
    (a create then gets 503 "Kind=Execution not found" on a fresh control plane)."""
    try:
        cluster.custom.list_namespaced_custom_object(
            contract.GROUP, contract.VERSION, "default", contract.PLURAL, limit=1
        )
    except kubernetes.client.ApiException:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBERUN_E2E_KUBECONFIG"))
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--limit", type=int, default=2, help="the admission limit")
    parser.add_argument("--idle", type=float, default=60.0, help="idle-queued window, seconds")
    parser.add_argument("--frees", type=int, default=5, help="freed slots timed")
    parser.add_argument("--status-timeout", type=float, default=900.0)
    parser.add_argument("--queue-interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    results = []
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(cluster_for(args.kubeconfig))
        host = cluster.local.state.node_ip if cluster.local is not None else "127.0.0.1"
        redis_server = stack.enter_context(running_redis(host))
        support.apply_crd(cluster)
        harness.wait_for("the Execution kind served", lambda: _served(cluster), timeout=60)
        for n in args.counts:
            results.append(one_count(cluster, redis_server, n, args))
            load = os.getloadavg()
            results[-1]["load"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
            print(f"# N={n}: {results[-1]}", flush=True)
    print(
        f"\nscale — admission limit {args.limit}, all but {args.limit} queued "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()})"
    )
    rows = [
        ("created in (s)", "create_seconds", "{:.1f}"),
        ("all have a status, after last create (s)", "status_after_last_create", "{:.1f}"),
        ("operator CPU creating, per 1,000 (s)", "create_cpu_per_1000", "{:.1f}"),
        ("idle-queued CPU, per 1,000 per minute (s)", "idle_cpu_per_1000_per_min", "{:.2f}"),
        ("status writes/s, idle-queued", "idle_writes_per_s", "{:.2f}"),
        ("freed slot → next admission p50 (ms)", "next_admission_p50", "ms"),
        ("freed slot → next admission max (ms)", "next_admission_max", "ms"),
        ("status writes per freed slot", "writes_per_freed_slot", "{:.0f}"),
        ("cancel all queued: until all CANCELLED (s)", "cancel_all_seconds", "{:.1f}"),
        ("  of them CANCELLED", "cancelled", "{}"),
        ("API requests on executions per Execution", "api_per_execution", "{:.1f}"),
        ("operator peak RSS (MiB)", "peak_rss_mib", "{:.0f}"),
        ("load average after (1/5/15 min)", "load", "{}"),
    ]
    print(f"{'':44}" + "".join(f"{'N=' + format(r['n'], ','):>14}" for r in results))
    for label, key, fmt in rows:
        cells = []
        for r in results:
            value: Any = r.get(key)
            if fmt == "ms":
                cells.append(f"{value * 1000:>14.0f}")
            else:
                cells.append(f" {fmt.format(value):>13}"[-14:] if key != "load" else f"  {value}")
        print(f"{label:44}" + "".join(cells))
    ok = all(r["cancelled"] == r["queued_at_cancel"] for r in results)
    print(f"{'PASS' if ok else 'FAIL'}  every queued Execution ended CANCELLED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
