"""In-memory stand-ins for the operator's two adapters (`protocols.KubeAPI`, `StreamStore`).

Enough of Kubernetes and Redis to run the per-Execution loop (`Follower`) and the
admission loop in process, in milliseconds:

- `FakeKube` stores objects by (kind, namespace, name), answers 409 on a name taken
  and None/404 on one missing, merge-patches Execution statuses, and feeds every
  change to a `ClusterState` the way the operator's watch handlers do (observe, then
  wake the Execution's loop). The kubelet's part — a pod appearing, running,
  terminating with a message — is the test's, through `run_pod` / `end_pod`.
  `fail_next` makes the next calls of one kind fail with an API error (see
  `apierrors`), to drive the loop's classification of errors.
- `FakeStreamStore` keeps cancel flags, results, engine records and the runner's
  stream sequences in dicts; `down = True` makes every call answer as an unreachable
  Redis does (False, None, `Written.FAILED`).

Both record what they were asked, for assertions.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import defaultdict
from typing import Any

from kuberun.contract import outcome, spec
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import apierrors, naming, reconciling
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.protocols import KubeAPI, StreamStore, Written
from kuberun_operator.statusmapping import format_time

Key = tuple[str, str, str]  # kind, namespace, name


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch (null removes a field), as the API server applies it."""
    merged = dict(target)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merge_patch(merged[name], value)
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    for term in (selector or "").split(","):
        if not term:
            continue
        name, _, value = term.partition("=")
        if name not in labels or (value and labels[name] != value):
            return False
    return True


