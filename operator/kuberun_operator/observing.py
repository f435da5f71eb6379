"""Observing: what one Execution's loop sees before it decides.

The first third of a pass of the per-Execution loop (`following`): from the
live Execution body (kopf's view: spec edits such as `cancel` show up there),
`ClusterState` (fed by the watches), the API when the cache has no Job or pod
of a running attempt, and Redis (the attempt's result and log accounting, the
shared cache, read once each), it gathers an `Observation` for the pure
`reconciling.reconcile`. Nothing here writes anything.

Called by `following.Follower.step`; the servers are reached only through the
adapters' Protocols (`protocols`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from kuberun.contract import outcome, spec, status
from kuberun.contract.phases import Phase
from kuberun_operator import cachehits, logaccounting, naming, reconciling, tenancy
from kuberun_operator import statusmapping as sm
from kuberun_operator.context import OperatorContext

# An ended attempt is decided once its runner process is gone and Redis answered (the
# full result, the log accounting); this long at most, then without what is missing
# (counted: kuberun_results_unavailable_total, and status.resultAvailable false).
SETTLE_SECONDS = 30.0
SETTLE_POLL_SECONDS = 1.0


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


def runner_gone(pod: sm.PodView | None) -> bool:
    """The runner process can write no more: its container ended, or its pod is gone."""
    if pod is None or pod.state == "terminated":
        return True
    return pod.phase in ("Succeeded", "Failed") and pod.state != "running"


@dataclass(frozen=True)
class Observation:
    """One pass's view of an Execution: what `reconcile` decides on."""

    target: reconciling.Target  # with the body's current generation
    execution: spec.ExecutionSpec | str  # the parsed spec, or why it did not parse
    current: status.ExecutionStatus  # the status last written
    # The world; None while an ended attempt settles (its runner still stopping, or
    # Redis not answering yet): then the pass decides nothing and looks again soon.
    world: reconciling.Observed | None


class Observer:
    """Reads one Execution's world; remembers what is read once per attempt."""

    def __init__(
        self, rt: OperatorContext, body: Mapping[str, Any], target: reconciling.Target
    ) -> None:
        self.rt = rt
        self.body = body
        self.target = target
        self.results: dict[int, tuple[Any, bool]] = {}
        self.seen: dict[int, logaccounting.StreamSeen] = {}  # runner lines per ended attempt
        self.ended_at: dict[int, float] = {}  # monotonic time an attempt was first seen ended

    async def observe(
        self, last: status.ExecutionStatus | None, rejected: Mapping[int, str]
    ) -> Observation:
        """The Observation of this pass. `last`: the status this loop wrote last (None:
        read the body's); `rejected`: attempts the API server refused, with its message."""
        rt = self.rt
        target = dataclasses.replace(
            self.target, generation=(self.body.get("metadata") or {}).get("generation")
        )
        execution = parse_spec(self.body.get("spec"))
        current = last or parse_status(self.body.get("status"))
        attempt = current.attempt
        job_body, pod_body = (None, None)
        if attempt >= 1:
            job_body, pod_body = await self.attempt_objects(attempt, current.phase)
        job = sm.job_view(job_body, attempt) if job_body else None
        pod = sm.pod_view(pod_body) if pod_body else None
        run_result, checked, seen = None, False, None
        ended = (pod is not None and pod.terminated) or (
            job is not None and (job.complete or job.failed)
        )
        if attempt >= 1 and ended:
            settled = await self.settle(attempt, pod)
            if settled is None:
                return Observation(target, execution, current, None)
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
        world = reconciling.Observed(
            now=time.time(),
            job=job,
            pod=pod,
            admitted=target.uid in rt.state.granted,
            queue_position=rt.state.queue_position(target.uid),
            run_result=run_result,
            result_checked=checked,
            cached=cached,
            create_rejected=rejected.get(attempt),
            stream=seen,
            waiting_for=rt.state.waiting_for(target.uid) if cached is None else None,
        )
        return Observation(target, execution, current, world)

    async def attempt_objects(self, attempt: int, phase: Phase | None) -> tuple[Any, Any]:
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

    async def settle(
        self, attempt: int, pod: sm.PodView | None
    ) -> tuple[outcome.RunResult | None, bool, logaccounting.StreamSeen | None] | None:
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
