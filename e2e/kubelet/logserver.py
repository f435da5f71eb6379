"""The kubelet's HTTPS endpoint for ``kubectl logs`` (``/containerLogs/...``).

The API server proxies ``pods/log`` to the node's ``daemonEndpoints`` port with
its kubelet-client certificate; this server requires a certificate signed by
the cluster CA and serves the container's log file: ``tailLines``,
``limitBytes``, ``previous`` and ``follow`` (until the container ends) are
honoured; ``timestamps`` and ``sinceSeconds`` are not (the log has no per-line
times).
"""

from __future__ import annotations

import asyncio
import pathlib
import ssl
from collections.abc import Callable

from aiohttp import web

#: Looks a container up: (log file, still running?) or None when unknown.
Locator = Callable[[str, str, str, bool], tuple[pathlib.Path, Callable[[], bool]] | None]


def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def _read_range(path: pathlib.Path, start: int, end: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start)


def app(locate: Locator) -> web.Application:
    async def container_logs(request: web.Request) -> web.StreamResponse:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        query = request.query
        previous = query.get("previous") == "true"
        found = locate(ns, pod, container, previous)
        if found is None:
            raise web.HTTPNotFound(text=f"container {container!r} of pod {ns}/{pod} not found")
        path, running = found
        data = path.read_bytes() if path.exists() else b""
        if "tailLines" in query:
            data = _tail(data, int(query["tailLines"]))
        if "limitBytes" in query:
            data = data[: int(query["limitBytes"])]
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(data)
        if query.get("follow") == "true" and not previous:
            offset = path.stat().st_size if path.exists() else 0
            while True:
                alive = running()
                size = path.stat().st_size if path.exists() else 0
                if size > offset:
                    await response.write(_read_range(path, offset, size))
                    offset = size
                elif not alive:
                    break
                await asyncio.sleep(0.2)
        await response.write_eof()
        return response

    application = web.Application()
    application.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    return application


async def serve(
    locate: Locator, *, port: int, cert: str, key: str, client_ca: str
) -> web.AppRunner:
    """Start the server on 127.0.0.1:``port``; the caller keeps the runner to stop it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(app(locate), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    return runner
