"""The process kubelet's main loop: register the node, watch pods, hand them to workers.

Level-triggered: a full pod list, then a watch from its resourceVersion; every
event goes through :meth:`Kubelet.observe`, which binds unscheduled pods to
this node (there is no scheduler), starts a :class:`~e2e.kubelet.podworkers.PodWorker`
for each pod of this node that is not terminal, feeds updates (deletion) to
running workers, and finishes the deletion of terminal pods. Each relist also
removes what is left on disk of pods that no longer exist.

Restart-safe by construction: on start, workers are created for every
non-terminal pod of the node and adopt its running containers from disk.

``python -m e2e.kubelet --help`` for the flags; normally started by
``python -m e2e.cluster up`` or the pytest fixtures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pathlib
import shutil
import signal
import sys
from collections.abc import Callable
from typing import Any

import aiohttp

from e2e.kubelet import events, images, kubeapi, logserver, node, podworkers, statuses
from e2e.kubelet.settings import Settings

logger = logging.getLogger("e2e.kubelet")

TERMINAL = podworkers.TERMINAL
#: A crashed pod worker is replaced (adopting its containers) after this long.
CRASH_RETRY_SECONDS = 5.0


class Kubelet:
    """Holds the pod workers of one node."""

    def __init__(self, client: kubeapi.Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.workers: dict[str, podworkers.PodWorker] = {}
        self.recorder = events.Recorder(client, settings.node_name)
        #: The Node's labels, for nodeSelector; set by ``amain`` after registering.
        self.node_labels: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def observe(self, pod: dict[str, Any]) -> None:
        """React to the current version of one pod."""
        meta, spec = pod["metadata"], pod.get("spec", {})
        target = spec.get("nodeName")
        if not target:
            if (
                self.settings.bind_pods
                and not meta.get("deletionTimestamp")
                and spec.get("schedulerName", "default-scheduler") == "default-scheduler"
            ):
                if self._fits(pod):
                    await self._bind(pod)
                else:
                    await self._mark_unschedulable(pod)
            return
        if target != self.settings.node_name:
            return
        uid = meta["uid"]
        worker = self.workers.get(uid)
        if (
            worker is not None
            and worker.crashed_at is not None
            and asyncio.get_running_loop().time() - worker.crashed_at > CRASH_RETRY_SECONDS
        ):
            del self.workers[uid]
            worker = None
        if worker is not None and not worker.finished:
            worker.update(pod)
            return
        phase = pod.get("status", {}).get("phase")
        if phase in TERMINAL or worker is not None:
            if meta.get("deletionTimestamp"):
                await self._delete_now(pod)
            return
        worker = podworkers.PodWorker(self.client, self.settings, pod, self.recorder)
        self.workers[uid] = worker
        worker.update(pod)
        worker.start()

    def deleted(self, pod: dict[str, Any]) -> None:
        """The pod is gone from the API: stop its processes if any, then forget its files."""
        uid = pod["metadata"]["uid"]
        worker = self.workers.pop(uid, None)
        if worker is None:
            directory = podworkers.pod_dir(self.settings, pod)
            if directory.exists():
                podworkers.remove_orphan(self.settings, directory)
            return
        if worker.finished or worker.task is None:
            worker.remove_files()
            return
        worker.abandon()

        async def forget(w: podworkers.PodWorker = worker) -> None:
            assert w.task is not None
            with contextlib.suppress(Exception):
                await w.task
            w.remove_files()

        self._spawn(forget())

    async def sync(self, pods: list[dict[str, Any]]) -> None:
        """A full listing: observe each pod, and drop what belongs to vanished pods."""
        present = {p["metadata"]["uid"] for p in pods}
        for pod in pods:
            await self.observe(pod)
        for uid, worker in list(self.workers.items()):
            if uid not in present:
                self.deleted(worker.pod)
        if self.settings.pods_dir.exists():
            for directory in self.settings.pods_dir.iterdir():
                uid = directory.name.rsplit("_", 1)[-1]
                if uid not in present and uid not in self.workers:
                    podworkers.remove_orphan(self.settings, directory)

    def _fits(self, pod: dict[str, Any]) -> bool:
        """The scheduler's nodeSelector check (affinity, taints and resources are not checked)."""
        selector = pod.get("spec", {}).get("nodeSelector") or {}
        return all(self.node_labels.get(k) == v for k, v in selector.items())

    async def _mark_unschedulable(self, pod: dict[str, Any]) -> None:
        """Say why the pod stays Pending, as the scheduler's PodScheduled condition does."""
        conditions = pod.get("status", {}).get("conditions", [])
        if any(c["type"] == "PodScheduled" for c in conditions):
            return
        meta = pod["metadata"]
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node selector.",
            "lastProbeTime": None,
            "lastTransitionTime": statuses.now(),
        }
        with contextlib.suppress(kubeapi.ApiError):
            await self.client.patch(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {"status": {"conditions": [condition]}},
            )

    async def _bind(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.settings.node_name},
        }
        try:
            await self.client.create(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", body
            )
            self.recorder.emit(
                pod,
                "Scheduled",
                f"Successfully assigned {meta['namespace']}/{meta['name']} to "
                f"{self.settings.node_name}",
                component="default-scheduler",
            )
        except (kubeapi.Conflict, kubeapi.NotFound):
            pass
        except kubeapi.ApiError as error:
            logger.warning("binding %s/%s failed: %s", meta["namespace"], meta["name"], error)

    async def _delete_now(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(kubeapi.NotFound, kubeapi.Conflict):
            await self.client.delete(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
            )

    def locate_log(
        self, namespace: str, name: str, container: str, previous: bool
    ) -> tuple[pathlib.Path, Callable[[], bool]] | None:
        """For the log server: the container's log file and whether it still runs."""
        worker = next(
            (w for w in self.workers.values() if w.namespace == namespace and w.name == name), None
        )
        filename = f"{container}.previous.log" if previous else f"{container}.log"
        if worker is None:
            # A pod that ended before this kubelet started: its files are still there.
            found = sorted(self.settings.pods_dir.glob(f"{namespace}_{name}_*/{filename}"))
            return (found[-1], lambda: False) if found else None
        path = worker.dir / filename

        def running() -> bool:
            slot = next((s for s in worker.slots + worker.init_slots if s.name == container), None)
            return not worker.finished and slot is not None and slot.report.terminated is None

        return path, running

    def _announce_ready(self) -> None:
        """Write ``<state>/ready`` (our pid) once registered and synced: starters wait for it."""
        marker = self.settings.state_dir / "ready"
        if not marker.exists():
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(str(os.getpid()))
            tmp.replace(marker)

    async def run_forever(self) -> None:
        while True:
            try:
                listing = await self.client.get("/api/v1/pods")
                await self.sync(listing["items"])
                self._announce_ready()
                version = listing["metadata"]["resourceVersion"]
                async for event in self.client.watch("/api/v1/pods", resource_version=version):
                    kind = event.get("type")
                    if kind == "BOOKMARK":
                        continue
                    if kind == "ERROR":
                        break
                    if kind == "DELETED":
                        self.deleted(event["object"])
                    else:
                        await self.observe(event["object"])
            except (kubeapi.ApiError, aiohttp.ClientError, TimeoutError, OSError) as error:
                logger.warning("pod watch failed (%s); relisting", error)
                await asyncio.sleep(1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.kubelet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", type=pathlib.Path, required=True)
    parser.add_argument("--state-dir", type=pathlib.Path, required=True)
    parser.add_argument("--node-name", default="kuberun-node")
    parser.add_argument("--cgroup-parent", default="kuberun/default")
    parser.add_argument("--port", type=int, default=10250, help="kubelet API (logs) port")
    parser.add_argument("--tls-cert", help="serving certificate for the kubelet API")
    parser.add_argument("--tls-key")
    parser.add_argument("--client-ca", help="CA of the API server's kubelet-client cert")
    parser.add_argument("--images", help="image table JSON (default: $KUBERUN_KUBELET_IMAGES)")
    parser.add_argument("--pids-limit", type=int, default=1024)
    parser.add_argument("--no-bind", action="store_true", help="do not bind unscheduled pods")
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> None:
    args.state_dir.mkdir(parents=True, exist_ok=True)
    (args.state_dir / "ready").unlink(missing_ok=True)
    for leftover in args.state_dir.glob("kuberun-kubeapi-*"):
        shutil.rmtree(leftover, ignore_errors=True)  # from a kubelet that was killed
    client = kubeapi.Client(args.kubeconfig, workdir=args.state_dir)
    settings = Settings(
        node_name=args.node_name,
        state_dir=args.state_dir,
        cgroup_parent=args.cgroup_parent,
        api_server=client.server,
        image_rules=tuple(images.load(args.images)),
        pids_limit=args.pids_limit,
        bind_pods=not args.no_bind,
    )
    settings.pods_dir.mkdir(parents=True, exist_ok=True)
    kubelet = Kubelet(client, settings)
    runner = None
    if args.tls_cert and args.tls_key and args.client_ca:
        runner = await logserver.serve(
            kubelet.locate_log,
            port=args.port,
            cert=args.tls_cert,
            key=args.tls_key,
            client_ca=args.client_ca,
        )
    kubelet.node_labels = await node.register(client, settings.node_name, args.port)
    heartbeat = asyncio.create_task(node.heartbeat(client, settings.node_name, args.port))
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM ends the kubelet cleanly; its containers keep running (their shims
    # are in other sessions) and the next kubelet adopts them.
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, main_task.cancel)
    try:
        await kubelet.run_forever()
    finally:
        heartbeat.cancel()
        if runner is not None:
            await runner.cleanup()
        await client.close()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(amain(parse_args(argv)))
