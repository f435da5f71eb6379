"""The Kubernetes API, as the few calls the operator makes — off the event loop.

The official client is synchronous, so every call runs in a small thread pool
(`Settings.api_workers`) and is awaited: a slow API server never blocks kopf's
loop. Bodies go in and come out as plain dicts (`_preload_content=False`), the
same shape the watch delivers. Errors are `apierrors`' tree (permanent vs
temporary); deletes treat NotFound as done, creates Conflict as "already
there".

Built by `handlers.startup` and passed down; never a module global.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kuberun.contract import spec
from kuberun_operator import apierrors
from kuberun_operator.apierrors import Conflict, KubeError, NotFound

__all__ = ["Conflict", "Kube", "KubeError", "NotFound", "load_api_client"]

MERGE_PATCH = "application/merge-patch+json"


def _error(exc: ApiException) -> KubeError:
    status = int(exc.status or 0)
    reason = str(exc.reason or "")
    body = getattr(exc, "body", None)
    if body:
        with contextlib.suppress(ValueError, AttributeError):
            reason = json.loads(body).get("message", reason)
    return apierrors.from_status(status, reason)


def load_api_client(workers: int) -> client.ApiClient:
    """A client from $KUBECONFIG / ~/.kube/config, else the in-cluster service account."""
    configuration = client.Configuration()
    loader: Any = config  # the loaders are untyped
    try:
        loader.load_kube_config(client_configuration=configuration)
    except config.ConfigException:
        loader.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = workers
    return client.ApiClient(configuration)


class Kube:
    """The operator's API calls (a `protocols.KubeAPI`), each awaited on a worker thread."""

    def __init__(
        self,
        api: client.ApiClient,
        workers: int,
        on_error: Callable[[int], None] | None = None,
    ) -> None:
        self._api = api
        self._on_error = on_error  # counts failed calls by status (metrics); None for tests
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube-api")
        # Typed as Any: the generated methods are wrapped by a validator mypy cannot see through.
        self.core: Any = client.CoreV1Api(api)
        self.batch: Any = client.BatchV1Api(api)
        self.custom: Any = client.CustomObjectsApi(api)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        api: Any = self._api
        api.close()

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("_preload_content", False)
        kwargs.setdefault("_request_timeout", 30)
        loop = asyncio.get_running_loop()

        def run() -> Any:
            try:
                response = fn(*args, **kwargs)
            except ApiException as exc:
                error = _error(exc)
                if self._on_error is not None:
                    self._on_error(error.status)
                raise error from None
            except OSError:
                if self._on_error is not None:
                    self._on_error(0)
                raise
            data = response.data
            return json.loads(data) if data else None

        return await loop.run_in_executor(self._pool, functools.partial(run))

    async def create(self, body: dict[str, Any]) -> bool:
        """Create a Secret, Job, ServiceAccount or Event; False when it already exists."""
        namespace = body["metadata"]["namespace"]
        fn = {
            "Secret": self.core.create_namespaced_secret,
            "Job": self.batch.create_namespaced_job,
            "ServiceAccount": self.core.create_namespaced_service_account,
            "Event": self.core.create_namespaced_event,
        }[body["kind"]]
        try:
            await self._call(fn, namespace, body)
        except Conflict:
            return False
        return True

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            secret: dict[str, Any] = await self._call(
                self.core.read_namespaced_secret, name, namespace
            )
        except NotFound:
            return None
        return secret

    async def read_namespace(self, name: str) -> dict[str, Any] | None:
        """A Namespace object (its labels bind the organization: see `tenancy`)."""
        try:
            found: dict[str, Any] = await self._call(self.core.read_namespace, name)
        except NotFound:
            return None
        return found

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            job: dict[str, Any] = await self._call(self.batch.read_namespaced_job, name, namespace)
        except NotFound:
            return None
        return job

    async def missing(self, kind: str, namespace: str, name: str) -> str | None:
        """The API server's 404 message when a ServiceAccount or ConfigMap does not exist,
        None when it does (see `references`); other errors are raised."""
        fn = {
            "ServiceAccount": self.core.read_namespaced_service_account,
            "ConfigMap": self.core.read_namespaced_config_map,
        }[kind]
        try:
            await self._call(fn, name, namespace)
        except NotFound as exc:
            return exc.reason
        return None

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        listed = await self._call(self.core.list_namespaced_pod, namespace, label_selector=selector)
        return list(listed.get("items", []))

    async def list_all(
        self, kind: str, selector: str | None = None, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Every Job, Pod or Execution (with a label selector), cluster-wide or in a namespace."""
        call: Callable[..., Any]
        args: tuple[Any, ...]
        if kind == "Execution":
            if namespace is None:
                call = self.custom.list_cluster_custom_object
                args = (spec.GROUP, spec.VERSION, spec.PLURAL)
            else:
                call = self.custom.list_namespaced_custom_object
                args = (spec.GROUP, spec.VERSION, namespace, spec.PLURAL)
            listed = await self._call(call, *args)
        elif kind == "Job":
            if namespace is None:
                listed = await self._call(
                    self.batch.list_job_for_all_namespaces, label_selector=selector
                )
            else:
                listed = await self._call(
                    self.batch.list_namespaced_job, namespace, label_selector=selector
                )
        elif namespace is None:
            listed = await self._call(
                self.core.list_pod_for_all_namespaces, label_selector=selector
            )
        else:
            listed = await self._call(
                self.core.list_namespaced_pod, namespace, label_selector=selector
            )
        return list(listed.get("items", []))

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch the Execution's status subresource (null removes a field)."""
        await self._call(
            self.custom.patch_namespaced_custom_object_status,
            spec.GROUP,
            spec.VERSION,
            namespace,
            spec.PLURAL,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,
        )

    async def set_pod_deadline(self, namespace: str, name: str, seconds: int) -> None:
        """Set the pod's activeDeadlineSeconds (a pod already gone needs none)."""
        with contextlib.suppress(NotFound):
            await self._call(
                self.core.patch_namespaced_pod,
                name,
                namespace,
                {"spec": {"activeDeadlineSeconds": seconds}},
            )

    async def delete_pod(self, namespace: str, name: str, grace_seconds: int) -> None:
        with contextlib.suppress(NotFound):
            await self._call(
                self.core.delete_namespaced_pod,
                name,
                namespace,
                grace_period_seconds=grace_seconds,
            )

    async def delete_job(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self._call(
                self.batch.delete_namespaced_job,
                name,
                namespace,
                propagation_policy="Background",
            )
