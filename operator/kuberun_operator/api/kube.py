"""The API service's Kubernetes calls, as its own ServiceAccount.

The client is synchronous, so every call runs on a worker thread and never on
the event loop. `PhaseWatch` keeps one watch per namespace that has a log
follower, so followers learn that an Execution ended from a watch event, not
from polling the API server each second each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from kuberun.contract import spec as contract

log = logging.getLogger(__name__)


class KubeFailed(Exception):
    """The API server could not be asked (answered with 502/503)."""


class NotServed(Exception):
    """The service's own account may not read Executions in that namespace (403): the
    chart's `watchNamespaces` limits the API to those namespaces."""


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

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        api: Any = self._api
        api.close()

    async def _call(self, fn: Any, *args: Any) -> Any:
        def run() -> Any:
            response = fn(*args, _preload_content=False, _request_timeout=15)
            return json.loads(response.data)

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def get_execution(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._call(
                self.custom.get_namespaced_custom_object,
                contract.GROUP,
                contract.VERSION,
                namespace,
                contract.PLURAL,
                name,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status == 403:
                raise _not_served(namespace) from None
            raise KubeFailed(
                f"reading execution {namespace}/{name}: {exc.status} {exc.reason}"
            ) from None
        return found

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


Phase = tuple[str | None, str | None]


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

    def close(self) -> None:
        self._stop.set()

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
            return
        current = item.get("status") or {}
        self._phases[uid] = (current.get("phase"), current.get("reason"))
