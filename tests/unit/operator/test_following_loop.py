"""The per-Execution loop and the admission loop, in process against the in-memory fakes.

Each test plays the kubelet (a pod runs, ends with a termination message) and
asserts what a user sees: the phase, reason and message in the status, the Jobs
created, the cancel flag and engine records in Redis. Real loops, real
`ClusterState`, real `reconcile`; only the servers are fakes (see `fakes`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from kuberun.contract import outcome, spec, status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import apierrors, following, handlers, observing, reconciling
from kuberun_operator.apierrors import Outcome
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.context import OperatorContext
from kuberun_operator.following import Follower
from kuberun_operator.metrics import Metrics
from kuberun_operator.settings import Settings
from tests.unit.operator.fakes import FakeKube, FakeStreamStore, Stopped

NS = "team"
LOG = logging.getLogger("test")


class Cluster:
    """One operator's runtime over the fakes, with helpers to submit and follow."""

    def __init__(self, **settings: Any) -> None:
        self.state = ClusterState()
        self.kube = FakeKube(self.state)
        self.store = FakeStreamStore()
        self.rt = OperatorContext(
            settings=Settings(create_runner_service_account=False, **settings),
            kube=self.kube,
            redis=self.store,
            metrics=Metrics(),
            state=self.state,
        )
        self.tasks: list[asyncio.Task[Any]] = []
        self.stopped = Stopped()

    def submit(self, name: str = "run", **execution: Any) -> dict[str, Any]:
        body = {
            "apiVersion": f"{spec.GROUP}/{spec.VERSION}",
            "kind": spec.KIND,
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": 1},
            "spec": {"source": {"inline": "print(1)"}, **execution},
        }
        return self.kube.put(body)

    def follow(self, body: dict[str, Any]) -> asyncio.Task[status.ExecutionStatus | None]:
        """Start the Execution's loop, as the kopf daemon does."""
        task = asyncio.create_task(Follower(self.rt, body, LOG).run(self.stopped))
        self.tasks.append(task)
        return task

    def admit(self) -> None:
        """Start the admission loop, as `handlers.startup` does."""
        self.tasks.append(asyncio.create_task(handlers.admission_loop(self.rt)))

    def set_spec(self, body: dict[str, Any], **changes: Any) -> None:
        """A user edits the spec (kubectl patch): the watch delivers it, the loop wakes."""
        body["spec"].update(changes)
        body["metadata"]["generation"] += 1
        self.kube._watched(body)

    def job(self, name: str = "run", attempt: int = 1) -> dict[str, Any] | None:
        return self.kube.get("Job", NS, f"{name}-{attempt}")

    async def close(self) -> None:
        self.stopped.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@asynccontextmanager
async def cluster(**settings: Any) -> AsyncIterator[Cluster]:
    made = Cluster(**settings)
    try:
        yield made
    finally:
        await made.close()


