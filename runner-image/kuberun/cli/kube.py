"""The Kubernetes API as the few calls the cluster commands make, with the user's kubeconfig.

Why the official `kubernetes` client (the `kuberun[cli]` extra) and not kubectl:
it reads every kubeconfig form kubectl reads (certificates, tokens, tokenFile,
exec plugins such as cloud logins), it watches (one long GET with
`watch=true` instead of asking every second), and failures arrive as one
status with the server's message instead of kubectl's stderr (which repeats a
connection error once per discovery attempt). The operator already depends on
it, so it adds nothing new to the project. It is imported only when a cluster
command runs, so `kuberun run` and the runner image never need it.

Bodies go in and come out as plain dicts. Every API failure becomes a
`kuberun.cli.errors.CliError` here, where it enters, with the server's message.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kuberun.cli import errors
from kuberun.contract import spec

INSTALL_HINT = "install the cluster commands with: pip install 'kuberun[cli]'"


def _modules() -> Any:
    try:
        import kubernetes
    except ImportError:
        raise errors.UsageError(
            "the cluster commands need the Kubernetes client, which is not installed",
            INSTALL_HINT,
        ) from None
    return kubernetes


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    reason = str(getattr(exc, "reason", "") or "")
    if body:
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            message = json.loads(body).get("message")
            if message:
                return str(message)
    return reason or str(exc)


def translate(exc: BaseException, what: str) -> errors.CliError:
    """One `CliError` for a failed call: the status, the server's words, what to do."""
    status = int(getattr(exc, "status", 0) or 0)
    if status == 0:
        return errors.RequestFailed(
            f"cannot reach the Kubernetes API server ({what}): {exc}",
            "check the current kubeconfig context (kubectl config current-context) and"
            " that the cluster is up",
        )
    message = _server_message(exc)
    if status == 404:
        return errors.NotFound(
            f"{what}: {message}", "list the namespace's executions with: kuberun list"
        )
    if status in (401, 403):
        return errors.RequestFailed(
            f"{what}: {message}",
            "your kubeconfig identity lacks access; ask for the kuberun roles in this namespace",
        )
    if status == 422 or status == 400:
        return errors.UsageError(f"{what}: the API server rejected it: {message}")
    if status == 409:
        return errors.RequestFailed(
            f"{what}: {message}", "pick another --name, or use --generate-name"
        )
    return errors.RequestFailed(f"{what}: {status} {message}")


