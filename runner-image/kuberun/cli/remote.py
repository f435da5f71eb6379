"""The cluster commands: submit, get, list, logs, wait, cancel, retry, delete, cache invalidate.

Each talks to the API server through `kube.Kube` (the user's kubeconfig) and,
for logs, to the log API (`logapi`, with the user's token) or — when no API
is configured — straight to Redis (`redislogs`). Waiting uses a watch on the
one Execution (`metadata.name` field selector), re-listed when the server
closes it, never a poll. Outcomes map to exit codes through
`kuberun.contract.exitcodes`; failures raise `errors.CliError`, printed once by `main`.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from kuberun.cli import (
    entrypoints,
    errors,
    kube,
    logapi,
    parameters,
    redislogs,
    rendering,
    sources,
    tables,
    terminal,
)
from kuberun.contract import exitcodes, keys, logrecord, spec
from kuberun.contract.exitcodes import CommandExit

SUBMITTED_BY_LABEL = "kuberun.dev/submitted-by"
RETRY_OF_ANNOTATION = "kuberun.dev/retry-of"
# Fields of a copied spec that belong to the old run, not to its retry.
_NOT_RETRIED = ("cancel",)


class Output:
    """Where and how lines go: stdout, colour and the spinner decided once per command."""

    def __init__(self, args: argparse.Namespace) -> None:
        choice = getattr(args, "color", "auto")
        self.colour = terminal.wants_colour(sys.stdout, choice)
        self.spinner = terminal.Spinner(terminal.wants_colour(sys.stderr, choice))

    def line(self, text: str) -> None:
        self.spinner.clear()
        print(text, flush=True)

    def note(self, text: str) -> None:
        self.spinner.clear()
        print(text, file=sys.stderr, flush=True)


def connect(args: argparse.Namespace) -> kube.Kube:
    return kube.Kube.connect(args.kubeconfig, args.context, args.namespace)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def phase_of(obj: dict[str, Any]) -> str | None:
    status = obj.get("status")
    return status.get("phase") if isinstance(status, dict) else None


def reason_of(obj: dict[str, Any]) -> str | None:
    status = obj.get("status")
    return status.get("reason") if isinstance(status, dict) else None


# --- building an Execution ------------------------------------------------------------


def build_execution(
    args: argparse.Namespace, prepared: sources.Prepared, params: dict[str, Any]
) -> dict[str, Any]:
    """The Execution manifest `submit` creates (validated by the contract's model). Pure."""
    body: dict[str, Any] = {"source": prepared.source}
    if prepared.entrypoint:
        body["entrypoint"] = prepared.entrypoint
    if params:
        body["parameters"] = params
    if args.timeout is not None:
        body["timeoutSeconds"] = args.timeout
    try:
        checked = spec.ExecutionSpec.model_validate({**body, "source": _checkable(prepared.source)})
    except ValueError as exc:
        raise errors.UsageError(f"the Execution would be invalid: {exc}") from None
    del checked
    metadata: dict[str, Any] = {"labels": {SUBMITTED_BY_LABEL: "kuberun-cli"}}
    if args.name:
        metadata["name"] = args.name
    else:
        metadata["generateName"] = args.generate_name or _generate_name(args.path)
    return {"apiVersion": spec.API_VERSION, "kind": spec.KIND, "metadata": metadata, "spec": body}


def _checkable(source: dict[str, Any]) -> dict[str, Any]:
    """The source as the model checks it (the ConfigMap name is filled in at creation)."""
    if "configMap" in source and not source["configMap"].get("name"):
        return {"configMap": {**source["configMap"], "name": "pending"}}
    return source


def _generate_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(os.path.abspath(path)))[0].lower()
    cleaned = "".join(c if c.isalnum() else "-" for c in stem).strip("-")[:40] or "run"
    return f"{cleaned}-"


