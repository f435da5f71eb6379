"""A small asyncio client for the Kubernetes API, on aiohttp.

The kubelet needs a handful of verbs (get, list, create, patch, delete, watch)
on raw JSON bodies; the official client is synchronous and its asyncio port is
not installed, so this is a thin transport: it reads a client-certificate or
token kubeconfig and raises :class:`ApiError` (``status``, ``reason``) for any
non-2xx answer. Bodies stay plain dicts: the kubelet copies most of them
through unchanged.

Errors::

    ApiError
     ├── NotFound (404)
     └── Conflict (409)
"""

from __future__ import annotations

import base64
import json
import pathlib
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

Body = dict[str, Any]


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        try:
            self.reason = str(json.loads(body).get("reason", ""))
        except ValueError:
            self.reason = ""
        super().__init__(f"{status} {self.reason}: {body[:300]}")


class NotFound(ApiError):
    """404: the object does not exist (any more)."""


class Conflict(ApiError):
    """409: a precondition or resourceVersion did not match, or it exists already."""


def _raise_for(status: int, text: str) -> None:
    if status == 404:
        raise NotFound(status, text)
    if status == 409:
        raise Conflict(status, text)
    raise ApiError(status, text)


def _load_kubeconfig(path: pathlib.Path) -> Body:
    text = path.read_text()
    try:
        data: Body = json.loads(text)
    except ValueError:
        import yaml  # PyYAML comes with the kubernetes client.

        data = yaml.safe_load(text)
    return data


def _materialise(item: Mapping[str, Any], key: str, workdir: pathlib.Path) -> str | None:
    """A file path for ``key`` or ``key-data`` of a kubeconfig entry."""
    if item.get(f"{key}-data"):
        target = workdir / key
        target.write_bytes(base64.b64decode(item[f"{key}-data"]))
        return str(target)
    value = item.get(key)
    return str(value) if value else None


class Client:
    """Talks to one API server; create inside a running event loop, then ``close()``."""

    def __init__(self, kubeconfig: pathlib.Path, *, workdir: pathlib.Path | None = None) -> None:
        config = _load_kubeconfig(kubeconfig)
        current = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self.server = str(cluster["server"]).rstrip("/")
        # Certificates given inline are written to files for the ssl module; into
        # ``workdir`` when given (the kubelet's state dir, so nothing is left in /tmp).
        self._workdir = tempfile.TemporaryDirectory(prefix="kuberun-kubeapi-", dir=workdir)
        work = pathlib.Path(self._workdir.name)
        ca = _materialise(cluster, "certificate-authority", work)
        self.ca_path = ca
        ssl_context = ssl.create_default_context(cafile=ca)
        cert = _materialise(user, "client-certificate", work)
        key = _materialise(user, "client-key", work)
        if cert and key:
            ssl_context.load_cert_chain(cert, key)
        self._headers = {"Accept": "application/json"}
        if user.get("token"):
            self._headers["Authorization"] = f"Bearer {user['token']}"
        self._ssl = ssl_context
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=20),
            headers=self._headers,
        )

    async def close(self) -> None:
        await self._session.close()
        self._workdir.cleanup()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Body | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Body:
        data = json.dumps(body).encode() if body is not None else None
        async with self._session.request(
            method,
            self.server + path,
            data=data,
            params=params,
            headers={"Content-Type": content_type},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            text = await response.text()
            if response.status >= 300:
                _raise_for(response.status, text)
            result: Body = json.loads(text) if text else {}
            return result

    async def get(self, path: str, **params: str) -> Body:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: Body) -> Body:
        return await self.request("POST", path, body=body)

    async def put(self, path: str, body: Body) -> Body:
        return await self.request("PUT", path, body=body)

    async def patch(self, path: str, body: Body, *, strategic: bool = True) -> Body:
        kind = "strategic-merge-patch" if strategic else "merge-patch"
        return await self.request("PATCH", path, body=body, content_type=f"application/{kind}+json")

    async def delete(self, path: str, body: Body | None = None) -> Body:
        return await self.request("DELETE", path, body=body)

    async def read_text(self, path: str) -> str:
        async with self._session.get(self.server + path) as response:
            text = await response.text()
            if response.status >= 300:
                _raise_for(response.status, text)
            return text

    async def watch(
        self, path: str, *, resource_version: str, timeout_seconds: int = 60, **params: str
    ) -> AsyncIterator[Body]:
        """Yield watch events until the server closes the stream."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
            **params,
        }
        async with self._session.get(
            self.server + path,
            params=query,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds + 30, sock_read=None),
        ) as response:
            if response.status >= 300:
                _raise_for(response.status, await response.text())
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)
