"""One pod's life on the process kubelet, from volumes to its terminal status.

A :class:`PodWorker` runs as one asyncio task per pod. It materialises the
volumes, runs init containers in order, starts the containers through their
shims, restarts them as ``restartPolicy`` says, enforces
``activeDeadlineSeconds``, and on deletion sends SIGTERM to every process
group, waits the grace period, sends SIGKILL, writes the terminal status and
deletes the pod with grace 0 (the Job-tracking finalizer is left to the Job
controller). Status goes through ``pods/status`` only when it changed.

A worker created for a pod that already has containers on disk adopts them
(:func:`e2e.kubelet.containers.latest`): that is how a restarted kubelet keeps
track of running pods.

Created and fed pod updates by :mod:`e2e.kubelet.agent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import pathlib
import shutil
import signal
from typing import Any

import aiohttp

from e2e.kubelet import (
    cgroups,
    containers,
    envs,
    events,
    fields,
    images,
    kubeapi,
    statuses,
    volumes,
)
from e2e.kubelet.settings import Settings

logger = logging.getLogger(__name__)

TERMINAL = ("Succeeded", "Failed")
#: Errors after which a write is retried: the API server restarting, a timeout, a 5xx.
TRANSIENT = (kubeapi.ApiError, aiohttp.ClientError, TimeoutError, OSError)
POLL_SECONDS = 0.1
#: Waiting reasons of a container that could not be created; retried every 2 s.
RETRIED_WAITING = ("CreateContainerConfigError", "CreateContainerError", "ErrImagePull")


def pod_dir(settings: Settings, pod: dict[str, Any]) -> pathlib.Path:
    """``<state>/pods/<namespace>_<name>_<uid>``: the pod's volumes, logs and records."""
    meta = pod["metadata"]
    return settings.pods_dir / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"


def _parse_time(value: str) -> float:
    return (
        datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=datetime.UTC)
        .timestamp()
    )


def limits_of(container: dict[str, Any], settings: Settings) -> cgroups.Limits:
    """cgroup limits from ``resources.limits`` (requests are not enforced, as upstream)."""
    limits = container.get("resources", {}).get("limits", {})
    memory = int(fields.quantity(limits["memory"])) if "memory" in limits else None
    cpu = int(fields.quantity(limits["cpu"]) * 1000) if "cpu" in limits else None
    return cgroups.Limits(memory_bytes=memory, cpu_millis=cpu, pids=settings.pids_limit)


class _Slot:
    """A container of the pod spec with its reported status and its current attempt."""

    def __init__(self, spec: dict[str, Any], report: statuses.Container) -> None:
        self.spec = spec
        self.report = report
        self.attempt: containers.Attempt | None = None
        self.restart_at: float | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        return (
            self.attempt is not None
            and self.report.running_since is not None
            and self.report.terminated is None
        )


