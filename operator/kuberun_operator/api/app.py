"""The HTTP routes of the log and result API (the wire contract in docs/api.md).

Every `/api/v1` route authenticates the caller's bearer token and reviews one
permission in the path's namespace before it reads anything; reads are then
made with the service's own ServiceAccount. The web view (`/ui/`) is one
static page calling the same routes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from redis.exceptions import RedisError

from kuberun.contract import keys
from kuberun_operator.api import (
    access,
    cursor,
    reading,
    retention,
    sse,
    summary,
    triggering,
    triggers,
)
from kuberun_operator.api.kube import Kube, KubeFailed, NotServed, PhaseWatch, Refused
from kuberun_operator.api.logsource import ArchiveLogs, RedisLogs, record_json

log = logging.getLogger(__name__)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"


class ApiError(Exception):
    """Answered as `{"error": code, "message": message}` with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@dataclass
class Services:
    """What the routes use; built at startup (`__main__`) or by a test."""

    gate: access.Gate
    kube: Kube
    phases: PhaseWatch
    redis: RedisLogs | None
    archive: ArchiveLogs | None
    redis_client: Any = None


SERVICES = web.AppKey("services", Services)


@web.middleware
async def errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except triggering.TriggerError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.allow:
            response.headers["Allow"] = exc.allow
        return response
    except Refused as exc:
        code = "forbidden" if exc.status == 403 else "refused"
        status = exc.status if exc.status in (400, 403, 409, 422) else 400
        return error_response(status, code, f"the API server refused the Execution: {exc}")
    except cursor.BadQuery as exc:
        return error_response(400, "bad-request", str(exc))
    except access.Unauthenticated as exc:
        response = error_response(401, "unauthenticated", str(exc))
        response.headers["WWW-Authenticate"] = 'Bearer realm="kuberun"'
        return response
    except (access.Forbidden, NotServed) as exc:
        return error_response(403, "forbidden", str(exc))
    except reading.Expired as exc:
        return error_response(410, "cursor-expired", str(exc))
    except KubeFailed as exc:
        return error_response(502, "kubernetes-unavailable", str(exc))
    except (RedisError, OSError) as exc:
        if isinstance(exc, ConnectionResetError):
            raise
        return error_response(503, "redis-unavailable", f"Redis could not be read: {exc}")


def _wants_events(request: web.Request) -> bool:
    return EVENT_STREAM in request.headers.get("Accept", "")


def token_of(request: web.Request) -> str | None:
    """The bearer token; `?access_token=` only on event streams, where a browser's
    EventSource cannot send an Authorization header (docs/api.md says why it is safe)."""
    token = access.bearer_token(request.headers.get("Authorization"))
    if token is None and request.method == "GET" and _wants_events(request):
        token = request.query.get("access_token") or None
    return token


def _namespace(request: web.Request) -> str:
    namespace = request.match_info["namespace"]
    if not _DNS_LABEL.match(namespace):
        raise ApiError(400, "bad-request", f"not a namespace name: {namespace!r}")
    return namespace


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not _DNS_NAME.match(name):
        raise ApiError(400, "bad-request", f"not an execution name: {name!r}")
    return name


async def _allow(request: web.Request, verb: str, subresource: str = "", name: str = "") -> str:
    namespace = _namespace(request)
    services = request.app[SERVICES]
    await services.gate.allow(
        token_of(request), access.Permission(verb, namespace, subresource, name)
    )
    return namespace


async def list_executions(request: web.Request) -> web.Response:
    namespace = await _allow(request, "list")
    services = request.app[SERVICES]
    live = [summary.from_execution(b) for b in await services.kube.list_executions(namespace)]
    archived = []
    if services.archive is not None:
        archived = [summary.from_archive(r) for r in await services.archive.executions(namespace)]
    return web.json_response({"items": summary.merged(live, archived)})


@dataclass(frozen=True)
class Found:
    """An execution by name: its live object, its archive row, or both."""

    body: dict[str, Any] | None
    row: dict[str, Any] | None

    @property
    def uid(self) -> str:
        if self.body is not None:
            return str(self.body["metadata"]["uid"])
        assert self.row is not None
        return str(self.row["uid"])

    def target(self) -> reading.Target:
        if self.body is not None:
            meta, current = self.body["metadata"], self.body.get("status") or {}
            return reading.Target(
                meta["namespace"],
                meta["name"],
                meta["uid"],
                current.get("phase"),
                current.get("reason"),
                archived=self.row is not None,
            )
        assert self.row is not None
        row = self.row
        return reading.Target(
            row["namespace"], row["name"], row["uid"], row["phase"], row["reason"], archived=True
        )


async def _find(services: Services, namespace: str, name: str) -> Found:
    body = await services.kube.get_execution(namespace, name)
    row = None
    if services.archive is not None:
        uid = body["metadata"]["uid"] if body is not None else None
        row = await services.archive.execution(namespace, name=name, uid=uid)
    if body is None and row is None:
        raise ApiError(404, "not-found", f"no execution {name} in namespace {namespace}")
    return Found(dict(body) if body is not None else None, dict(row) if row is not None else None)


async def get_execution(request: web.Request) -> web.Response:
    name = _name(request)
    namespace = await _allow(request, "get", name=name)
    found = await _find(request.app[SERVICES], namespace, name)
    if found.body is not None:
        return web.json_response(summary.from_execution(found.body, detail=True))
    assert found.row is not None
    return web.json_response(summary.from_archive(found.row, detail=True))


async def get_result(request: web.Request) -> web.Response:
    name = _name(request)
    namespace = await _allow(request, "get", name=name)
    return await _result(request.app[SERVICES], namespace, name, cursor.attempt_of(request.query))