def config_map_manifest(name: str, files: dict[str, str], owner: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": {SUBMITTED_BY_LABEL: "kuberun-cli"}}
    if name.endswith("-"):
        metadata["generateName"] = name
    else:
        metadata["name"] = name
    if owner:
        metadata["annotations"] = {"kuberun.dev/source-of": owner}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": files}


def owner_reference(execution: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap goes when its Execution is deleted (garbage collection)."""
    meta = execution["metadata"]
    return {
        "apiVersion": spec.API_VERSION,
        "kind": spec.KIND,
        "name": meta["name"],
        "uid": meta["uid"],
    }


def report_unread(prepared: sources.Prepared, params: dict[str, Any], out: Output) -> None:
    unread = entrypoints.unread(prepared.trees, prepared.entry, params)
    if unread and prepared.trees:
        out.note(
            "kuberun: warning: "
            + entrypoints.describe_unread(unread, prepared.entry, prepared.entry_file or "the code")
        )


# --- submit ------------------------------------------------------------------------


def submit_command(args: argparse.Namespace) -> int:
    out = Output(args)
    try:
        params = parameters.collect(args.param, args.params_file)
    except parameters.ParameterError as exc:
        raise errors.UsageError(str(exc)) from None
    if args.timeout is not None and args.timeout <= 0:
        raise errors.UsageError("--timeout must be a positive number of seconds")
    prepared = sources.prepare(args.path, args.entrypoint)
    report_unread(prepared, params, out)
    manifest = build_execution(args, prepared, params)
    client = connect(args)
    config_map_name = None
    if prepared.needs_config_map:
        base = args.name + "-source" if args.name else manifest["metadata"]["generateName"] + "src-"
        created_map = client.create_config_map(config_map_manifest(base, prepared.files, None))
        config_map_name = created_map["metadata"]["name"]
        manifest["spec"]["source"]["configMap"]["name"] = config_map_name
    try:
        created = client.create_execution(manifest)
    except errors.CliError:
        if config_map_name:
            client.delete_config_map(config_map_name)
        raise
    name = created["metadata"]["name"]
    if config_map_name:
        client.patch_config_map(
            config_map_name, {"metadata": {"ownerReferences": [owner_reference(created)]}}
        )
    if not args.watch:
        out.line(f"{spec.SINGULAR}.{spec.GROUP}/{name} created")
        return 0
    out.note(f"{spec.SINGULAR}.{spec.GROUP}/{name} created; following it (Ctrl-C stops following)")
    return follow_to_end(args, client, name, out)


# --- following -------------------------------------------------------------------------


class PhaseWatch:
    """A background watch of one Execution: `finished()` turns true once it is terminal."""

    def __init__(self, client: kube.Kube, name: str, on_phase: Callable[[str], None]) -> None:
        self.client, self.name, self.on_phase = client, name, on_phase
        self.last: dict[str, Any] | None = None
        self.error: errors.CliError | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="phase-watch", daemon=True)

    def start(self) -> PhaseWatch:
        self._thread.start()
        return self

    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None) -> bool:
        return self._done.wait(timeout)

    def _run(self) -> None:
        try:
            self.last = wait_terminal(self.client, self.name, None, self.on_phase)
        except errors.CliError as exc:
            self.error = exc
        finally:
            self._done.set()


def wait_terminal(
    client: kube.Kube,
    name: str,
    timeout: float | None,
    on_phase: Callable[[str], None] = lambda _: None,
) -> dict[str, Any] | None:
    """The Execution once terminal (watched, not polled); None when `timeout` passes first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: str | None = None
    while True:
        obj = client.get_execution(name)
        phase = phase_of(obj) or "PENDING"
        if phase != seen:
            seen = phase
            on_phase(phase)
        if redislogs.terminal(phase):
            return obj
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return None
        window = 300 if remaining is None else min(300, max(1, int(remaining + 0.999)))
        version = obj.get("metadata", {}).get("resourceVersion")
        for kind, event in client.watch_executions(name, version, window):
            if kind == "DELETED":
                raise errors.NotFound(
                    f"execution {client.namespace}/{name} was deleted before it finished"
                )
            phase = phase_of(event) or "PENDING"
            if phase != seen:
                seen = phase
                on_phase(phase)
            if redislogs.terminal(phase):
                return event
            if deadline is not None and time.monotonic() >= deadline:
                return None


def api_url(args: argparse.Namespace) -> str | None:
    return getattr(args, "api", None) or os.environ.get(logapi.API_URL_ENV) or None


def redis_url(args: argparse.Namespace) -> str | None:
    from kuberun.contract import request

    return getattr(args, "redis", None) or os.environ.get(request.REDIS_URL_ENV) or None


def record_from_api(data: dict[str, Any]) -> logrecord.LogRecord:
    fields = {k: v for k, v in data.items() if k != "id"}
    try:
        return logrecord.LogRecord.model_validate(fields)
    except ValueError:
        return logrecord.LogRecord.model_construct(**fields)


class Printer:
    """Shows records in text (coloured by level) or JSON lines; remembers what it showed."""

    def __init__(self, out: Output, as_json: bool) -> None:
        self.out, self.as_json, self.count = out, as_json, 0
        self.errors_shown: set[str] = set()

    def __call__(self, entry_id: str | None, record: logrecord.LogRecord) -> None:
        self.count += 1
        if record.level in ("ERROR", "CRITICAL"):
            self.errors_shown.add(record.message.strip())
        if self.as_json:
            data = json.loads(rendering.record_json(record))
            if entry_id:
                data = {"id": entry_id, **data}
            self.out.line(json.dumps(data, ensure_ascii=False))
            return
        text = rendering.record_text(record)
        colour = terminal.LEVEL_COLOURS.get(record.level)
        self.out.line(terminal.paint(text, colour, self.out.colour) if colour else text)


def stream_logs(
    args: argparse.Namespace,
    client: kube.Kube | None,
    obj: dict[str, Any],
    printer: Printer,
    *,
    follow: bool,
    after: str | None,
    finished: Callable[[], bool],
) -> None:
    """One Execution's logs, through the API when configured, else from Redis."""
    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
    url = api_url(args)
    if url:
        api = logapi.LogApi(url, client.bearer_token() if client is not None else None)
        filters = {}
        if getattr(args, "attempt", None):
            filters["attempt"] = str(args.attempt)
        api.read(
            namespace,
            name,
            lambda data: printer(str(data.get("id") or ""), record_from_api(data)),
            follow=follow,
            after=after,
            filters=filters,
        )
        return
    target = redis_url(args)
    if not target:
        raise errors.UsageError(
            "no log source: neither the log API nor Redis is configured",
            "pass --api URL (or set KUBERUN_API_URL); or --redis URL (KUBERUN_REDIS_URL)",
        )
    uid = obj["metadata"]["uid"]
    try:
        connection = redis.Redis.from_url(target, socket_connect_timeout=5)
        redislogs.show_stream(
            connection,
            keys.logs_stream(namespace, uid),
            printer,
            keep_following=follow,
            finished=finished,
            after=after or "0-0",
        )
    except redis.RedisError as exc:
        raise errors.RequestFailed(
            f"cannot read the logs from Redis: {exc}",
            "check --redis / KUBERUN_REDIS_URL, or read them through the API with --api URL",
        ) from None
    except ValueError as exc:  # a malformed URL
        raise errors.UsageError(f"--redis {target!r}: {exc}") from None


def follow_to_end(args: argparse.Namespace, client: kube.Kube, name: str, out: Output) -> int:
    """Logs live until the Execution is terminal, then its outcome; the outcome's exit code."""
    printer = Printer(out, getattr(args, "output", "text") == "json")
    has_logs = bool(api_url(args) or redis_url(args))
    if not has_logs:
        out.note(
            "kuberun: no log source (--api URL / KUBERUN_API_URL, or --redis URL):"
            " showing its phases only"
        )

    def on_phase(phase: str) -> None:
        out.spinner.update(f"{name}: {phase}")
        if not has_logs:
            out.note(f"{name}: {terminal.phase(phase, out.colour)}")

    watch = PhaseWatch(client, name, on_phase).start()
    out.spinner.start(f"{name}: PENDING")
    try:
        if has_logs:
            obj = client.get_execution(name)
            stream_logs(
                args, client, obj, printer, follow=True, after=None, finished=watch.finished
            )
        while not watch.wait(0.5):  # a timed wait, so Ctrl-C is seen at once
            pass
    except KeyboardInterrupt:
        out.spinner.stop()
        out.note(
            f"kuberun: stopped following; {name} keeps running"
            f" (kuberun cancel {name} -n {client.namespace} stops it)"
        )
        return int(CommandExit.INTERRUPTED)
    finally:
        out.spinner.stop()
    if watch.error is not None:
        raise watch.error
    final = watch.last or client.get_execution(name)
    out.note(summary(final, printer.errors_shown, out.colour))
    return exitcodes.for_phase(phase_of(final), reason_of(final))


def summary(obj: dict[str, Any], errors_shown: Iterable[str], colour: bool) -> str:
    """The closing lines: phase, reason, duration; the error unless the logs showed it. Pure."""
    status = obj.get("status") or {}
    phase = str(status.get("phase") or "?")
    parts = [f"── {obj['metadata']['name']}: {terminal.phase(phase, colour)}"]
    if status.get("reason"):
        parts[0] += f" ({status['reason']})"
    if status.get("duration"):
        parts[0] += f" in {status['duration']}"
    if status.get("attempt"):
        parts[0] += f" · attempt {status['attempt']}"
    error = status.get("error")
    shown = {text.strip() for text in errors_shown}
    if isinstance(error, dict):
        text = f"{error.get('type')}: {error.get('message')}"
        if text.strip() not in shown:
            parts.append(f"error: {text}")
    elif status.get("message") and phase not in ("SUCCESS",):
        parts.append(f"message: {status['message']}")
    if status.get("result") is not None:
        parts.append("result: " + json.dumps(status["result"], ensure_ascii=False))
    return "\n".join(parts)


# --- get / list --------------------------------------------------------------------------


def get_command(args: argparse.Namespace) -> int:
    out = Output(args)
    client = connect(args)
    obj = client.get_execution(args.name)
    if args.output in ("table", None):
        out.line(tables.describe(obj, out.colour))
    else:
        out.line(tables.render([obj], args.output, now(), single=True, colour=out.colour))
    return 0


def list_command(args: argparse.Namespace) -> int:
    out = Output(args)
    client = connect(args)
    listed = client.list_executions(args.selector)
    items = sorted(
        listed.get("items", []), key=lambda o: o.get("metadata", {}).get("creationTimestamp", "")
    )
    if args.watch and args.output == "json":
        for item in items:  # one stream of JSON lines: what is there, then every change
            out.line(json.dumps({"type": "ADDED", "object": item}, ensure_ascii=False))
    elif items or args.output in ("json", "yaml"):
        out.line(tables.render(items, args.output, now(), colour=out.colour))
    elif not args.watch:
        out.note(f"No executions in namespace {client.namespace}.")
    if not args.watch:
        return 0
    version = listed.get("metadata", {}).get("resourceVersion")
    try:
        while True:
            for kind, obj in client.watch_executions(None, version, 300):
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if args.output == "json":
                    out.line(json.dumps({"type": kind, "object": obj}, ensure_ascii=False))
                elif args.output == "yaml":
                    out.line("---\n" + tables.to_yaml({"type": kind, "object": obj}))
                elif args.output == "name":
                    out.line(tables.render([obj], "name", now()))
                else:
                    text = tables.render([obj], args.output, now(), colour=out.colour, header=False)
                    out.line(text + ("   (deleted)" if kind == "DELETED" else ""))
            # The server ended the watch (timeout or a too-old version): re-list from now.
            version = (
                client.list_executions(args.selector).get("metadata", {}).get("resourceVersion")
            )
    except KeyboardInterrupt:
        return 0


# --- logs ------------------------------------------------------------------------------


def logs_command(args: argparse.Namespace) -> int:
    out = Output(args)
    after = logapi.since_cursor(args.since_seq)
    printer = Printer(out, args.output == "json")
    if args.uid:
        if not args.namespace:
            raise errors.UsageError("--uid needs -n NAMESPACE", "or drop --uid to look it up")
        if api_url(args):
            raise errors.UsageError("--uid reads Redis directly; it cannot be used with --api")
        obj = {"metadata": {"name": args.name, "namespace": args.namespace, "uid": args.uid}}
        if not redis_url(args):
            raise errors.UsageError(
                "--uid reads the logs from Redis", "pass --redis URL or set KUBERUN_REDIS_URL"
            )
        try:  # with -f, until Ctrl-C: without the API server nothing says when it ends
            stream_logs(
                args, None, obj, printer, follow=args.follow, after=after, finished=lambda: False
            )
        except KeyboardInterrupt:
            return 0
    else:
        if not (api_url(args) or redis_url(args)):
            raise errors.UsageError(
                "no log source: neither the log API nor Redis is configured",
                "pass --api URL (or set KUBERUN_API_URL); or --redis URL (KUBERUN_REDIS_URL)",
            )
        client = connect(args)
        obj = client.get_execution(args.name)
        watch: PhaseWatch | None = None
        finished: Callable[[], bool] = lambda: True  # noqa: E731
        if args.follow and not api_url(args):
            watch = PhaseWatch(client, args.name, lambda _: None).start()
            finished = watch.finished
        try:
            stream_logs(
                args, client, obj, printer, follow=args.follow, after=after, finished=finished
            )
        except KeyboardInterrupt:
            return int(CommandExit.INTERRUPTED)
        if watch is not None and watch.error is not None:
            raise watch.error
    if printer.count == 0 and not args.follow:
        out.note(
            f"kuberun: no log records for {args.namespace or 'its namespace'}/{args.name} (yet)"
        )
    return 0


# --- wait / cancel / retry / delete ---------------------------------------------------------


def wait_command(args: argparse.Namespace) -> int:
    out = Output(args)
    client = connect(args)
    out.spinner.start(f"{args.name}: waiting")
    try:
        obj = wait_terminal(
            client, args.name, args.timeout, lambda p: out.spinner.update(f"{args.name}: {p}")
        )
    finally:
        out.spinner.stop()
    if obj is None:
        raise errors.CliError(
            f"timed out after {args.timeout:g} s waiting for {client.namespace}/{args.name}"
            " to finish",
            "wait longer with --timeout SECONDS; `kuberun get NAME` shows where it is",
            code=int(CommandExit.WAIT_TIMEOUT),
        )
    phase = phase_of(obj)
    out.line(f"{spec.SINGULAR}.{spec.GROUP}/{args.name} {terminal.phase(str(phase), out.colour)}")
    return exitcodes.for_phase(phase, reason_of(obj)) if args.exit_code else 0


def cancel_command(args: argparse.Namespace) -> int:
    out = Output(args)
    client = connect(args)
    obj = client.get_execution(args.name)
    if redislogs.terminal(phase_of(obj)):
        out.note(f"kuberun: {args.name} already finished ({phase_of(obj)}); nothing to cancel")
        return 0
    client.patch_execution(args.name, {"spec": {"cancel": True}})
    out.line(f"{spec.SINGULAR}.{spec.GROUP}/{args.name} cancel requested")
    if args.wait:
        final = wait_terminal(client, args.name, args.timeout)
        if final is None:
            raise errors.CliError(
                f"{args.name} did not finish within {args.timeout:g} s of the cancel",
                code=int(CommandExit.WAIT_TIMEOUT),
            )
        out.line(f"{spec.SINGULAR}.{spec.GROUP}/{args.name} {phase_of(final)}")
    return 0


def retry_manifest(old: dict[str, Any], name: str | None) -> dict[str, Any]:
    """A new Execution with the old one's spec (never its cancel flag). Pure."""
    meta = old.get("metadata", {})
    body = copy.deepcopy(old.get("spec") or {})
    for key in _NOT_RETRIED:
        body.pop(key, None)
    labels = {k: v for k, v in (meta.get("labels") or {}).items()}
    metadata: dict[str, Any] = {
        "labels": labels,
        "annotations": {RETRY_OF_ANNOTATION: str(meta.get("name", ""))},
    }
    if name:
        metadata["name"] = name
    else:
        base = str(meta.get("generateName") or meta.get("name", "run"))
        base = base.rstrip("-")
        if "-retry-" in base:
            base = base.rsplit("-retry-", 1)[0]
        metadata["generateName"] = f"{base[:45]}-retry-"
    return {"apiVersion": spec.API_VERSION, "kind": spec.KIND, "metadata": metadata, "spec": body}


def retry_command(args: argparse.Namespace) -> int:
    out = Output(args)
    client = connect(args)
    old = client.get_execution(args.name)
    created = client.create_execution(retry_manifest(old, args.new_name))
    name = created["metadata"]["name"]
    if not args.watch:
        out.line(f"{spec.SINGULAR}.{spec.GROUP}/{name} created (a retry of {args.name})")
        return 0
    out.note(f"{spec.SINGULAR}.{spec.GROUP}/{name} created (a retry of {args.name}); following it")
    return follow_to_end(args, client, name, out)


def delete_command(args: argparse.Namespace) -> int:
    out = Output(args)
    client = connect(args)
    for name in args.names:
        client.delete_execution(name)
        out.line(f"{spec.SINGULAR}.{spec.GROUP}/{name} deleted")
    return 0


# --- cache ----------------------------------------------------------------------------------


def cache_invalidate_command(args: argparse.Namespace) -> int:
    """Delete one data provider's cached options (its name and parameters make the key)."""
    out = Output(args)
    try:
        params = parameters.collect(args.param, args.params_file)
    except parameters.ParameterError as exc:
        raise errors.UsageError(str(exc)) from None
    target = redis_url(args)
    if not target:
        raise errors.UsageError(
            "the cache lives in Redis: pass --redis URL or set KUBERUN_REDIS_URL"
        )
    namespace = args.namespace
    if not namespace and not args.org:
        namespace = connect(args).namespace
    scope = keys.cache_scope(args.org, namespace or "")
    key = keys.cache_entry(scope, args.provider, params)
    try:
        deleted = redis.Redis.from_url(target, socket_connect_timeout=5).delete(key)
    except redis.RedisError as exc:
        raise errors.RequestFailed(f"cannot reach Redis to invalidate the cache: {exc}") from None
    except ValueError as exc:
        raise errors.UsageError(f"--redis {target!r}: {exc}") from None
    if not deleted:
        raise errors.NotFound(
            f"no cached entry for data provider {args.provider!r} with these parameters"
            f" (scope {scope})",
            "the parameters must be exactly those of the cached call (-p KEY=VALUE, KEY:=JSON)",
        )
    out.line(f"cache entry of {args.provider} ({scope}) invalidated")
    return 0