class PodWorker:
    """Drives one pod; call :meth:`update` with every newer version of it."""

    def __init__(
        self,
        client: kubeapi.Client,
        settings: Settings,
        pod: dict[str, Any],
        recorder: events.Recorder | None = None,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.settings = settings
        self.pod = pod
        self.uid = str(pod["metadata"]["uid"])
        self.namespace = str(pod["metadata"]["namespace"])
        self.name = str(pod["metadata"]["name"])
        self.dir = pod_dir(settings, pod)
        self._stop = asyncio.Event()
        self._grace: float = 30.0
        self._last_status: dict[str, Any] | None = None
        status = pod.get("status", {})
        self.start_time = status.get("startTime") or statuses.now()
        self.conditions = statuses.Conditions(status.get("conditions"))
        self.conditions.set("PodScheduled", True)
        previous = {c["name"]: c for c in status.get("containerStatuses", [])}
        previous_init = {c["name"]: c for c in status.get("initContainerStatuses", [])}
        spec = pod["spec"]
        self.slots = [self._slot(c, previous) for c in spec.get("containers", [])]
        self.init_slots = [self._slot(c, previous_init) for c in spec.get("initContainers", [])]
        self.task: asyncio.Task[None] | None = None
        self.finished = False
        self.crashed_at: float | None = None

    def _slot(self, spec: dict[str, Any], previous: dict[str, dict[str, Any]]) -> _Slot:
        report = statuses.Container(name=spec["name"], image=spec.get("image", ""))
        old = previous.get(spec["name"])
        if old is not None:
            report.restart_count = int(old.get("restartCount", 0))
            report.last_terminated = (old.get("lastState") or {}).get("terminated")
        return _Slot(spec, report)

    # -- inputs -----------------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self._main(), name=f"pod {self.namespace}/{self.name}")

    def update(self, pod: dict[str, Any]) -> None:
        """Take a newer version of the pod; a deletionTimestamp starts termination."""
        self.pod = pod
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") and not self._stop.is_set():
            self._grace = float(meta.get("deletionGracePeriodSeconds", 30))
            self._stop.set()

    def abandon(self) -> None:
        """The pod is gone from the API (force-deleted): kill everything now."""
        self._grace = 0
        self._stop.set()

    # -- the life cycle ----------------------------------------------------------------

    async def _main(self) -> None:
        try:
            await self._run()
        except Exception:
            # Containers keep running: the agent replaces a crashed worker with a
            # new one that adopts them, as after a kubelet restart.
            logger.exception("pod %s/%s: worker failed", self.namespace, self.name)
            self.crashed_at = asyncio.get_running_loop().time()
        finally:
            self.finished = True

    async def _run(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        adopted = self._adopt()
        # Adopted containers keep the pod Running: never report a step backwards.
        await self._push(self._phase())
        if adopted:
            paths: dict[str, pathlib.Path] | None = volumes.existing(self.pod, self.dir / "volumes")
        else:
            paths = await self._prepare_volumes()
        if paths is None:
            return await self._finish_stopped()
        self.conditions.set("PodReadyToStartContainers", True)
        if not await self._run_init_containers(paths):
            return
        self.conditions.set("Initialized", True)
        for slot in self.slots:
            if slot.attempt is None:
                await self._start(slot, paths)
        while True:
            if self._stop.is_set():
                return await self._finish_stopped()
            if self._deadline_passed():
                return await self._finish_deadline()
            self._collect_exits(self.slots)
            await self._restart_due(self.slots, paths)
            phase = self._phase()
            if phase in TERMINAL:
                await self._push_final(phase)
                self._cleanup_cgroups()
                return
            await self._push(phase)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), POLL_SECONDS)

    def _adopt(self) -> bool:
        """Pick up attempts a previous kubelet process started; True if there were any."""
        adopted = False
        for slot in [*self.init_slots, *self.slots]:
            attempt = containers.latest(
                self.dir / "containers" / slot.name, lambda n, s=slot: self._group(s.name, n)
            )
            if attempt is None:
                continue
            adopted = True
            slot.attempt = attempt
            slot.report.attempt = attempt.number
            # Attempt n follows n restarts, even if the last status write was lost.
            slot.report.restart_count = max(slot.report.restart_count, attempt.number)
            pid = attempt.pid_info()
            if pid is not None:
                slot.report.running_since = str(pid["startedAt"])
                slot.report.waiting = None
            logger.info(
                "pod %s/%s: adopted container %s attempt %d",
                self.namespace,
                self.name,
                slot.name,
                attempt.number,
            )
        return adopted

    async def _prepare_volumes(self) -> dict[str, pathlib.Path] | None:
        while not self._stop.is_set():
            try:
                return await volumes.materialise(self.client, self.pod, self.dir / "volumes")
            except (volumes.VolumeError, fields.FieldError, *TRANSIENT) as error:
                for slot in [*self.init_slots, *self.slots]:
                    slot.report.waiting = ("ContainerCreating", f"volume setup failed: {error}")
                await self._push("Pending")
                if self._deadline_passed():
                    await self._finish_deadline()
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 2)
        return None

    async def _run_init_containers(self, paths: dict[str, pathlib.Path]) -> bool:
        """Run init containers one by one; False when the pod ended meanwhile."""
        for slot in self.init_slots:
            while True:
                if slot.attempt is None:
                    await self._start(slot, paths)
                if self._stop.is_set():
                    await self._finish_stopped()
                    return False
                if self._deadline_passed():
                    await self._finish_deadline()
                    return False
                self._collect_exits([slot])
                if slot.report.terminated is not None and slot.report.terminated["exitCode"] == 0:
                    break
                await self._restart_due([slot], paths)
                if slot.report.terminated is not None and slot.restart_at is None:
                    # restartPolicy Never: a failed init container fails the pod.
                    await self._push_final("Failed")
                    self._cleanup_cgroups()
                    return False
                await self._push("Pending")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), POLL_SECONDS)
        return True

    # -- containers --------------------------------------------------------------------

    def _group(self, container: str, attempt: int) -> cgroups.Group:
        return cgroups.Group(f"{self.settings.cgroup_parent}/{self.uid}/{container}-{attempt}")

    def log_path(self, container: str) -> pathlib.Path:
        return self.dir / f"{container}.log"

    async def _start(self, slot: _Slot, paths: dict[str, pathlib.Path]) -> None:
        number = slot.report.attempt + 1
        attempt = containers.Attempt(
            dir=self.dir / "containers" / slot.name / str(number),
            group=self._group(slot.name, number),
        )
        try:
            env = await envs.resolve(self.client, self.pod, slot.spec, self.settings.api_server)
            command = [envs.expand(a, env) for a in slot.spec.get("command", [])]
            args = [envs.expand(a, env) for a in slot.spec.get("args", [])]
            argv = images.resolve(
                self.settings.image_rules, slot.spec.get("image", ""), command, args
            )
        except images.ImageError as error:
            return self._waiting(slot, "ErrImagePull", str(error))
        except (envs.ConfigError, fields.FieldError, *TRANSIENT) as error:
            return self._waiting(slot, "CreateContainerConfigError", str(error))
        attempt.dir.mkdir(parents=True, exist_ok=True)
        attempt.termination_log.touch()
        try:
            mounts = volumes.mounts(slot.spec, paths, attempt.termination_log)
        except volumes.VolumeError as error:
            return self._waiting(slot, "CreateContainerConfigError", str(error))
        log = self.log_path(slot.name)
        if log.exists() and number > 0:
            log.replace(self.dir / f"{slot.name}.previous.log")
        shims = cgroups.shims_group(self.settings.cgroup_parent)
        try:
            attempt.group.create(limits_of(slot.spec, self.settings))
            shims.mkdir(parents=True, exist_ok=True)
        except (OSError, fields.FieldError) as error:
            # No writable cgroup v1 hierarchy (or a bad limit): say so, as a runtime would.
            return self._waiting(slot, "CreateContainerError", f"cgroup setup failed: {error}")
        attempt.start(
            {
                "argv": argv,
                "env": env,
                "cwd": slot.spec.get("workingDir") or "/",
                "mounts": mounts,
                "log": str(log),
            },
            shim_group=shims,
        )
        await attempt.wait_started()
        slot.attempt = attempt
        slot.restart_at = None
        slot.report.attempt = number
        slot.report.terminated = None
        slot.report.waiting = None
        pid = attempt.pid_info()
        slot.report.running_since = str(pid["startedAt"]) if pid else statuses.now()
        self._event("Started", f"Started container {slot.name}")
        logger.info(
            "pod %s/%s: started container %s attempt %d: %s",
            self.namespace,
            self.name,
            slot.name,
            number,
            argv,
        )

    def _collect_exits(self, slots: list[_Slot]) -> None:
        for slot in slots:
            if slot.attempt is None or slot.report.terminated is not None:
                continue
            info = slot.attempt.finished()
            if info is None:
                continue
            slot.report.terminated = self._terminated(slot, info)
            slot.attempt.group.kill()
            policy = self.pod["spec"].get("restartPolicy", "Always")
            code = slot.report.terminated["exitCode"]
            if policy == "Always" or (policy == "OnFailure" and code != 0):
                if code != 0:
                    self._event(
                        "BackOff", f"Back-off restarting failed container {slot.name}", warning=True
                    )
                backoff = min(2.0**slot.report.restart_count, self.settings.max_restart_backoff)
                slot.restart_at = asyncio.get_running_loop().time() + backoff

    def _terminated(self, slot: _Slot, info: dict[str, Any]) -> dict[str, Any]:
        assert slot.attempt is not None
        code = int(info["exitCode"])
        log = self.log_path(slot.name)
        tail = b""
        if log.exists():
            with open(log, "rb") as f:
                f.seek(max(0, log.stat().st_size - 16384))
                tail = f.read()
        message = statuses.termination_message(
            slot.spec,
            slot.attempt.termination_log.read_bytes()
            if slot.attempt.termination_log.exists()
            else b"",
            tail,
            code,
        )
        return statuses.terminated(
            info,
            oom_killed=slot.attempt.group.oom_killed(),
            message=message,
            attempt_id=f"kuberun-process://{self.uid}/{slot.name}/{slot.attempt.number}",
        )

    async def _restart_due(self, slots: list[_Slot], paths: dict[str, pathlib.Path]) -> None:
        loop = asyncio.get_running_loop()
        for slot in slots:
            if (
                slot.attempt is None
                and slot.report.waiting
                and slot.report.waiting[0] in RETRIED_WAITING
            ):
                # Retry a container that could not be created (a Secret appearing later).
                if loop.time() >= (slot.restart_at or 0):
                    slot.restart_at = loop.time() + 2
                    await self._start(slot, paths)
                continue
            if slot.restart_at is None or slot.report.terminated is None:
                continue
            if loop.time() < slot.restart_at:
                slot.report.waiting = ("CrashLoopBackOff", f"back-off restarting {slot.name}")
                continue
            slot.report.last_terminated = slot.report.terminated
            slot.report.restart_count += 1
            slot.report.terminated = None
            slot.report.running_since = None
            await self._start(slot, paths)

    # -- phases and endings ------------------------------------------------------------

    def _phase(self) -> str:
        reports = [s.report for s in self.slots]
        pending_restart = any(s.restart_at is not None for s in self.slots)
        if reports and all(r.terminated is not None for r in reports) and not pending_restart:
            return (
                "Succeeded"
                if all(r.terminated and r.terminated["exitCode"] == 0 for r in reports)
                else "Failed"
            )
        if any(r.running_since is not None or r.terminated is not None for r in reports):
            return "Running"
        return "Pending"

    def _deadline_passed(self) -> bool:
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        if deadline is None:
            return False
        return datetime.datetime.now(datetime.UTC).timestamp() >= _parse_time(
            self.start_time
        ) + float(deadline)

    async def _terminate(self, grace: float) -> None:
        """SIGTERM every running container, wait ``grace`` seconds, then SIGKILL."""
        running = [
            s
            for s in [*self.init_slots, *self.slots]
            if s.attempt is not None and s.report.terminated is None
        ]
        for slot in running:
            assert slot.attempt is not None
            self._event("Killing", f"Stopping container {slot.name}")
            slot.attempt.signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # The shims report exits through files, so this polls rather than awaits an event.
        while loop.time() < deadline and any(  # noqa: ASYNC110
            s.attempt and s.attempt.finished() is None for s in running
        ):
            await asyncio.sleep(POLL_SECONDS)
        for slot in running:
            assert slot.attempt is not None
            if slot.attempt.finished() is None:
                slot.attempt.kill()
        for _ in range(100):
            if all(s.attempt and s.attempt.finished() is not None for s in running):
                break
            await asyncio.sleep(POLL_SECONDS)
        self._collect_exits(running)
        for slot in [*self.init_slots, *self.slots]:
            slot.restart_at = None
            if slot.attempt is None and slot.report.terminated is None:
                # Never started: report it terminated, as upstream does for deleted pods.
                slot.report.waiting = None
                slot.report.terminated = {
                    "exitCode": 137,
                    "reason": "ContainerStatusUnknown",
                    "message": "The container could not be located when the pod was terminated",
                    "finishedAt": statuses.now(),
                }
        self._cleanup_cgroups()

    async def _finish_deadline(self) -> None:
        self._event(
            "DeadlineExceeded",
            "Pod was active on the node longer than the specified deadline",
            warning=True,
        )
        grace = float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
        await self._terminate(grace)
        self.conditions.set("Ready", False, "PodFailed")
        self.conditions.set("ContainersReady", False, "PodFailed")
        await self._push_final(
            "Failed",
            reason="DeadlineExceeded",
            message="Pod was active on the node longer than the specified deadline",
        )
        if self._stop.is_set():
            await self._finish_stopped()

    async def _finish_stopped(self) -> None:
        """Deletion: stop the containers within the grace period, report, then delete."""
        await self._terminate(self._grace)
        phase = self._phase()
        if phase not in TERMINAL:
            phase = "Failed"
        current = self.pod.get("status", {}).get("phase")
        if current in TERMINAL:
            phase = current
        await self._push_final(phase)
        while True:
            try:
                await self.client.delete(
                    f"/api/v1/namespaces/{self.namespace}/pods/{self.name}",
                    {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}},
                )
                break
            except (kubeapi.NotFound, kubeapi.Conflict):
                break
            except TRANSIENT as error:
                logger.warning("pod %s/%s: delete failed: %s", self.namespace, self.name, error)
                await asyncio.sleep(1)
        logger.info("pod %s/%s: terminated and deleted", self.namespace, self.name)

    def _cleanup_cgroups(self) -> None:
        cgroups.kill_tree(f"{self.settings.cgroup_parent}/{self.uid}")

    def remove_files(self) -> None:
        """Forget the pod on disk (after the API server removed it)."""
        self._cleanup_cgroups()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- status ------------------------------------------------------------------------

    def _event(self, reason: str, message: str, *, warning: bool = False) -> None:
        if self.recorder is not None:
            self.recorder.emit(self.pod, reason, message, warning=warning)

    def _waiting(self, slot: _Slot, reason: str, message: str) -> None:
        """Report a container that cannot be created; an event when the reason is new."""
        if slot.report.waiting is None or slot.report.waiting[0] != reason:
            self._event("Failed", f"Error: {reason}: {message}", warning=True)
        slot.attempt = None
        slot.report.waiting = (reason, message)

    async def _push_final(self, phase: str, *, reason: str = "", message: str = "") -> None:
        """Write a terminal status, retrying until the API server has it (or the pod is gone)."""
        while True:
            if await self._push(phase, reason=reason, message=message):
                return
            await asyncio.sleep(1)

    async def _push(self, phase: str, *, reason: str = "", message: str = "") -> bool:
        """Write the status if it changed; False when the write failed and should be retried."""
        if phase in TERMINAL:
            why = "PodCompleted" if phase == "Succeeded" else "PodFailed"
            self.conditions.set("Ready", False, why)
            self.conditions.set("ContainersReady", False, why)
            self.conditions.set("PodReadyToStartContainers", False)
        else:
            ready = bool(self.slots) and all(s.running for s in self.slots)
            self.conditions.set("Ready", ready, "" if ready else "ContainersNotReady")
            self.conditions.set("ContainersReady", ready, "" if ready else "ContainersNotReady")
            initialized = all(
                s.report.terminated is not None and s.report.terminated["exitCode"] == 0
                for s in self.init_slots
            )
            self.conditions.set(
                "Initialized", initialized, "" if initialized else "ContainersNotInitialized"
            )
        status = statuses.pod_status(
            phase=phase,
            conditions=self.conditions,
            containers=[s.report for s in self.slots],
            init_containers=[s.report for s in self.init_slots],
            start_time=self.start_time,
            pod_uid=self.uid,
            reason=reason,
            message=message,
        )
        if status == self._last_status:
            return True
        try:
            self.update(
                await self.client.patch(
                    f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status",
                    {"metadata": {"uid": self.uid}, "status": status},
                )
            )
            self._last_status = status
        except kubeapi.NotFound:
            self.abandon()
        except kubeapi.Conflict as error:
            # The uid precondition failed: a new pod has this name; ours is gone.
            logger.warning("pod %s/%s: %s", self.namespace, self.name, error)
            self.abandon()
        except TRANSIENT as error:
            logger.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, error)
            return False
        return True


def remove_orphan(settings: Settings, directory: pathlib.Path) -> None:
    """Kill and forget a pod directory whose pod no longer exists in the API."""
    uid = directory.name.rsplit("_", 1)[-1]
    cgroups.kill_tree(f"{settings.cgroup_parent}/{uid}")
    shutil.rmtree(directory, ignore_errors=True)