async def until(check: Callable[[], Any], seconds: float = 1.0) -> Any:
    """The first truthy value of `check()`, polled while the loops run."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {seconds}s")
        await asyncio.sleep(0.002)


def phase_of(body: dict[str, Any]) -> tuple[str | None, str | None]:
    found = body.get("status") or {}
    return found.get("phase"), found.get("reason")


def verdict(phase: Phase, reason: Reason, message: str | None = None) -> outcome.TerminationSummary:
    return outcome.TerminationSummary(status=phase, reason=reason, message=message, last_sequence=3)


async def test_created_then_job_then_running_then_termination_message_ends_success() -> None:
    async with cluster() as c:
        body = c.submit()
        c.admit()
        loop = c.follow(body)
        job = await until(c.job)
        assert phase_of(body) == ("PENDING", "Starting")
        assert c.kube.get("Secret", NS, "run-1-request") is not None  # the request, before
        c.kube.run_pod("run-1", NS)
        await until(lambda: phase_of(body) == ("RUNNING", "Running"))
        pod = c.kube.get("Pod", NS, "run-1-pod")
        assert pod is not None and pod["spec"]["activeDeadlineSeconds"] > 0  # counted from start
        c.store.runner_wrote(NS, "uid-run", 1, 3)
        c.kube.end_pod("run-1", NS, verdict(Phase.SUCCESS, Reason.COMPLETED))
        final = await asyncio.wait_for(loop, 1.0)
    assert final is not None and (final.phase, final.reason) == (Phase.SUCCESS, Reason.COMPLETED)
    assert phase_of(body) == ("SUCCESS", "Completed")
    assert body["status"]["logs"]["complete"] is True
    assert [r.kind for r in c.store.records] == ["queued", "starting"]
    assert [b["kind"] for b in c.kube.of_kind("Job")] == ["Job"] and job["metadata"]["name"]


async def test_the_runners_timeout_verdict_ends_timed_out_with_an_engine_record() -> None:
    async with cluster() as c:
        body = c.submit(timeoutSeconds=5)
        c.admit()
        loop = c.follow(body)
        await until(c.job)
        c.kube.run_pod("run-1", NS)
        await until(lambda: phase_of(body)[0] == "RUNNING")
        c.kube.end_pod(
            "run-1", NS, verdict(Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED, "5s"), exit_code=12
        )
        final = await asyncio.wait_for(loop, 1.0)
    assert final is not None and final.phase == Phase.TIMED_OUT
    assert c.store.records[-1].kind == "timed_out"
    assert "timed out after 5s" in c.store.records[-1].message


async def test_cancel_sets_the_flag_then_the_runners_stop_ends_cancelled() -> None:
    async with cluster() as c:
        body = c.submit(gracePeriodSeconds=30)
        c.admit()
        loop = c.follow(body)
        await until(c.job)
        c.kube.run_pod("run-1", NS)
        await until(lambda: phase_of(body)[0] == "RUNNING")
        c.set_spec(body, cancel=True)
        await until(lambda: phase_of(body)[0] == "CANCELLING")
        assert c.store.cancels == {(NS, "uid-run"): "cancelled by request"}
        c.kube.end_pod("run-1", NS, verdict(Phase.CANCELLED, Reason.CANCELLED), exit_code=15)
        final = await asyncio.wait_for(loop, 1.0)
    assert final is not None and (final.phase, final.reason) == (Phase.CANCELLED, Reason.CANCELLED)
    assert c.store.records[-1].kind == "cancelled"


async def test_a_runner_that_ignores_cancel_is_stopped_after_its_grace_period() -> None:
    async with cluster() as c:
        body = c.submit(gracePeriodSeconds=0)
        c.admit()
        loop = c.follow(body)
        await until(c.job)
        c.kube.run_pod("run-1", NS)
        await until(lambda: phase_of(body)[0] == "RUNNING")
        c.set_spec(body, cancel=True)
        final = await asyncio.wait_for(loop, 2.0)
    assert final is not None and (final.phase, final.reason) == (Phase.CANCELLED, Reason.CANCELLED)
    assert ("delete", "Pod", "run-1-pod") in c.kube.calls
    assert ("delete", "Job", "run-1") in c.kube.calls


async def test_cancel_of_a_queued_execution_ends_it_without_a_job() -> None:
    async with cluster() as c:
        body = c.submit()  # no admission loop: it stays queued
        loop = c.follow(body)
        await until(lambda: phase_of(body) == ("PENDING", "Queued"))
        c.set_spec(body, cancel=True)
        final = await asyncio.wait_for(loop, 1.0)
    assert final is not None and final.phase == Phase.CANCELLED
    assert c.kube.of_kind("Job") == []


async def test_a_job_deleted_from_outside_fails_job_deleted_and_is_retried() -> None:
    async with cluster(missing_job_grace_seconds=0) as c:
        body = c.submit(retry={"limit": 1, "backoffSeconds": 0})
        c.admit()
        loop = c.follow(body)
        await until(c.job)
        c.kube.run_pod("run-1", NS)
        await until(lambda: phase_of(body)[0] == "RUNNING")
        await c.kube.delete_job(NS, "run-1")  # kubectl delete job, nobody set spec.cancel
        await until(lambda: c.job(attempt=2))
        first = body["status"]["attempts"][0]
        assert (first["phase"], first["reason"]) == ("FAILED", "JobDeleted")
        c.kube.run_pod("run-2", NS)
        c.kube.end_pod("run-2", NS, verdict(Phase.SUCCESS, Reason.COMPLETED))
        final = await asyncio.wait_for(loop, 1.0)
    assert final is not None and (final.phase, final.attempt) == (Phase.SUCCESS, 2)


JOB_422 = 'Job.batch "run-1" is invalid: spec.template.spec.containers[0].env[0].name: Invalid'


async def test_a_422_on_create_ends_failed_invalid_request_with_the_servers_message() -> None:
    async with cluster() as c:
        c.kube.fail_next("create", "Job", apierrors.from_status(422, JOB_422))
        body = c.submit()
        c.admit()
        final = await asyncio.wait_for(c.follow(body), 1.0)
    assert final is not None and (final.phase, final.reason) == (
        Phase.FAILED,
        Reason.INVALID_REQUEST,
    )
    assert JOB_422 in (final.message or "")
    assert [verb for verb, kind, _ in c.kube.calls if kind == "Job"] == ["create"]  # once only
    assert c.store.records[-1].kind == "failed"


async def test_a_missing_service_account_is_refused_before_anything_is_created() -> None:
    async with cluster() as c:
        body = c.submit(serviceAccountName="nobody")
        c.admit()
        final = await asyncio.wait_for(c.follow(body), 1.0)
    assert final is not None and final.reason == Reason.INVALID_REQUEST
    assert 'spec.serviceAccountName: serviceaccounts "nobody" not found' in (final.message or "")
    assert c.kube.of_kind("Secret") == [] and c.kube.of_kind("Job") == []


async def test_a_reference_the_operator_may_not_read_is_left_to_the_pod() -> None:
    async with cluster() as c:
        c.kube.unreadable.add("ServiceAccount")
        body = c.submit(serviceAccountName="maybe")
        c.admit()
        c.follow(body)
        assert await until(c.job)  # a 403 on the check is no verdict: the Job is created


async def test_a_job_already_there_from_an_earlier_pass_is_taken_not_duplicated() -> None:
    async with cluster() as c:
        body = c.submit()
        c.admit()
        loop = c.follow(body)
        await until(c.job)
        c.stopped.stop()  # the operator restarts: a new loop on the same Execution
        await asyncio.wait_for(loop, 1.0)
        c.stopped = Stopped()
        body["status"]["attempts"][0].pop("startTime", None)
        loop = c.follow(body)
        c.kube.run_pod("run-1", NS)
        c.kube.end_pod("run-1", NS, verdict(Phase.SUCCESS, Reason.COMPLETED))
        final = await asyncio.wait_for(loop, 1.0)
    assert final is not None and final.phase == Phase.SUCCESS
    assert len(c.kube.of_kind("Job")) == 1


async def test_a_job_name_taken_by_another_execution_is_waited_for() -> None:
    async with cluster() as c:
        c.kube.put(
            {
                "kind": "Job",
                "metadata": {"name": "run-1", "namespace": NS, "labels": {}},
                "spec": {"template": {"metadata": {"labels": {}}}},
            }
        )
        body = c.submit()
        c.admit()
        c.follow(body)
        await until(lambda: ("read", "Job", "run-1") in c.kube.calls)
        await asyncio.sleep(0.02)
        assert phase_of(body) == ("PENDING", "Starting")  # not ours: never adopted
        taken = c.kube.get("Job", NS, "run-1")
        assert taken is not None and taken["metadata"]["labels"] == {}  # left alone


# The table: an API error on creating the attempt's Job → what the Execution does.
API_ERRORS = [
    (400, "bad request", Outcome.PERMANENT),
    (403, 'jobs.batch is forbidden: User "op" cannot create', Outcome.PERMANENT),
    (404, 'namespaces "team" not found', Outcome.PERMANENT),
    (413, "Request entity too large", Outcome.PERMANENT),
    (422, JOB_422, Outcome.PERMANENT),
    (403, "exceeded quota: q, requested: count/jobs.batch=1", Outcome.TEMPORARY),
    (401, "Unauthorized", Outcome.TEMPORARY),
    (408, "request timeout", Outcome.TEMPORARY),
    (429, "too many requests", Outcome.TEMPORARY),
    (500, "etcdserver: leader changed", Outcome.TEMPORARY),
    (503, "unavailable", Outcome.TEMPORARY),
    (0, "connection refused", Outcome.TEMPORARY),
]


@pytest.mark.parametrize(
    ("code", "message", "expected"), API_ERRORS, ids=[f"{c}-{o}" for c, _, o in API_ERRORS]
)
async def test_api_error_on_create_to_outcome(
    code: int, message: str, expected: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permanent: FAILED/InvalidRequest at once with the server's message. Temporary:
    retried with backoff (shortened here) until the Job is created, then runs."""
    monkeypatch.setattr(following, "MAX_ERROR_BACKOFF", 0.01)
    async with cluster() as c:
        c.kube.fail_next("create", "Job", apierrors.from_status(code, message), times=2)
        body = c.submit()
        c.admit()
        loop = c.follow(body)
        if expected is Outcome.PERMANENT:
            final = await asyncio.wait_for(loop, 1.0)
            assert final is not None
            assert (final.phase, final.reason) == (Phase.FAILED, Reason.INVALID_REQUEST)
            assert message in (final.message or "")
            assert c.kube.of_kind("Job") == []
            assert c.rt.metrics.reconcile_errors._value.get() == 0
        else:
            await until(c.job)
            assert phase_of(body) == ("PENDING", "Starting")
            assert c.rt.metrics.reconcile_errors._value.get() == 2  # two passes backed off
            c.kube.run_pod("run-1", NS)
            c.kube.end_pod("run-1", NS, verdict(Phase.SUCCESS, Reason.COMPLETED))
            final = await asyncio.wait_for(loop, 1.0)
            assert final is not None and final.phase == Phase.SUCCESS


