"""One execution's control loop: observe, decide (`reconciling`), act, sleep until woken.

Runs inside the kopf daemon of that Execution (see `handlers`), so there is
exactly one loop per execution, stopped by kopf on deletion, pausing (peering)
or exit. The loop's only memory is what it wrote last; everything else is read
from `ClusterState` (fed by watches) and from the live Execution body, so a
new loop after a restart continues where the old one stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from kuberun.contract import spec, status
from kuberun.contract.statuses import Phase
from kuberun_operator import (
    archiving,
    cachehits,
    lifecycle,
    logaccounting,
    manifests,
    naming,
    reconciling,
    references,
    tenancy,
)
from kuberun_operator import statusmapping as sm
from kuberun_operator.apierrors import PermanentError
from kuberun_operator.backlog import Backlog, Step
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.kubeio import Kube, KubeError, NotFound
from kuberun_operator.metrics import Metrics
from kuberun_operator.redisio import RedisIO, Written
from kuberun_operator.redisusers import RedisUsers
from kuberun_operator.settings import Settings

# With nothing to wait for, look again this often anyway (a missed event costs this much).
IDLE_SECONDS = 30.0
# A namespace's organization binding is read again after this long: a relabelled
# namespace applies to new Executions within seconds, at one GET per namespace.
BINDING_TTL_SECONDS = 10.0
# A queued execution has no clock of its own running; 10,000 of them waking every
# IDLE_SECONDS would cost a reconcile pass 333 times a second for nothing.
QUEUED_IDLE_SECONDS = 300.0
MAX_ERROR_BACKOFF = 30.0
# An ended attempt is decided once its runner process is gone and Redis answered (the
# full result, the log accounting); this long at most, then without what is missing
# (counted: kuberun_results_unavailable_total, and status.resultAvailable false).
SETTLE_SECONDS = 30.0
SETTLE_POLL_SECONDS = 1.0


@dataclass
class Runtime:
    """Everything handlers share: built at startup, kept in kopf's memo."""

    settings: Settings
    kube: Kube
    redis: RedisIO | None
    metrics: Metrics
    state: ClusterState
    archive: archiving.Archive | None = None
    backlog: Backlog | None = None  # work left after an Execution ended (see `backlog`)
    ready: bool = False
    accounts_ready: set[str] = field(default_factory=set)  # namespaces with the runner account
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    users: RedisUsers | None = None  # per-namespace Redis ACL users (Settings.redis_tenant_users)
    bindings: dict[str, tuple[float, tenancy.Binding]] = field(default_factory=dict)

    async def binding(self, namespace: str) -> tenancy.Binding:
        """The namespace's organization binding, read at most every BINDING_TTL_SECONDS."""
        now = time.monotonic()
        known = self.bindings.get(namespace)
        if known is not None and now - known[0] < BINDING_TTL_SECONDS:
            return known[1]
        body = await self.kube.read_namespace(namespace)
        bound = tenancy.binding(
            body or {"metadata": {"name": namespace}}, self.settings.organizations
        )
        self.bindings[namespace] = (now, bound)
        return bound


def parse_spec(raw: Mapping[str, Any] | None) -> spec.ExecutionSpec | str:
    """The spec, or a readable reason why it is invalid (the CRD should have caught it)."""
    try:
        return spec.ExecutionSpec.model_validate(dict(raw or {}))
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors()
        )
        return f"invalid spec: {problems}"


def parse_status(raw: Mapping[str, Any] | None) -> status.ExecutionStatus:
    try:
        return status.ExecutionStatus.model_validate(dict(raw or {}))
    except pydantic.ValidationError:
        return status.ExecutionStatus()


def _ended(current: status.ExecutionStatus) -> bool:
    return current.phase is not None and current.phase.terminal