async def _result(
    services: Services, namespace: str, name: str, wanted: int | None
) -> web.Response:
    """The result route's answer (authorization already done)."""
    found = await _find(services, namespace, name)
    current = (found.body or {}).get("status") or {}
    if found.body is None and found.row is not None:
        current = _loads(found.row.get("status")) or {}
    last = int(current.get("attempt") or (found.row or {}).get("attempts") or 0)
    attempt = wanted or last
    if services.redis_client is not None and attempt > 0:
        raw = await services.redis_client.get(keys.result(namespace, found.uid, attempt))
        if raw is not None:
            return web.Response(body=raw, content_type="application/json")
    # Redis no longer has it: the last attempt's outcome is in the status (and archive).
    if attempt == last and summary.is_terminal(current.get("phase")):
        result = current.get("result")
        if found.row is not None and found.row.get("result") is not None:
            result = _loads(found.row["result"])
        return web.json_response(
            {
                "status": current.get("phase"),
                "reason": current.get("reason"),
                "result": result,
                "error": current.get("error"),
            }
        )
    raise ApiError(404, "not-found", f"no result of {namespace}/{name} attempt {attempt} yet")


async def trigger_endpoint(request: web.Request) -> web.Response:
    """Start a WorkflowEndpoint's workflow (`triggers`; docs/api.md)."""
    namespace = _namespace(request)
    name = _name(request)
    services = request.app[SERVICES]

    async def read_result(namespace: str, execution: str) -> tuple[int, bytes]:
        try:
            answer = await _result(services, namespace, execution, None)
        except ApiError as exc:
            return exc.status, b""
        assert isinstance(answer.body, bytes)
        return answer.status, answer.body

    token = access.bearer_token(request.headers.get("Authorization"))
    return await triggers.handle(
        request,
        namespace,
        name,
        token,
        services.gate,
        services.kube,
        services.phases,
        read_result,
    )


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def get_logs(request: web.Request) -> web.StreamResponse:
    name = _name(request)
    namespace = await _allow(request, "get", subresource="log", name=name)
    services = request.app[SERVICES]
    after = cursor.cursor_of(request.query, request.headers.get("Last-Event-ID"))
    wanted = cursor.LogFilter.from_query(request.query)
    follow = cursor.flag(request.query, "follow")
    found = await _find(services, namespace, name)
    target = found.target()
    source = await reading.plan(target, after, services.redis, services.archive)

    async def phase_of() -> tuple[str | None, str | None]:
        watched = services.phases.phase(namespace, target.uid)
        if watched is not None:
            return watched
        body = await services.kube.get_execution(namespace, name)
        if body is None or body["metadata"]["uid"] != target.uid:
            return (target.phase, "Deleted")
        current = body.get("status") or {}
        return current.get("phase"), current.get("reason")

    items = reading.records(
        target, source, after, wanted, follow, phase_of, services.redis, services.archive
    )
    events = _wants_events(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": EVENT_STREAM if events else NDJSON,
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # proxies must pass each line on at once
            "X-Kuberun-Log-Source": source.value,
        }
    )
    await response.prepare(request)
    if events:
        await response.write(sse.retry())
    quiet_since = time.monotonic()
    try:
        async for item in items:
            if isinstance(item, reading.Tick):
                if events and time.monotonic() - quiet_since >= sse.PING_SECONDS:
                    await response.write(sse.PING)
                    quiet_since = time.monotonic()
                continue
            if isinstance(item, reading.End):
                end = {"phase": item.phase, "reason": item.reason}
                if events:
                    await response.write(sse.event("end", end))
                elif follow:
                    await response.write(_line({"end": True, **end}))
                break
            entry, record = item
            data = record_json(entry, record)
            if events:
                await response.write(sse.event("log", data, event_id=data["id"]))
            else:
                await response.write(_line(data))
            quiet_since = time.monotonic()
    except ConnectionResetError:
        # The reader went away (it resumes by its last id): nothing to finish.
        log.debug("reader of %s/%s left", namespace, name)
        return response
    except (RedisError, OSError) as exc:
        # Mid-stream the status is already sent: the client resumes from its last id.
        log.warning("log stream of %s/%s cut: %s", namespace, name, exc)
    await response.write_eof()
    return response


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


async def index(_: web.Request) -> web.Response:
    page = resources.files("kuberun_operator.api").joinpath("static/index.html").read_bytes()
    return web.Response(
        body=page,
        content_type="text/html",
        headers={
            "Cache-Control": "no-cache",
            # The page loads nothing from elsewhere and runs only its own script.
            "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline';"
            " style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        },
    )


async def to_ui(_: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


class AccessLog(AbstractAccessLogger):
    """Method, path and status only: never the query string, which may hold an
    EventSource's `access_token`."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, request.path, response.status, time)


def build(services: Services) -> web.Application:
    app = web.Application(middlewares=[errors])
    app[SERVICES] = services
    base = "/api/v1/namespaces/{namespace}/executions"
    app.router.add_get(base, list_executions)
    app.router.add_get(base + "/{name}", get_execution)
    app.router.add_get(base + "/{name}/result", get_result)
    app.router.add_get(base + "/{name}/logs", get_logs)
    app.router.add_route("*", "/api/v1/namespaces/{namespace}/endpoints/{name}", trigger_endpoint)
    app.router.add_get("/", to_ui)
    app.router.add_get("/ui", to_ui)
    app.router.add_get("/ui/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    return app


__all__ = ["ApiError", "Services", "build", "retention"]
