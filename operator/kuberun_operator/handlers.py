"""kopf handlers: thin wiring from watch events to `ClusterState`, `Follower` and admission.

Imported by `__main__` (which registers them with kopf). Every handler is
async and does no blocking I/O: API calls go through `kubeio` (thread pool),
Redis through `redisio` (asyncio). Jobs and Pods are watched with a
server-side label selector, so the operator never streams every pod of the
cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import asyncpg
import kopf

from kuberun.contract import keys, spec
from kuberun.contract.phases import TERMINAL_PHASE_VALUES, Phase
from kuberun_operator import admission, archiving, conditions, health, naming, queued
from kuberun_operator.backlog import Backlog, Step
from kuberun_operator.clusterstate import ClusterState
from kuberun_operator.context import OperatorContext
from kuberun_operator.following import Follower, parse_status
from kuberun_operator.kubeio import Kube, KubeError, load_api_client
from kuberun_operator.metrics import Metrics
from kuberun_operator.redisio import RedisIO
from kuberun_operator.redisusers import RedisUsers
from kuberun_operator.settings import Settings

FINALIZER = f"{spec.GROUP}/finalizer"
TERMINAL = TERMINAL_PHASE_VALUES
OWNED = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY}
LOG = logging.getLogger("kuberun.operator")


def _context(memo: Any) -> OperatorContext:
    rt: OperatorContext = memo.context
    return rt


class NoEssenceDiffBase(kopf.AnnotationsDiffBaseStorage):
    """A diff base that skips kopf's per-event deep copy of every body.

    kopf builds an "essence" (a deep copy minus system fields) of each object on
    every event, for on.create/on.update/on.field change detection. This operator
    has no change handlers — only event handlers, one daemon and startup/cleanup —
    so the copy is pure overhead: a quarter of the operator's CPU in the burst
    benchmark, mostly on the Pod and Job events it watches.
    """

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return {}


def configure_kopf(kopf_settings: kopf.OperatorSettings, cfg: Settings) -> None:
    """Server-side selectors for owned objects, our finalizer name, quiet k8s events."""
    kopf_settings.peering.lifetime = cfg.peering_lifetime_seconds
    kopf_settings.watching.label_selectors["batch", "jobs"] = naming.SELECTOR
    kopf_settings.watching.label_selectors["v1", "pods"] = naming.SELECTOR
    kopf_settings.persistence.finalizer = FINALIZER
    kopf_settings.persistence.diffbase_storage = NoEssenceDiffBase()
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.watching.server_timeout = 300


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, logger: Any, **_: Any) -> None:
    """Connect, rebuild state from the cluster, start admission and the HTTP endpoints."""
    cfg: Settings = memo.settings
    configure_kopf(settings, cfg)
    metrics: Metrics = memo.metrics
    kube = Kube(
        load_api_client(cfg.api_workers),
        cfg.api_workers,
        on_error=lambda code: metrics.api_errors.labels(status=str(code)).inc(),
    )
    redis = (
        RedisIO(
            cfg.redis_url,
            cfg.redis_timeout_seconds,
            on_error=lambda what: metrics.redis_errors.labels(operation=what).inc(),
        )
        if cfg.redis_url
        else None
    )
    state = ClusterState()
    state.stampede_guard = cfg.cache_stampede_guard
    rt = OperatorContext(settings=cfg, kube=kube, redis=redis, metrics=metrics, state=state)
    if cfg.redis_tenant_users and redis is not None and cfg.redis_url:
        rt.users = RedisUsers(redis.client, kube, cfg, cfg.redis_url)
    memo.context = rt
    # Queued Executions have no daemon: their passes run here (see `queued`). Their bodies
    # come from the watch (its first events list them all), not from the listing below: a
    # standby replica (peering) is paused and sees no events, so it writes nothing.
    memo.queued = queued.QueuedPasses(
        rt, lambda body, steps: archive_terminal(rt, body, steps), LOG
    )
    state.on_wake = memo.queued.due
    if cfg.archive_dsn:
        memo.archive_pool = await asyncpg.create_pool(cfg.archive_dsn, min_size=1, max_size=4)
        rt.archive = archiving.Archive(memo.archive_pool)
        await rt.archive.ensure_schema()
    app = health.build_app(metrics.registry, lambda: rt.ready)
    memo.http = await health.serve(app, cfg.http_host, cfg.http_port)
    # Admission state comes from the cluster, not from memory: list before watching.
    namespaces: list[str | None] = list(cfg.namespaces) or [None]
    ended: list[dict[str, Any]] = []  # for the archive's catch-up sweep
    for namespace in namespaces:
        for body in await kube.list_all("Execution", namespace=namespace):
            uid = state.observe_execution(body)
            metrics.observe_phase(uid, body)
            if (body.get("status") or {}).get("phase") in TERMINAL:
                ended.append(body)
        for body in await kube.list_all("Job", naming.SELECTOR, namespace):
            state.observe_job(body)
        for body in await kube.list_all("Pod", naming.SELECTOR, namespace):
            state.observe_pod(body)
    rt.backlog = Backlog(metrics)
    rt.tasks.append(asyncio.create_task(rt.backlog.run(), name="kuberun-backlog"))
    rt.tasks.append(asyncio.create_task(admission_loop(rt), name="kuberun-admission"))
    rt.tasks.append(asyncio.create_task(memo.queued.run(), name="kuberun-queued"))
    if rt.users is not None:
        rt.tasks.append(
            asyncio.create_task(rt.users.keep_applied(rt.binding), name="kuberun-redis-users")
        )
    if rt.archive is not None:
        rt.tasks.append(asyncio.create_task(archive_sweep(rt, ended), name="kuberun-archive"))
    rt.ready = True
    logger.info(
        "kuberun operator ready: %d live executions, limits %d global / %d per namespace",
        len(state.executions),
        cfg.max_running,
        cfg.max_running_per_namespace,
    )


def archive_step(rt: OperatorContext, body: Mapping[str, Any]) -> Step:
    """Archiving one terminal Execution with its logs, as a backlog step: tried again
    until the row and the logs are in (Redis or PostgreSQL down meanwhile)."""
    meta = body["metadata"]
    stream = keys.logs_stream(meta["namespace"], meta["uid"])

    async def run() -> bool:
        assert rt.archive is not None
        client = rt.redis.client if rt.redis is not None else None
        return await archiving.archive_execution(rt.archive, client, body, stream)

    return Step("archive", run)


async def archive_terminal(rt: OperatorContext, body: Mapping[str, Any], steps: list[Step]) -> None:
    """Queue what an ended Execution still owes (engine records, then its archive row
    with its logs) in the backlog, which retries each until it is done."""
    if rt.archive is not None:
        steps = [*steps, archive_step(rt, body)]
    if rt.backlog is not None:
        meta = body["metadata"]
        rt.backlog.add(f"{meta['namespace']}/{meta['name']}", steps)


async def archive_sweep(rt: OperatorContext, ended: list[dict[str, Any]]) -> None:
    """At start: archive the terminal Executions (listed by startup) that a previous run
    ended but did not archive."""
    assert rt.archive is not None
    missing = await rt.archive.missing([body["metadata"]["uid"] for body in ended])
    for body in ended:
        if body["metadata"]["uid"] in missing:
            await archive_terminal(rt, body, [])


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    rt = _context(memo)
    rt.ready = False
    for task in rt.tasks:
        task.cancel()
    for task in rt.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if rt.redis is not None:
        await rt.redis.close()
    if rt.archive is not None:
        await memo.archive_pool.close()
    await memo.http.cleanup()
    rt.kube.close()


async def admission_loop(rt: OperatorContext) -> None:
    """Grant slots whenever the set of live executions changes; publish queue positions.

    `state.positions` holds the *published* positions, the ones passes write to
    status. They are published at most every `queue_status_interval_seconds`, and
    beyond the first few only when they moved noticeably: a changing queue of
    hundreds would otherwise rewrite every queued Execution on every start.
    """
    state = rt.state
    last_publish = 0.0
    loop = asyncio.get_running_loop()
    while True:
        await state.admission_changed.wait()
        state.admission_changed.clear()
        try:
            last_publish = _admit(rt, last_publish, loop)
        except Exception:  # one bad round must not stop admission for good
            rt.metrics.reconcile_errors.inc()
            LOG.exception("admission round failed; retrying")
            loop.call_later(1.0, state.admission_changed.set)


def _admit(rt: OperatorContext, last_publish: float, loop: asyncio.AbstractEventLoop) -> float:
    """One admission round; returns when positions were last published.

    Incremental (`admissionqueue`): a round costs what it admits, not the queue's
    length; positions are walked once per publication, and only when the order
    changed since the last one.
    """
    state, cfg = rt.state, rt.settings
    queue = state.queue
    for uid in queue.admit(cfg.max_running, cfg.max_running_per_namespace):
        state.granted.add(uid)
        state.positions.pop(uid, None)
        state.wake(uid)
    rt.metrics.running.set(queue.running)
    rt.metrics.queue_length.set(queue.waiting)
    if not queue.dirty:
        return last_publish
    now = time.monotonic()
    if now - last_publish < cfg.queue_status_interval_seconds:
        if not state.publish_pending:
            state.publish_pending = True
            loop.call_later(
                cfg.queue_status_interval_seconds - (now - last_publish), _publish_due, state
            )
        return last_publish
    budget = admission.POSITION_WRITES_PER_ROUND
    for uid, position in queue.positions():
        if admission.worth_publishing(state.positions.get(uid), position):
            if budget == 0:  # the rest next time: front first, the tail stays coarse
                queue.dirty = True
                state.admission_changed.set()
                break
            budget -= 1
            state.positions[uid] = position
            state.wake(uid)
    return now


def _publish_due(state: ClusterState) -> None:
    state.publish_pending = False
    state.admission_changed.set()


@kopf.on.event(spec.GROUP, spec.VERSION, spec.PLURAL)
async def execution_event(event: Any, body: Any, memo: Any, **_: Any) -> None:
    """Keep admission's view current and wake the execution's loop (e.g. on spec.cancel)."""
    rt = _context(memo)
    deleted = event.get("type") == "DELETED"
    uid = rt.state.observe_execution(body, deleted=deleted)
    memo.queued.observe(body, deleted=deleted)
    rt.metrics.observe_phase(uid, body, deleted=deleted)
    rt.state.wake(uid)
    if not deleted:
        await keep_generation(rt, body)


async def keep_generation(rt: OperatorContext, body: Mapping[str, Any]) -> None:
    """A finished Execution (no loop any more) still observes each new generation.

    Live ones are the follower's: it writes observedGeneration on every pass.
    """
    meta = body.get("metadata") or {}
    raw = body.get("status") or {}
    if raw.get("phase") not in TERMINAL or meta.get("deletionTimestamp"):
        return
    current = parse_status(raw)
    updated = conditions.at_generation(current, meta.get("generation"), time.time())
    if updated is current:
        return
    try:
        await rt.kube.patch_status(
            meta["namespace"],
            meta["name"],
            {
                "observedGeneration": updated.observed_generation,
                "conditions": [
                    c.model_dump(by_alias=True, mode="json") for c in updated.conditions
                ],
            },
        )
    except KubeError as exc:  # the next event (or an operator restart) tries again
        LOG.warning(
            "%s/%s: observedGeneration not updated: %s", meta["namespace"], meta["name"], exc
        )


@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
async def job_event(event: Any, body: Any, memo: Any, **_: Any) -> None:
    rt = _context(memo)
    uid = rt.state.observe_job(body, deleted=event.get("type") == "DELETED")
    if uid:
        rt.state.wake(uid)


@kopf.on.event("v1", "pods", labels=OWNED)
async def pod_event(event: Any, body: Any, memo: Any, **_: Any) -> None:
    rt = _context(memo)
    uid = rt.state.observe_pod(body, deleted=event.get("type") == "DELETED")
    if uid:
        rt.state.wake(uid)


def _followed(status: Any, **_: Any) -> bool:
    """Admitted and not ended: only these have a daemon (queued ones: `queued`)."""
    return queued.followed(status)


@kopf.daemon(
    spec.GROUP,
    spec.VERSION,
    spec.PLURAL,
    id="follow",
    when=_followed,
    cancellation_backoff=5.0,
    cancellation_timeout=10.0,
)
async def follow(stopped: Any, body: Any, memo: Any, logger: Any, **_: Any) -> None:
    """One loop per admitted Execution, from its first attempt (or operator start) to its
    terminal phase; before that it is queued, and `queued` runs its passes."""
    rt = _context(memo)
    follower = Follower(rt, body, LOG)
    uid = follower.target.uid
    try:
        final = await follower.run(stopped)
        if final is not None and final.phase is not None and final.phase.terminal:
            await archive_terminal(
                rt,
                {
                    "metadata": dict(body["metadata"]),
                    "spec": dict(body["spec"]),
                    "status": final.model_dump(by_alias=True, mode="json", exclude_none=True),
                },
                follower.leftovers(),
            )
        if (
            stopped.reason is not None
            and kopf.DaemonStoppingReason.RESOURCE_DELETED in stopped.reason
        ):
            await follower.on_deleted()
    finally:
        terminal = follower.status is not None and follower.status.phase in {
            Phase(p) for p in TERMINAL
        }
        if terminal or (
            stopped.reason and kopf.DaemonStoppingReason.RESOURCE_DELETED in stopped.reason
        ):
            final = follower.status if terminal else None
            rt.state.forget(
                uid, final=final.model_dump(by_alias=True, mode="json") if final else None
            )