@dataclass
class Kube:
    """An API client and the namespace the commands act in."""

    api: Any
    namespace: str

    @classmethod
    def connect(
        cls, kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None
    ) -> Kube:
        """From `--kubeconfig`/$KUBECONFIG/~/.kube/config; the namespace from -n or the context."""
        k8s = _modules()
        loader: Any = k8s.config
        configuration = k8s.client.Configuration()
        try:
            loader.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
            contexts, current = loader.list_kube_config_contexts(config_file=kubeconfig)
        except (loader.ConfigException, OSError, ValueError, TypeError) as exc:
            raise errors.UsageError(
                f"cannot load the kubeconfig: {exc}",
                "set KUBECONFIG or pass --kubeconfig FILE (the file kubectl uses)",
            ) from None
        if context:
            current = next((c for c in contexts if c.get("name") == context), current)
        default_namespace = (current or {}).get("context", {}).get("namespace") or "default"
        return cls(k8s.client.ApiClient(configuration), namespace or default_namespace)

    # --- who am I --------------------------------------------------------------

    def bearer_token(self) -> str | None:
        """The kubeconfig's token (token, tokenFile or an exec plugin's), for the log API."""
        configuration = self.api.configuration
        hook = getattr(configuration, "refresh_api_key_hook", None)
        if hook is not None:
            with contextlib.suppress(Exception):
                hook(configuration)
        value = (configuration.api_key or {}).get("authorization") or (
            configuration.api_key or {}
        ).get("BearerToken")
        if not value:
            return None
        text = str(value)
        return text.split(" ", 1)[1] if text.lower().startswith("bearer ") else text

    # --- Executions --------------------------------------------------------------

    def _custom(self) -> Any:
        return _modules().client.CustomObjectsApi(self.api)

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        k8s = _modules()
        try:
            return func(*args, **kwargs)
        except k8s.client.exceptions.ApiException as exc:
            raise translate(exc, what) from None
        except (OSError, k8s.config.ConfigException) as exc:
            raise translate(exc, what) from None
        except Exception as exc:  # urllib3's errors (MaxRetryError, ...) have no common base here
            if type(exc).__module__.startswith("urllib3"):
                raise translate(exc, what) from None
            raise

    def _coords(self) -> tuple[str, str, str, str]:
        return spec.GROUP, spec.VERSION, self.namespace, spec.PLURAL

    def create_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("metadata", {}).get("name") or "(generated name)"
        custom = self._custom()
        created: dict[str, Any] = self._call(
            f"create execution {name}",
            custom.create_namespaced_custom_object,
            *self._coords(),
            body,
        )
        return created

    def get_execution(self, name: str) -> dict[str, Any]:
        custom = self._custom()
        found: dict[str, Any] = self._call(
            f"execution {self.namespace}/{name}",
            custom.get_namespaced_custom_object,
            *self._coords(),
            name,
        )
        return found

    def list_executions(self, label_selector: str | None = None) -> dict[str, Any]:
        custom = self._custom()
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        listed: dict[str, Any] = self._call(
            f"list executions in {self.namespace}",
            custom.list_namespaced_custom_object,
            *self._coords(),
            **kwargs,
        )
        return listed

    def patch_execution(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        custom = self._custom()
        patched: dict[str, Any] = self._call(
            f"update execution {self.namespace}/{name}",
            custom.patch_namespaced_custom_object,
            *self._coords(),
            name,
            patch,
        )
        return patched

    def delete_execution(self, name: str) -> None:
        custom = self._custom()
        self._call(
            f"delete execution {self.namespace}/{name}",
            custom.delete_namespaced_custom_object,
            *self._coords(),
            name,
        )

    def watch_executions(
        self,
        name: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event type, object) from one watch; ends when the server closes it (or the timeout).

        Callers re-list and re-watch on an end: a watch is a stream, never a guarantee.
        """
        k8s = _modules()
        custom = self._custom()
        kwargs: dict[str, Any] = {"allow_watch_bookmarks": False}
        if name is not None:
            kwargs["field_selector"] = f"metadata.name={name}"
        if resource_version:
            kwargs["resource_version"] = resource_version
        if timeout_seconds is not None:
            kwargs["timeout_seconds"] = max(1, int(timeout_seconds))
        watcher = k8s.watch.Watch()
        try:
            for event in watcher.stream(
                custom.list_namespaced_custom_object, *self._coords(), **kwargs
            ):
                kind = str(event.get("type"))
                obj = event.get("object")
                if kind == "ERROR":
                    status = obj if isinstance(obj, dict) else {}
                    if int(status.get("code") or 0) == 410:  # resourceVersion too old: re-list
                        return
                    raise errors.RequestFailed(
                        f"watching executions: {status.get('message') or status}"
                    )
                if isinstance(obj, dict):
                    yield kind, obj
        except k8s.client.exceptions.ApiException as exc:
            if int(exc.status or 0) == 410:  # the version expired: the caller re-lists
                return
            raise translate(exc, "watch executions") from None
        except Exception as exc:
            if type(exc).__module__.startswith("urllib3"):
                raise translate(exc, "watch executions") from None
            raise
        finally:
            watcher.stop()

    # --- ConfigMaps (sources too large to inline) -------------------------------------

    def create_config_map(self, body: dict[str, Any]) -> dict[str, Any]:
        core = _modules().client.CoreV1Api(self.api)
        name = body.get("metadata", {}).get("name", "?")
        response = self._call(
            f"create configmap {name}",
            core.create_namespaced_config_map,
            self.namespace,
            body,
            _preload_content=False,
        )
        created: dict[str, Any] = json.loads(response.data)
        return created

    def patch_config_map(self, name: str, patch: dict[str, Any]) -> None:
        core = _modules().client.CoreV1Api(self.api)
        self._call(
            f"update configmap {name}",
            core.patch_namespaced_config_map,
            name,
            self.namespace,
            patch,
            _preload_content=False,
        )

    def delete_config_map(self, name: str) -> None:
        core = _modules().client.CoreV1Api(self.api)
        self._call(
            f"delete configmap {name}",
            core.delete_namespaced_config_map,
            name,
            self.namespace,
            _preload_content=False,
        )