async def test_a_secret_left_by_an_earlier_execution_of_the_name_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconciling, "CREATE_RETRY_SECONDS", 0.01)
    async with cluster() as c:
        c.kube.put(
            {
                "kind": "Secret",
                "metadata": {"name": "run-1-request", "namespace": NS, "labels": {}},
            }
        )  # an earlier Execution "run", being garbage collected
        body = c.submit()
        c.admit()
        c.follow(body)
        await until(lambda: ("read", "Secret", "run-1-request") in c.kube.calls)
        assert c.job() is None  # not ours: no Job that would mount it
        del c.kube.objects["Secret", NS, "run-1-request"]  # the collector got to it
        assert await until(c.job)  # a later pass creates both


async def test_a_status_patch_that_fails_is_retried_by_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(following, "MAX_ERROR_BACKOFF", 0.01)
    async with cluster() as c:
        c.kube.fail_next("patch", spec.KIND, apierrors.from_status(500, "etcd"), times=3)
        body = c.submit()
        c.admit()
        c.follow(body)
        await until(c.job)
    assert c.rt.metrics.reconcile_errors._value.get() == 3


async def test_redis_down_at_the_end_still_ends_by_the_termination_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(observing, "SETTLE_SECONDS", 0.05)
    monkeypatch.setattr(observing, "SETTLE_POLL_SECONDS", 0.01)
    async with cluster() as c:
        body = c.submit()
        c.admit()
        loop = c.follow(body)
        await until(c.job)
        c.kube.run_pod("run-1", NS)
        await until(lambda: phase_of(body)[0] == "RUNNING")
        c.store.down = True
        c.kube.end_pod("run-1", NS, verdict(Phase.SUCCESS, Reason.COMPLETED))
        final = await asyncio.wait_for(loop, 1.0)
    assert final is not None and final.phase == Phase.SUCCESS
    assert c.rt.metrics.results_unavailable._value.get() == 1


