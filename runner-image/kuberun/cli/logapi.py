"""The client side of the log and result API (`kuberun-api`), for `kuberun logs` and
`kuberun submit --watch` when `--api URL` or `$KUBERUN_API_URL` is set: the user's own
Kubernetes token, no Redis credential.

Wire contract (docs/cli.md has it whole): `GET /api/v1/namespaces/{ns}/executions/{name}/logs`
with `Authorization: Bearer <token>`; following uses Server-Sent Events, each
record carrying its stream id (`id:`), an `event: end` with the final phase
when the Execution is terminal; a plain read uses JSON lines.

Resuming: the client remembers the last id it showed and, when the
connection drops (a restarted API pod, a proxy's idle cut), reconnects with
`Last-Event-ID: <that id>`, so nothing is shown twice or skipped; the server
answers 410 when the cursor is older than anything retained, which is an
error here, never a silent gap. Consecutive failures back off (0.2 s doubling
to 5 s) and give up after `MAX_RETRIES` without progress.

Plain `urllib` (the standard library): the stream is one long GET read line by
line, which needs no HTTP library; the CLI stays installable without one.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from kuberun.cli import errors

API_URL_ENV = "KUBERUN_API_URL"
# The server sends `: ping` every 15 s; three missed pings mean the connection is dead.
READ_TIMEOUT_SECONDS = 45.0
MAX_RETRIES = 8
_BACKOFF_START, _BACKOFF_MAX = 0.2, 5.0


@dataclass(frozen=True)
class End:
    """The stream's end: the Execution's final phase and reason."""

    phase: str | None
    reason: str | None


@dataclass(frozen=True)
class Event:
    """One parsed SSE event."""

    kind: str
    data: str
    id: str | None


def parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    """Server-Sent Events from text lines (without their newlines). Pure.

    Comments (`: ping`) are skipped; a blank line ends an event; multi-line
    `data:` fields are joined with newlines, as the SSE specification says.
    """
    kind: str = "message"
    event_id: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield Event(kind, "\n".join(data), event_id)
            kind, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
    if data:
        yield Event(kind, "\n".join(data), event_id)


def error_from(status: int, body: bytes, what: str) -> errors.CliError:
    """The contract's `{"error", "message"}` body as one `CliError` with what to do. Pure."""
    code, message = "", body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            code = str(parsed.get("error") or "")
            message = str(parsed.get("message") or message)
    except ValueError:
        pass
    text = f"{what}: {message or status}"
    if status == 401:
        return errors.RequestFailed(
            text, "the API needs your Kubernetes token: use a kubeconfig context with a token"
        )
    if status == 403:
        return errors.RequestFailed(
            text, "your identity may not read this namespace's execution logs"
        )
    if status == 404:
        return errors.NotFound(text, "list the namespace's executions with: kuberun list")
    if status == 410 or code == "cursor-expired":
        return errors.RequestFailed(
            text, "those records are no longer retained; read from the start (no --since-seq)"
        )
    if status == 400:
        return errors.UsageError(text)
    return errors.RequestFailed(f"{text} (HTTP {status})", "check the API service's health")


class LogApi:
    """Reads an Execution's logs from the API; `opener` is replaceable for tests."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        opener: Callable[..., Any] = urllib.request.urlopen,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._open = opener
        self._sleep = sleep

    def url(self, namespace: str, name: str, query: dict[str, str]) -> str:
        path = (
            f"/api/v1/namespaces/{urllib.parse.quote(namespace)}"
            f"/executions/{urllib.parse.quote(name)}/logs"
        )
        return self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def _request(self, url: str, accept: str, last_id: str | None) -> Any:
        headers = {"Accept": accept}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if last_id:
            headers["Last-Event-ID"] = last_id
        return self._open(
            urllib.request.Request(url, headers=headers), timeout=READ_TIMEOUT_SECONDS
        )

    def read(
        self,
        namespace: str,
        name: str,
        show: Callable[[dict[str, Any]], None],
        *,
        follow: bool,
        after: str | None = None,
        filters: dict[str, str] | None = None,
    ) -> End | None:
        """Show every record (a dict with `id`) in order; the `End` when following to the end."""
        what = f"logs of {namespace}/{name}"
        query = dict(filters or {})
        query["follow"] = "true" if follow else "false"
        last_id = after
        failures, delay = 0, _BACKOFF_START
        while True:
            progressed = False
            try:
                url = self.url(
                    namespace, name, {**query, **({"after": last_id} if last_id else {})}
                )
                if follow:
                    with self._request(url, "text/event-stream", last_id) as response:
                        for event in parse_sse(_lines(response)):
                            if event.kind == "end":
                                return _end(event.data)
                            if event.kind not in ("log", "message"):
                                continue
                            record = json.loads(event.data)
                            record.setdefault("id", event.id)
                            show(record)
                            last_id = str(record.get("id") or event.id or last_id)
                            progressed = True
                            failures, delay = 0, _BACKOFF_START
                else:
                    with self._request(url, "application/x-ndjson", last_id) as response:
                        for line in _lines(response):
                            if not line.strip():
                                continue
                            record = json.loads(line)
                            if record.get("end") is True:
                                return End(record.get("phase"), record.get("reason"))
                            show(record)
                            last_id = str(record.get("id") or last_id)
                        return None
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    raise error_from(exc.code, exc.read(), what) from None
                failure: str = f"HTTP {exc.code}"
            except (TimeoutError, OSError, HTTPException) as exc:
                failure = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
            except ValueError as exc:
                raise errors.RequestFailed(
                    f"{what}: the API sent something that is not JSON ({exc})",
                    "check that --api / KUBERUN_API_URL points at the kuberun API",
                ) from None
            else:
                if not follow:  # pragma: no cover - returned above
                    return None
                failure = "the stream closed before the end"
            if not progressed:
                failures += 1
            if failures > MAX_RETRIES:
                raise errors.RequestFailed(
                    f"{what}: cannot reach the log API at {self.base_url} ({failure})",
                    "check --api / KUBERUN_API_URL and the kuberun-api service",
                )
            self._sleep(delay)
            delay = min(_BACKOFF_MAX, delay * 2)


def _lines(response: Any) -> Iterator[str]:
    while True:
        raw = response.readline()
        if not raw:
            return
        yield raw.decode("utf-8", "replace").rstrip("\r\n")


def _end(data: str) -> End:
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    return End(parsed.get("phase"), parsed.get("reason"))


def since_cursor(value: str | None) -> str | None:
    """`--since-seq`: a stream id `ATTEMPT-SEQUENCE`, or a bare sequence (of attempt 1). Pure."""
    if value is None:
        return None
    text = value.strip()
    attempt, sep, sequence = text.partition("-")
    if not sep:
        attempt, sequence = "1", text
    if not (attempt.isdigit() and sequence.isdigit()):
        raise errors.UsageError(
            f"--since-seq {value!r} is neither a sequence number nor a stream id",
            'give N, or ATTEMPT-N as shown by `kuberun logs -o json` (its "id")',
        )
    return f"{int(attempt)}-{int(sequence)}"
