"""Acting: apply what `reconciling.reconcile` decided for one Execution.

The last third of a pass of the per-Execution loop (`following`). In this
order, so that a crash between two steps repeats work rather than skips it:

1. the side effects that must precede the status: engine records (queued and
   written in order, retried on the next pass while Redis is away), the cancel
   flag, the pod's deadline, deletes;
2. the status patch, then metrics, log lines and lifecycle Events for what
   changed;
3. only then the attempt's objects (the runner account, the request Secret, the
   Job): the status says which attempt it is before its Job exists (intent first).

A permanent API error on create (`apierrors`) is remembered in `rejected`, for
the next observation to carry to `reconcile`, which ends the Execution
FAILED/InvalidRequest; a temporary one propagates to the loop's backoff.
Every create is idempotent (deterministic names, 409 = there).

The servers are reached only through the adapters' Protocols (`protocols`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kuberun.contract import spec, status
from kuberun_operator import (
    lifecycle,
    logaccounting,
    manifests,
    naming,
    reconciling,
    references,
    tenancy,
)
from kuberun_operator import statusmapping as sm
from kuberun_operator.apierrors import KubeError, PermanentError
from kuberun_operator.backlog import Step
from kuberun_operator.context import OperatorContext
from kuberun_operator.observing import Observation
from kuberun_operator.protocols import Written


class Actor:
    """Applies one Execution's decisions; remembers what it did and what is still owed."""

    def __init__(
        self,
        rt: OperatorContext,
        body: Mapping[str, Any],
        target: reconciling.Target,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.rt = rt
        self.body = body
        self.target = target
        self.logger = logger
        self.created_at = sm.parse_time((body.get("metadata") or {}).get("creationTimestamp"))
        self.created: set[int] = set()
        # Attempts whose objects the API server refused for good (see `apierrors`): the
        # server's message, for `reconcile` to end the Execution FAILED/InvalidRequest.
        self.rejected: dict[int, str] = {}
        self.unchecked_kinds: set[str] = set()  # reference kinds the operator may not read
        self.records: list[tuple[reconciling.EngineRecord, float]] = []  # not written yet
        self.events: list[dict[str, Any]] = []  # lifecycle Events to post (see `lifecycle`)

    async def act(
        self, seen: Observation, decision: reconciling.Decision, now: float
    ) -> status.ExecutionStatus:
        """Steps 1 and 2 of `decision` (reached from `seen` at `now`); returns the status
        now written. Step 3 is `create_attempts`, called once the caller holds it."""
        rt, target, current = self.rt, self.target, seen.current
        # Side effects that must precede the status (so a crash repeats them, not skips them).
        for action in decision.actions:
            if not isinstance(action, reconciling.CreateAttempt):
                await self.apply(action, now)
        written = current
        if decision.status != current:
            await rt.kube.patch_status(
                target.namespace,
                target.name,
                decision.status.model_dump(by_alias=True, mode="json"),
            )
            written = decision.status
            self.transitions(current, decision.status, now)
            await self.post_events()
        return written

    async def create_attempts(self, seen: Observation, decision: reconciling.Decision) -> None:
        """Step 3: the attempt's objects, only after the status says which attempt it is."""
        for action in decision.actions:
            if isinstance(action, reconciling.CreateAttempt) and isinstance(
                seen.execution, spec.ExecutionSpec
            ):
                await self.create_attempt(seen.execution, action.attempt)

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

    async def on_deleted(self, current: status.ExecutionStatus) -> None:
        """The Execution is being deleted: stop its pod now (the GC would, more slowly)."""
        rt, target = self.rt, self.target
        if rt.redis is not None:
            await rt.redis.set_cancel(target.namespace, target.uid, "execution deleted")
        if current.attempt >= 1:
            await rt.kube.delete_job(
                target.namespace, naming.job_name(target.name, current.attempt)
            )