async def test_queued_then_admitted_when_a_slot_frees() -> None:
    async with cluster(max_running=1) as c:
        first = c.submit("first")
        c.admit()
        first_loop = c.follow(first)
        await until(lambda: c.job("first"))
        second = c.submit("second")
        second_loop = c.follow(second)
        await until(lambda: (second.get("status") or {}).get("queuePosition") == 1)
        assert phase_of(second) == ("PENDING", "Queued")
        assert c.job("second") is None
        c.kube.run_pod("first-1", NS)
        c.kube.end_pod("first-1", NS, verdict(Phase.SUCCESS, Reason.COMPLETED))
        await asyncio.wait_for(first_loop, 1.0)
        await until(lambda: c.job("second"))  # the freed slot goes to the queued one
        assert phase_of(second) == ("PENDING", "Starting")
        assert "queuePosition" not in second["status"]
        c.kube.run_pod("second-1", NS)
        c.kube.end_pod("second-1", NS, verdict(Phase.SUCCESS, Reason.COMPLETED))
        final = await asyncio.wait_for(second_loop, 1.0)
    assert final is not None and final.phase == Phase.SUCCESS


async def test_admission_orders_by_priority_then_age() -> None:
    async with cluster(max_running=1) as c:
        holder = c.submit("holder")
        c.admit()
        holder_loop = c.follow(holder)
        await until(lambda: c.job("holder"))
        low = c.submit("low")
        high = c.submit("high", priority=10)
        c.follow(low)
        c.follow(high)
        await until(lambda: (high.get("status") or {}).get("queuePosition") == 1)
        await until(lambda: (low.get("status") or {}).get("queuePosition") == 2)
        c.kube.run_pod("holder-1", NS)
        c.kube.end_pod("holder-1", NS, verdict(Phase.SUCCESS, Reason.COMPLETED))
        await asyncio.wait_for(holder_loop, 1.0)
        await until(lambda: c.job("high"))
        await asyncio.sleep(0.02)
        assert c.job("low") is None
