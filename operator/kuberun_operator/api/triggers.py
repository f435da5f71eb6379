"""`/api/v1/namespaces/{ns}/endpoints/{name}`: start a WorkflowEndpoint's workflow over HTTP.

The route (`app.build` registers it for every method) applies the decisions of
`triggering`, in this order:

1. the WorkflowEndpoint is read as the API's ServiceAccount;
2. a public endpoint whose own token was presented: 403 unless the namespace
   opted in; the creator is the fixed public identity;
3. otherwise the bearer token is a Kubernetes token: TokenReview (401), then
   SubjectAccessReview `create executions` in the namespace (403); then 404 for
   an unknown endpoint (after authorization, so names do not leak);
4. 405 with `Allow` for a method the endpoint does not answer; the body (413,
   415, 400) or query string becomes the parameters;
5. the Execution is created as the API's ServiceAccount with the caller in
   `kuberun.dev/created-by` (the admission policies let only this account set it);
6. async: 202 with the name and its URLs; sync: wait on the namespace's watch
   until terminal (then the result API's answer, status by outcome) or until
   `syncTimeoutSeconds` (202 and a Location to poll).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kuberun.contract import endpoint
from kuberun_operator.api import access, triggering
from kuberun_operator.api.kube import Kube, PhaseWatch

log = logging.getLogger(__name__)

#: Reads an Execution's result as the result API answers it: (status, JSON bytes).
ResultReader = Callable[[str, str], Awaitable[tuple[int, bytes]]]
CHUNK_BYTES = 64 * 1024


async def read_body(request: web.Request) -> bytes:
    """The body, refused (413) as soon as it passes `MAX_BODY_BYTES`, declared or not."""
    if (request.content_length or 0) > triggering.MAX_BODY_BYTES:
        raise triggering.too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > triggering.MAX_BODY_BYTES:
            raise triggering.too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def handle(
    request: web.Request,
    namespace: str,
    name: str,
    token: str | None,
    gate: access.Gate,
    kube: Kube,
    phases: PhaseWatch,
    read_result: ResultReader,
) -> web.Response:
    """One trigger call (the module docstring's steps)."""
    method = request.method.upper()
    body = await kube.get_endpoint(namespace, name)
    found = triggering.Endpoint.from_body(body) if body is not None else None
    creator = ""
    if found is not None and found.spec.public:
        configured = await kube.endpoint_token(namespace, name)
        if triggering.public_access(found, token, configured):
            refusal = triggering.public_refusal(found, await kube.namespace_labels(namespace))
            if refusal is not None:
                raise access.Forbidden(refusal)
            creator = endpoint.PUBLIC_CALLER
    if not creator:
        who = await gate.allow(token, access.Permission("create", namespace))
        creator = who.username
    if found is None:
        raise triggering.TriggerError(
            404, "not-found", f"no WorkflowEndpoint {name} in namespace {namespace}"
        )
    triggering.check_method(found, method)
    raw = await read_body(request) if method in triggering.BODY_METHODS else b""
    params = triggering.parameters(
        method,
        {k: request.query.getall(k) for k in request.query},
        raw,
        request.headers.get("Content-Type", ""),
    )
    created = await kube.create_execution(
        namespace, triggering.execution_manifest(found, params, creator)
    )
    meta = created["metadata"]
    execution, uid = str(meta["name"]), str(meta["uid"])
    urls = triggering.links("", namespace, execution)
    log.info("endpoint %s/%s started %s for %s", namespace, name, execution, creator)
    headers = {"X-Kuberun-Execution": execution}
    started = {"name": execution, "namespace": namespace, "uid": uid, **urls}
    if found.spec.execution_mode is endpoint.ExecutionMode.ASYNC:
        return web.json_response(
            started, status=202, headers={**headers, "Location": urls["execution"]}
        )
    ended = await phases.wait_terminal(namespace, uid, float(found.spec.sync_timeout_seconds))
    if ended is None:
        return web.json_response(
            {**started, "message": f"still running after {found.spec.sync_timeout_seconds}s"},
            status=202,
            headers={**headers, "Location": urls["execution"], "Retry-After": "5"},
        )
    phase, reason = ended
    status, result = await read_result(namespace, execution)
    headers |= {"X-Kuberun-Phase": str(phase), "Content-Location": urls["result"]}
    if status != 200:  # deleted meanwhile, or the result already gone: say what is known
        payload: Any = {"status": phase, "reason": reason, **started}
        return web.json_response(
            payload, status=triggering.sync_status(phase, reason), headers=headers
        )
    return web.Response(
        body=result,
        status=triggering.sync_status(phase, reason),
        content_type="application/json",
        headers=headers,
    )