async def sleep_until_woken(waker: asyncio.Event, stopped: Any, seconds: float) -> None:
    """Wait for a wake-up, the daemon's stop flag, or the timeout — whichever is first."""
    wake = asyncio.ensure_future(waker.wait())
    stop = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({wake, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        wake.cancel()
        stop.cancel()


def runner_gone(pod: sm.PodView | None) -> bool:
    """The runner process can write no more: its container ended, or its pod is gone."""
    if pod is None or pod.state == "terminated":
        return True
    return pod.phase in ("Succeeded", "Failed") and pod.state != "running"


class Follower:
    """Drives one Execution to a terminal phase."""

    def __init__(
        self,
        rt: Runtime,
        body: Mapping[str, Any],
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        meta = body["metadata"]
        self.rt = rt
        self.body = body  # kopf's live view: spec changes (cancel) show up here
        self.logger = logger
        self.target = reconciling.Target(
            name=meta["name"], namespace=meta["namespace"], uid=meta["uid"]
        )
        self.created_at = sm.parse_time(meta.get("creationTimestamp"))
        self.status: status.ExecutionStatus | None = None
        self.created: set[int] = set()
        # Attempts whose objects the API server refused for good (see `apierrors`): the
        # server's message, for `reconcile` to end the Execution FAILED/InvalidRequest.
        self.rejected: dict[int, str] = {}
        self.unchecked_kinds: set[str] = set()  # reference kinds the operator may not read
        self.results: dict[int, tuple[Any, bool]] = {}
        self.seen: dict[int, logaccounting.StreamSeen] = {}  # runner lines per ended attempt
        self.ended_at: dict[int, float] = {}  # monotonic time an attempt was first seen ended
        self.records: list[tuple[reconciling.EngineRecord, float]] = []  # not written yet
        self.events: list[dict[str, Any]] = []  # lifecycle Events to post (see `lifecycle`)

    async def run(self, stopped: Any) -> status.ExecutionStatus | None:
        """Loop until terminal or stopped; returns the last status written."""
        waker = self.rt.state.waker(self.target.uid)
        errors = 0
        while not stopped:
            waker.clear()
            try:
                decision = await self.step()
            except NotFound:
                return self.status  # the Execution is gone
            except Exception:
                self.rt.metrics.reconcile_errors.inc()
                self.logger.exception(
                    "%s/%s: reconcile failed; retrying", self.target.namespace, self.target.name
                )
                errors += 1
                await sleep_until_woken(waker, stopped, min(MAX_ERROR_BACKOFF, 2.0**errors))
                continue
            errors = 0
            if decision.status.phase is not None and decision.status.phase.terminal:
                return decision.status
            timeout = decision.requeue_after if decision.requeue_after is not None else IDLE_SECONDS
            if decision.requeue_after is None and decision.status.attempt == 0:
                # Queued (or waiting for a cache leader): only in-process events move it —
                # admission, its own watch events (cancel) — and each of those wakes it.
                timeout = QUEUED_IDLE_SECONDS
            if timeout > 0:
                await sleep_until_woken(waker, stopped, timeout)
        return self.status

    async def observe(self, attempt: int, phase: Phase | None) -> tuple[Any, Any]:
        """The attempt's Job and Pod bodies; asks the API when the cache has none."""
        uid = self.target.uid
        state = self.rt.state
        job, pod = state.job(uid, attempt), state.pod(uid, attempt)
        if job is None and pod is None and phase in (Phase.RUNNING, Phase.CANCELLING):
            # Missing from the cache of a running attempt: ask before concluding it is gone.
            name = naming.job_name(self.target.name, attempt)
            job = await self.rt.kube.read_job(self.target.namespace, name)
            selector = f"{naming.UID_LABEL}={uid},{naming.ATTEMPT_LABEL}={attempt}"
            for found in await self.rt.kube.list_pods(self.target.namespace, selector):
                state.observe_pod(found)
            if job is not None:
                state.observe_job(job)
            pod = state.pod(uid, attempt)
        return job, pod

    async def step(self) -> reconciling.Decision:
        """One observe-decide-act pass."""
        rt = self.rt
        target = dataclasses.replace(
            self.target, generation=(self.body.get("metadata") or {}).get("generation")
        )
        execution = parse_spec(self.body.get("spec"))
        current = self.status or parse_status(self.body.get("status"))
        attempt = current.attempt
        job_body, pod_body = (None, None)
        if attempt >= 1:
            job_body, pod_body = await self.observe(attempt, current.phase)
        job = sm.job_view(job_body, attempt) if job_body else None
        pod = sm.pod_view(pod_body) if pod_body else None
        await self.write_records()
        run_result, checked, seen = None, False, None
        ended = (pod is not None and pod.terminated) or (
            job is not None and (job.complete or job.failed)
        )
        if attempt >= 1 and ended:
            settled = await self.settle(attempt, pod)
            if settled is None:  # the runner is still stopping, or Redis has not answered
                self.status = current
                return reconciling.Decision(current, requeue_after=SETTLE_POLL_SECONDS)
            run_result, checked, seen = settled
        cached = None
        bound: tenancy.Binding | None = None
        if attempt == 0 and isinstance(execution, spec.ExecutionSpec) and not _ended(current):
            # The organization is the namespace's; a spec naming another one never runs.
            bound = await rt.binding(target.namespace)
            refused = tenancy.check_organization(execution.organization, bound)
            if refused is not None:
                execution = refused
        if attempt == 0 and rt.redis is not None and isinstance(execution, spec.ExecutionSpec):
            org = bound.organization.id if bound is not None and bound.organization else None
            key = cachehits.lookup_key(execution, target.namespace, org)
            if key is not None:
                cached = await rt.redis.read_cache(key)
        now = time.time()
        decision = reconciling.reconcile(
            target,
            execution,
            current,
            reconciling.Observed(
                now=now,
                job=job,
                pod=pod,
                admitted=target.uid in rt.state.granted,
                queue_position=rt.state.queue_position(target.uid),
                run_result=run_result,
                result_checked=checked,
                cached=cached,
                create_rejected=self.rejected.get(attempt),
                stream=seen,
                waiting_for=rt.state.waiting_for(target.uid) if cached is None else None,
            ),
            rt.settings,
        )
        # Side effects that must precede the status (so a crash repeats them, not skips them).
        for action in decision.actions:
            if not isinstance(action, reconciling.CreateAttempt):
                await self.apply(action, now)
        if decision.status != current:
            await rt.kube.patch_status(
                target.namespace,
                target.name,
                decision.status.model_dump(by_alias=True, mode="json"),
            )
            self.status = decision.status
            self.transitions(current, decision.status, now)
            await self.post_events()
        else:
            self.status = current
        # The Job only after the status says which attempt it is (intent first).
        for action in decision.actions:
            if isinstance(action, reconciling.CreateAttempt) and isinstance(
                execution, spec.ExecutionSpec
            ):
                await self.create_attempt(execution, action.attempt)
        return decision

    async def settle(
        self, attempt: int, pod: sm.PodView | None
    ) -> tuple[Any, bool, logaccounting.StreamSeen | None] | None:
        """(RunResult, asked, the runner's lines in the stream) of an ended attempt, or None
        to wait: for the runner process to be gone (it may still be writing its last
        lines) and for Redis to answer, `SETTLE_SECONDS` at most."""
        first = self.ended_at.setdefault(attempt, time.monotonic())
        late = time.monotonic() - first >= SETTLE_SECONDS
        gone = runner_gone(pod)
        if not gone and not late:
            return None
        run_result, answered = await self.result(attempt)
        seen = await self.stream_seen(attempt) if gone else None
        accounted = seen is not None or self.rt.redis is None or not gone
        if not (answered and accounted) and not late:
            return None
        if not answered:
            self.rt.metrics.results_unavailable.inc()
        return run_result, True, seen

    async def result(self, attempt: int) -> tuple[Any, bool]:
        """(the attempt's RunResult from Redis or None, whether Redis answered); read once."""
        if attempt in self.results:
            return self.results[attempt]
        if self.rt.redis is None:
            return None, True
        run_result, answered = await self.rt.redis.read_result(
            self.target.namespace, self.target.uid, attempt
        )
        if answered:
            self.results[attempt] = (run_result, True)
        return run_result, answered

    async def stream_seen(self, attempt: int) -> logaccounting.StreamSeen | None:
        """The runner's lines of an ended attempt in the stream (read once), or None."""
        if attempt in self.seen:
            return self.seen[attempt]
        if self.rt.redis is None:
            return None
        sequences = await self.rt.redis.runner_sequences(
            self.target.namespace, self.target.uid, attempt
        )
        if sequences is None:
            return None
        seen = logaccounting.StreamSeen.of(sequences)
        self.seen[attempt] = seen
        return seen

    async def write_records(self) -> bool:
        """Write the engine records not written yet, in order; True when none is left.

        One Redis cannot take waits (with the ones after it) for the next pass, or, once
        the Execution has ended, for the backlog; one whose place in the stream a later
        attempt took is counted as lost."""
        rt = self.rt
        while self.records and rt.redis is not None:
            record, at = self.records[0]
            written = await rt.redis.engine_record(
                self.target.namespace, self.target.uid, record, at
            )
            if written is Written.FAILED:
                return False
            if written is Written.TOO_LATE:
                rt.metrics.engine_records_lost.inc()
                self.logger.warning(
                    "%s/%s: engine record %r lost: a later attempt took its place",
                    self.target.namespace,
                    self.target.name,
                    record.kind,
                )
            self.records.pop(0)
        return True

    def leftovers(self) -> list[Step]:
        """What this Execution still owes once it ended: its unwritten engine records."""
        if not self.records:
            return []
        return [Step("engine_record", self.write_records)]

    async def apply(self, action: reconciling.Action, now: float) -> None:
        rt, target = self.rt, self.target
        if isinstance(action, reconciling.EngineRecord):
            if rt.redis is not None:
                self.records.append((action, now))
                await self.write_records()
        elif isinstance(action, reconciling.SetCancelKey):
            if rt.redis is not None:
                await rt.redis.set_cancel(target.namespace, target.uid, action.reason)
        elif isinstance(action, reconciling.SetPodDeadline):
            await rt.kube.set_pod_deadline(target.namespace, action.name, action.seconds)
        elif isinstance(action, reconciling.DeletePod):
            await rt.kube.delete_pod(target.namespace, action.name, action.grace_seconds)
        elif isinstance(action, reconciling.DeleteJob):
            await rt.kube.delete_job(target.namespace, action.name)

    async def create_attempt(self, execution: spec.ExecutionSpec, attempt: int) -> None:
        """The runner account (once per namespace), the request Secret, then the Job.

        Each create is idempotent (409 = there). An object of the same name left by an
        earlier Execution of the same name (being garbage collected) is not ours: then
        nothing is created and the next pass tries again.

        First the objects the spec names are checked (`references`). A permanent error
        (`apierrors`: a 422 on the Job, a Secret too large, a missing ServiceAccount) is
        remembered for `reconcile`, which ends the Execution at once; a temporary one
        propagates to `run`'s backoff.
        """
        if attempt in self.created or attempt in self.rejected:
            return
        try:
            await self._create_objects(execution, attempt)
        except PermanentError as exc:
            self.rejected[attempt] = exc.reason or str(exc)
            self.logger.warning(
                "%s/%s attempt %s: refused by the API server (%s): %s",
                self.target.namespace,
                self.target.name,
                attempt,
                exc.status,
                exc.reason,
            )
            self.rt.state.waker(self.target.uid).set()  # decide now, not after the idle wait

    async def _check_references(self, execution: spec.ExecutionSpec) -> None:
        """Raise a PermanentError naming every object the spec needs that is not there."""
        rt, target = self.rt, self.target
        missing: list[tuple[references.Reference, str]] = []
        for ref in references.required(execution):
            if ref.kind in self.unchecked_kinds:
                continue
            try:
                message = await rt.kube.missing(ref.kind, target.namespace, ref.name)
            except PermanentError as exc:  # e.g. 403: this install grants no read; the pod tells
                self.unchecked_kinds.add(ref.kind)
                self.logger.warning("cannot check %s %s: %s", ref.kind, ref.name, exc)
                continue
            if message is not None:
                missing.append((ref, message))
        if missing:
            raise PermanentError(404, references.missing_message(missing))

    async def _create_objects(self, execution: spec.ExecutionSpec, attempt: int) -> None:
        rt, target = self.rt, self.target
        await self._check_references(execution)
        if (
            execution.service_account_name is None
            and rt.settings.create_runner_service_account
            and target.namespace not in rt.accounts_ready
        ):
            await rt.kube.create(manifests.build_service_account(target.namespace, rt.settings))
            rt.accounts_ready.add(target.namespace)
        bound = await rt.binding(target.namespace)
        if rt.users is not None:
            await rt.users.ensure(bound)  # the runner's own Redis user, before its pod
        ref = manifests.ExecutionRef(target.name, target.namespace, target.uid)
        secret = manifests.build_request_secret(
            ref,
            execution,
            attempt,
            organization=bound.organization,
            creator=tenancy.creator(self.body.get("metadata") or {}),
        )
        if not await rt.kube.create(secret) and not self._ours(
            await rt.kube.read_secret(target.namespace, secret["metadata"]["name"])
        ):
            self.logger.warning(
                "%s/%s: Secret %s belongs to an earlier Execution; waiting for it to go",
                target.namespace,
                target.name,
                secret["metadata"]["name"],
            )
            return
        job = manifests.build_job_manifest(ref, execution, attempt, rt.settings)
        made = await rt.kube.create(job)
        if not made and not self._ours(
            await rt.kube.read_job(target.namespace, job["metadata"]["name"])
        ):
            self.logger.warning(
                "%s/%s: Job %s belongs to an earlier Execution; waiting for it to go",
                target.namespace,
                target.name,
                job["metadata"]["name"],
            )
            return
        self.created.add(attempt)
        self.logger.info(
            "%s/%s attempt %s: Job %s %s",
            target.namespace,
            target.name,
            attempt,
            job["metadata"]["name"],
            "created" if made else "already exists",
        )

    def _ours(self, body: Mapping[str, Any] | None) -> bool:
        """True when the object exists and carries this Execution's uid."""
        if body is None:
            return False  # gone since the 409: the next pass creates it
        labels = (body.get("metadata") or {}).get("labels") or {}
        return bool(labels.get(naming.UID_LABEL) == self.target.uid)

    def transitions(
        self, old: status.ExecutionStatus, new: status.ExecutionStatus, now: float
    ) -> None:
        """Metrics, log lines and lifecycle Events for what changed."""
        metrics = self.rt.metrics
        namespace = self.target.namespace
        if new.attempt > old.attempt >= 1:
            metrics.retries.labels(namespace=namespace).inc()
        if new.admitted_at is not None and old.admitted_at is None and self.created_at:
            admitted = sm.parse_time(new.admitted_at) or now
            metrics.queue_wait.labels(namespace=namespace).observe(
                max(0.0, admitted - self.created_at)
            )
        dropped = (new.logs.dropped if new.logs else 0) - (old.logs.dropped if old.logs else 0)
        if dropped > 0:
            metrics.dropped_log_lines.labels(namespace=namespace).inc(dropped)
        if new.logs is not None and new.logs != old.logs and new.logs.missing:
            gaps = [(low, high) for low, high in new.logs.missing]
            metrics.missing_log_lines.labels(namespace=namespace).inc(
                logaccounting.missing_lines(gaps)
            )
        if new.phase != old.phase:
            self.logger.info(
                "%s: %s → %s (%s)%s",
                f"{namespace}/{self.target.name}",
                old.phase,
                new.phase,
                new.reason,
                f": {new.message}" if new.message else "",
            )
        if new.phase is not None and new.phase.terminal and not (old.phase and old.phase.terminal):
            total = now - self.created_at if self.created_at else None
            metrics.finished(namespace, new.phase, new.reason, new.duration_seconds, total)
        ref = manifests.ExecutionRef(self.target.name, namespace, self.target.uid)
        for event in lifecycle.events_for(old, new):
            self.events.append(lifecycle.build_event(ref, event, now))

    async def post_events(self) -> None:
        """Post the Events `transitions` queued; a failure loses an Event, never a status."""
        while self.events:
            body = self.events.pop(0)
            try:
                await self.rt.kube.create(body)
            except KubeError as exc:
                self.logger.warning(
                    "%s/%s: Event %s not posted: %s",
                    self.target.namespace,
                    self.target.name,
                    body["reason"],
                    exc,
                )

    async def on_deleted(self) -> None:
        """The Execution is being deleted: stop its pod now (the GC would, more slowly)."""
        rt, target = self.rt, self.target
        current = self.status or parse_status(self.body.get("status"))
        if rt.redis is not None:
            await rt.redis.set_cancel(target.namespace, target.uid, "execution deleted")
        if current.attempt >= 1:
            await rt.kube.delete_job(
                target.namespace, naming.job_name(target.name, current.attempt)
            )
