"""The API service's Kubernetes calls, as its own ServiceAccount.

The client is synchronous, so every call runs on a worker thread and never on
the event loop. `PhaseWatch` keeps one watch per namespace that has a log
follower, so followers learn that an Execution ended from a watch event, not
from polling the API server each second each.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from kuberun.contract import endpoint as endpoints
from kuberun.contract import spec as contract
from kuberun.contract.phases import TERMINAL_PHASE_VALUES

log = logging.getLogger(__name__)


class KubeFailed(Exception):
    """The API server could not be asked (answered with 502/503)."""


class NotServed(Exception):
    """The service's own account may not read Executions in that namespace (403): the
    chart's `watchNamespaces` limits the API to those namespaces."""


class Refused(Exception):
    """The API server refused a create the API made for a caller (its 4xx, passed on)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _not_served(namespace: str) -> NotServed:
    return NotServed(
        f"this kuberun API does not serve namespace {namespace} (its ServiceAccount may not"
        " read Executions there; see the chart's watchNamespaces)"
    )


class Kube:
    """Reads of Executions and the two review calls, each on a worker thread."""

    def __init__(self, api: client.ApiClient, workers: int) -> None:
        self._api = api
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube-api")
        self.custom: Any = client.CustomObjectsApi(api)
        self._authn: Any = client.AuthenticationV1Api(api)
        self._authz: Any = client.AuthorizationV1Api(api)
        self._core: Any = client.CoreV1Api(api)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        api: Any = self._api
        api.close()

    async def _call(self, fn: Any, *args: Any) -> Any:
        def run() -> Any:
            response = fn(*args, _preload_content=False, _request_timeout=15)
            return json.loads(response.data)

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def _get_object(
        self, namespace: str, plural: str, name: str, what: str
    ) -> dict[str, Any] | None:
        """One of our custom objects, or None when there is none (or its CRD is not installed)."""
        try:
            found: dict[str, Any] = await self._call(
                self.custom.get_namespaced_custom_object,
                contract.GROUP,
                contract.VERSION,
                namespace,
                plural,
                name,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status == 403:
                raise _not_served(namespace) from None
            raise KubeFailed(
                f"reading {what} {namespace}/{name}: {exc.status} {exc.reason}"
            ) from None
        return found

    async def get_execution(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get_object(namespace, contract.PLURAL, name, "execution")

    async def list_executions(self, namespace: str) -> list[dict[str, Any]]:
        try:
            listed = await self._call(
                self.custom.list_namespaced_custom_object,
                contract.GROUP,
                contract.VERSION,
                namespace,
                contract.PLURAL,
            )
        except ApiException as exc:
            if exc.status == 403:
                raise _not_served(namespace) from None
            raise KubeFailed(
                f"listing executions in {namespace}: {exc.status} {exc.reason}"
            ) from None
        return list(listed.get("items") or [])

    async def get_endpoint(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A WorkflowEndpoint, or None when there is none (or the CRD is not installed)."""
        return await self._get_object(namespace, endpoints.PLURAL, name, "endpoint")

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        """The namespace's labels ({} when it cannot be read: public calls fail closed)."""
        try:
            found = await self._call(self._core.read_namespace, namespace)
        except ApiException as exc:
            if exc.status in (403, 404):
                return {}
            raise KubeFailed(f"reading namespace {namespace}: {exc.status} {exc.reason}") from None
        return dict((found.get("metadata") or {}).get("labels") or {})

    async def endpoint_token(self, namespace: str, name: str) -> str | None:
        """Key `name` of the namespace's endpoint-token Secret, or None when there is none."""
        try:
            found = await self._call(
                self._core.read_namespaced_secret, endpoints.PUBLIC_TOKEN_SECRET, namespace
            )
        except ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise KubeFailed(f"reading the endpoint tokens: {exc.status} {exc.reason}") from None
        encoded = (found.get("data") or {}).get(name)
        if not encoded:
            return None
        try:
            return base64.b64decode(encoded).decode().strip() or None
        except (ValueError, UnicodeDecodeError):
            return None

    async def create_execution(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create an Execution as the API's ServiceAccount; a 4xx is `Refused`, with the
        API server's message (e.g. an admission policy's)."""
        try:
            created: dict[str, Any] = await self._call(
                self.custom.create_namespaced_custom_object,
                contract.GROUP,
                contract.VERSION,
                namespace,
                contract.PLURAL,
                body,
            )
        except ApiException as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                raise Refused(exc.status, _message_of(exc)) from None
            raise KubeFailed(f"creating an execution: {exc.status} {exc.reason}") from None
        return created

    async def token_review(self, body: dict[str, Any]) -> Mapping[str, Any]:
        try:
            created = await self._call(self._authn.create_token_review, body)
        except ApiException as exc:
            raise KubeFailed(f"TokenReview: {exc.status} {exc.reason}") from None
        return dict(created.get("status") or {})

    async def access_review(self, body: dict[str, Any]) -> Mapping[str, Any]:
        try:
            created = await self._call(self._authz.create_subject_access_review, body)
        except ApiException as exc:
            raise KubeFailed(f"SubjectAccessReview: {exc.status} {exc.reason}") from None
        return dict(created.get("status") or {})


def _message_of(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)


Phase = tuple[str | None, str | None]
_TERMINAL = TERMINAL_PHASE_VALUES


class PhaseWatch:
    """The latest phase and reason of each Execution (by uid) in the watched namespaces.

    One daemon thread per namespace, started by the first follower there and
    kept for the process's life (a namespace costs one watch connection). A
    watch that ends or fails is listed and watched again.
    """

    def __init__(self, kube: Kube) -> None:
        self._kube = kube
        self._phases: dict[str, Phase] = {}
        self._synced: set[str] = set()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Phase]]]] = {}

    def close(self) -> None:
        self._stop.set()

    async def wait_terminal(self, namespace: str, uid: str, wait_seconds: float) -> Phase | None:
        """The Execution's terminal phase (reason "Deleted" when it went away), or None
        when `wait_seconds` pass first. Woken by the namespace's watch, never by polling."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Phase] = loop.create_future()
        waiter = (loop, future)
        with self._lock:
            self._waiters.setdefault(uid, []).append(waiter)
        try:
            known = self.phase(namespace, uid)  # starts the watch; may already be over
            if known is not None and (known[0] in _TERMINAL or known[1] == "Deleted"):
                return known
            return await asyncio.wait_for(future, wait_seconds)
        except TimeoutError:
            return None
        finally:
            with self._lock:
                left = [w for w in self._waiters.get(uid, []) if w is not waiter]
                if left:
                    self._waiters[uid] = left
                else:
                    self._waiters.pop(uid, None)

    def phase(self, namespace: str, uid: str) -> Phase | None:
        """The watched phase, or None while the watch has not seen it (not synced yet, or
        its first event still on the way): then the caller asks the API server."""
        with self._lock:
            if namespace not in self._threads:
                thread = threading.Thread(
                    target=self._run, args=(namespace,), daemon=True, name=f"watch-{namespace}"
                )
                self._threads[namespace] = thread
                thread.start()
            if namespace not in self._synced:
                return None
            # Unknown uid: created after the list, its event not here yet; the caller GETs.
            return self._phases.get(uid)

    def _run(self, namespace: str) -> None:
        custom = self._kube.custom
        while not self._stop.is_set():
            try:
                listed = custom.list_namespaced_custom_object(
                    contract.GROUP, contract.VERSION, namespace, contract.PLURAL
                )
                with self._lock:
                    for item in listed.get("items") or []:
                        self._remember("ADDED", item)
                    self._synced.add(namespace)
                version = (listed.get("metadata") or {}).get("resourceVersion")
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    custom.list_namespaced_custom_object,
                    contract.GROUP,
                    contract.VERSION,
                    namespace,
                    contract.PLURAL,
                    resource_version=version,
                    timeout_seconds=300,
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    with self._lock:
                        self._remember(event["type"], event["object"])
            except Exception as exc:  # any failure: list and watch again
                log.warning("watch of executions in %s failed: %s", namespace, exc)
                with self._lock:
                    self._synced.discard(namespace)
                time.sleep(1.0)

    def _remember(self, kind: str, item: Mapping[str, Any]) -> None:
        uid = (item.get("metadata") or {}).get("uid")
        if not uid or kind == "ERROR":
            return
        if kind == "DELETED":
            previous = self._phases.get(uid)
            self._phases[uid] = (previous[0] if previous else None, "Deleted")
        else:
            current = item.get("status") or {}
            self._phases[uid] = (current.get("phase"), current.get("reason"))
        now = self._phases[uid]
        if uid in self._waiters and (now[0] in _TERMINAL or now[1] == "Deleted"):
            for loop, future in self._waiters.pop(uid):
                loop.call_soon_threadsafe(_settle, future, now)


def _settle(future: asyncio.Future[Phase], value: Phase) -> None:
    if not future.done():
        future.set_result(value)