class FakeKube:
    """A `KubeAPI` over a dict of objects, feeding `state` as the watches would."""

    def __init__(self, state: ClusterState | None = None) -> None:
        self.state = state
        self.objects: dict[Key, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # posted lifecycle Events
        self.calls: list[tuple[str, str, str]] = []  # (verb, kind, name), in order
        self.failures: dict[tuple[str, str], list[apierrors.KubeError]] = defaultdict(list)
        self.unreadable: set[str] = set()  # kinds `missing` answers 403 for
        # What a running runner leaves as its termination message when its pod is deleted
        # (SIGTERM): the runner's verdict when it saw no cancel key.
        self.on_sigterm: outcome.TerminationSummary | None = outcome.TerminationSummary(
            status=Phase.FAILED, reason=Reason.TERMINATED, message="terminated by SIGTERM"
        )
        self.closed = False

    # --- what a test sets up or plays the kubelet with ---------------------------------
    def fail_next(self, verb: str, kind: str, error: apierrors.KubeError, times: int = 1) -> None:
        """The next `times` calls `verb` (create, read, patch, delete) on `kind` raise `error`."""
        self.failures[verb, kind].extend([error] * times)

    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store an object as if created by someone else (an Execution, a ConfigMap, ...)."""
        meta = body["metadata"]
        stored = copy.deepcopy(body)
        stored["metadata"].setdefault("creationTimestamp", format_time(time.time()))
        self.objects[body["kind"], meta.get("namespace", ""), meta["name"]] = stored
        self._watched(stored)
        return stored

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [body for (k, _, _), body in self.objects.items() if k == kind]

    def run_pod(self, job_name: str, namespace: str, started: float | None = None) -> str:
        """The Job's pod, its runner container running (as the kubelet reports it)."""
        return self._pod(
            job_name,
            namespace,
            "Running",
            {"running": {"startedAt": format_time(started or time.time())}},
        )

    def end_pod(
        self,
        job_name: str,
        namespace: str,
        summary: outcome.TerminationSummary | None,
        exit_code: int = 0,
    ) -> str:
        """The runner container ended, leaving `summary` as its termination message;
        the Job completes (exit 0) or fails (any other code)."""
        now = format_time(time.time())
        term: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": now,
            "finishedAt": now,
        }
        if summary is not None:
            term["message"] = summary.encode().decode()
        name = self._pod(
            job_name, namespace, "Succeeded" if exit_code == 0 else "Failed", {"terminated": term}
        )
        job = self.objects[("Job", namespace, job_name)]
        kind = "Complete" if exit_code == 0 else "Failed"
        job["status"] = {"conditions": [{"type": kind, "status": "True", "reason": "Done"}]}
        self._watched(job)
        return name

    def _pod(self, job_name: str, namespace: str, phase: str, state: dict[str, Any]) -> str:
        job = self.objects[("Job", namespace, job_name)]
        labels = dict(job["spec"]["template"]["metadata"]["labels"])
        name = f"{job_name}-pod"
        existing = self.objects.get(("Pod", namespace, name))
        body: dict[str, Any] = existing or {
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": labels,
                "creationTimestamp": format_time(time.time()),
            },
            "spec": {},
        }
        body["status"] = {
            "phase": phase,
            "startTime": body["metadata"]["creationTimestamp"],
            "containerStatuses": [{"name": "runner", "state": state}],
        }
        self.objects[("Pod", namespace, name)] = body
        self._watched(body)
        return name

    def _watched(self, body: dict[str, Any], deleted: bool = False) -> None:
        """What the operator's event handlers do with a watch event (see `handlers`)."""
        if self.state is None:
            return
        kind = body.get("kind")
        uid: str | None
        if kind == "Execution":
            uid = self.state.observe_execution(body, deleted=deleted)
        elif kind == "Job":
            uid = self.state.observe_job(body, deleted=deleted)
        elif kind == "Pod":
            uid = self.state.observe_pod(body, deleted=deleted)
        else:
            return
        if uid:
            self.state.wake(uid)

    def _call(self, verb: str, kind: str, name: str) -> None:
        self.calls.append((verb, kind, name))
        pending = self.failures.get((verb, kind))
        if pending:
            raise pending.pop(0)

    # --- KubeAPI ------------------------------------------------------------------------
    async def create(self, body: dict[str, Any]) -> bool:
        meta = body["metadata"]
        try:
            self._call("create", body["kind"], meta["name"])
        except apierrors.Conflict:
            return False  # as `kubeio.Kube.create`: a 409 is "already there"
        if body["kind"] == "Event":
            self.events.append(body)
            return True
        key = (body["kind"], meta["namespace"], meta["name"])
        if key in self.objects:
            return False
        self.put(body)
        return True

    async def _read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("read", kind, name)
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read("Secret", namespace, name)

    async def read_namespace(self, name: str) -> dict[str, Any] | None:
        return await self._read("Namespace", "", name) or {"metadata": {"name": name}}

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._read("Job", namespace, name)

    async def missing(self, kind: str, namespace: str, name: str) -> str | None:
        self._call("read", kind, name)
        if kind in self.unreadable:
            raise apierrors.from_status(403, f"cannot get {kind.lower()}s")
        if (kind, namespace, name) in self.objects:
            return None
        return f'{kind.lower()}s "{name}" not found'

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return await self.list_all("Pod", selector, namespace)

    async def list_all(
        self, kind: str, selector: str | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        self._call("list", kind, selector or "")
        return [
            copy.deepcopy(body)
            for (k, ns, _), body in self.objects.items()
            if k == kind
            and (namespace is None or ns == namespace)
            and _matches((body.get("metadata") or {}).get("labels") or {}, selector)
        ]

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self._call("patch", spec.KIND, name)
        body = self.objects.get((spec.KIND, namespace, name))
        if body is None:
            raise apierrors.from_status(404, f'executions "{name}" not found')
        body["status"] = merge_patch(body.get("status") or {}, status)
        self._watched(body)

    async def set_pod_deadline(self, namespace: str, name: str, seconds: int) -> None:
        self._call("patch", "Pod", name)
        body = self.objects.get(("Pod", namespace, name))
        if body is not None:
            body.setdefault("spec", {})["activeDeadlineSeconds"] = seconds
            self._watched(body)

    async def delete_pod(self, namespace: str, name: str, grace_seconds: int) -> None:
        self._call("delete", "Pod", name)
        body = self.objects.pop(("Pod", namespace, name), None)
        if body is not None:
            self._stopped(body)

    async def delete_job(self, namespace: str, name: str) -> None:
        """Background propagation: the Job goes, then its pods."""
        self._call("delete", "Job", name)
        job = self.objects.pop(("Job", namespace, name), None)
        if job is None:
            return
        self._watched(job, deleted=True)
        labels = job["spec"]["template"]["metadata"]["labels"]
        selector = f"{naming.UID_LABEL}={labels[naming.UID_LABEL]},{naming.ATTEMPT_LABEL}="
        selector += labels[naming.ATTEMPT_LABEL]
        for pod in await self.list_pods(namespace, selector):
            self._stopped(self.objects.pop(("Pod", namespace, pod["metadata"]["name"])))

    def _stopped(self, pod: dict[str, Any]) -> None:
        """A deleted pod's last watch event: a running runner got SIGTERM and ended."""
        containers = (pod.get("status") or {}).get("containerStatuses") or []
        for container in containers:
            if "running" in container["state"]:
                now = format_time(time.time())
                term: dict[str, Any] = {"exitCode": 143, "reason": "Error", "finishedAt": now}
                term["startedAt"] = container["state"]["running"]["startedAt"]
                if self.on_sigterm is not None:
                    term["message"] = self.on_sigterm.encode().decode()
                container["state"] = {"terminated": term}
                pod["status"]["phase"] = "Failed"
        self._watched(pod, deleted=True)

    def close(self) -> None:
        self.closed = True


class FakeStreamStore:
    """A `StreamStore` over dicts; `down` plays an unreachable Redis."""

    def __init__(self) -> None:
        self.down = False
        self.cancels: dict[tuple[str, str], str] = {}
        self.results: dict[tuple[str, str, int], outcome.RunResult] = {}
        self.cache: dict[str, Any] = {}
        self.sequences: dict[tuple[str, str, int], list[int]] = {}
        self.records: list[reconciling.EngineRecord] = []  # engine records written, in order
        self.closed = False

    def runner_wrote(self, namespace: str, uid: str, attempt: int, lines: int) -> None:
        """The runner's lines 1..`lines` of an attempt are in the stream."""
        self.sequences[namespace, uid, attempt] = list(range(1, lines + 1))

    async def set_cancel(self, namespace: str, uid: str, reason: str) -> bool:
        if self.down:
            return False
        self.cancels[namespace, uid] = reason
        return True

    async def read_cache(self, key: str) -> reconciling.CachedResult | None:
        if self.down or key not in self.cache:
            return None
        return reconciling.CachedResult(key=key, value=self.cache[key])

    async def read_result(
        self, namespace: str, uid: str, attempt: int
    ) -> tuple[outcome.RunResult | None, bool]:
        if self.down:
            return None, False
        return self.results.get((namespace, uid, attempt)), True

    async def engine_record(
        self, namespace: str, uid: str, record: reconciling.EngineRecord, now: float
    ) -> Written:
        if self.down:
            return Written.FAILED
        if record not in self.records:  # idempotent, like the fixed ids in the stream
            self.records.append(record)
        return Written.DONE

    async def runner_sequences(self, namespace: str, uid: str, attempt: int) -> list[int] | None:
        if self.down:
            return None
        return list(self.sequences.get((namespace, uid, attempt), []))

    @property
    def client(self) -> Any:
        return None

    async def close(self) -> None:
        self.closed = True


class Stopped:
    """kopf's daemon stop flag: falsy until `stop()`, awaitable through `wait()`."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __bool__(self) -> bool:
        return self._event.is_set()

    def stop(self) -> None:
        self._event.set()

    async def wait(self) -> bool:
        await self._event.wait()
        return True


def _conforms(kube: FakeKube, store: FakeStreamStore) -> tuple[KubeAPI, StreamStore]:
    """mypy checks here that the fakes have the adapters' shapes."""
    return kube, store
