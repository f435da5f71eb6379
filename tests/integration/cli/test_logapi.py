"""`kuberun logs` through the log API: the client against a small aiohttp server that
follows the wire contract (SSE with stream ids, `Last-Event-ID`, `event: end`, JSON
lines, `{"error", "message"}` bodies, 401/403/404/410), on loopback.

The server cuts its connections mid-stream on purpose: the client must resume after
the last id it showed, with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from kuberun.cli import errors, logapi, remote

TOKEN = "good-token"
NAMESPACE, NAME = "team-a", "job"
RECORDS = [
    {
        "id": f"{attempt}-{sequence}",
        "sequence": sequence,
        "timestamp": 1_700_000_000.0 + attempt * 100 + sequence,
        "level": "ERROR" if sequence == 7 else "INFO",
        "logger": "flow",
        "source": "log",
        "message": f"line {attempt}.{sequence}",
        "attempt": attempt,
    }
    for attempt in (1, 2)
    for sequence in range(1, 31)
]
RETAINED_FROM = "1-1"  # anything before is "trimmed": 410


def _key(stream_id: str) -> tuple[int, int]:
    attempt, _, sequence = stream_id.partition("-")
    return int(attempt), int(sequence)


@dataclass
class ContractServer:
    """The contract's logs endpoint over a fixed record list; cuts every `cut_every` records."""

    cut_every: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{ns}/executions/{name}/logs", self.logs)
        return app

    @staticmethod
    def error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": code, "message": message}, status=status)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"after": request.query.get("after", ""), **request.headers})
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.error(401, "unauthenticated", "a bearer token is required")
        if auth != f"Bearer {TOKEN}" or request.match_info["ns"] != NAMESPACE:
            return self.error(403, "forbidden", "you may not get executions/log here")
        if request.match_info["name"] != NAME:
            return self.error(404, "not-found", "execution not found")
        after = request.headers.get("Last-Event-ID") or request.query.get("after")
        if after and _key(after) < (_key(RETAINED_FROM)[0], _key(RETAINED_FROM)[1] - 1):
            return self.error(410, "cursor-expired", f"{after} is older than the retained logs")
        records = [r for r in RECORDS if not after or _key(str(r["id"])) > _key(after)]
        levels = {x.upper() for x in request.query.get("level", "").split(",") if x}
        records = [r for r in records if not levels or str(r["level"]) in levels]
        follow = request.query.get("follow") == "true"
        if "text/event-stream" not in request.headers.get("Accept", ""):
            lines = [json.dumps(r) for r in records]
            if follow:
                lines.append(json.dumps({"end": True, "phase": "SUCCESS", "reason": "Completed"}))
            return web.Response(text="\n".join(lines) + "\n", content_type="application/x-ndjson")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": ping\n\n")
        for index, record in enumerate(records, 1):
            data = json.dumps(record)
            await response.write(f"id: {record['id']}\nevent: log\ndata: {data}\n\n".encode())
            if self.cut_every and index % self.cut_every == 0 and index < len(records):
                # Drop the connection mid-stream, as a restarted API pod would.
                assert request.transport is not None
                request.transport.close()
                return response
        end = json.dumps({"phase": "FAILED", "reason": "UserError"})
        await response.write(f"event: end\ndata: {end}\n\n".encode())
        await response.write_eof()
        return response


@pytest.fixture
def served() -> Iterator[tuple[ContractServer, str]]:
    server = ContractServer()
    loop = asyncio.new_event_loop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    runner = web.AppRunner(server.app())
    loop.run_until_complete(runner.setup())
    site = web.SockSite(runner, sock)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def read_all(url: str, **kwargs: Any) -> tuple[list[dict[str, Any]], logapi.End | None]:
    shown: list[dict[str, Any]] = []
    api = logapi.LogApi(url, kwargs.pop("token", TOKEN), sleep=lambda _: None)
    end = api.read(NAMESPACE, kwargs.pop("name", NAME), shown.append, **kwargs)
    return shown, end


def test_follow_resumes_after_every_cut_without_gap_or_duplicate(
    served: tuple[ContractServer, str],
) -> None:
    server, url = served
    server.cut_every = 7
    shown, end = read_all(url, follow=True)
    assert [r["id"] for r in shown] == [r["id"] for r in RECORDS]
    assert end == logapi.End("FAILED", "UserError")
    resumed = [r.get("Last-Event-ID") for r in server.requests[1:]]
    assert resumed == [RECORDS[i - 1]["id"] for i in range(7, len(RECORDS), 7)]


def test_a_cursor_starts_after_it(served: tuple[ContractServer, str]) -> None:
    _, url = served
    shown, _ = read_all(url, follow=True, after=logapi.since_cursor("2-25"))
    assert [r["id"] for r in shown] == ["2-26", "2-27", "2-28", "2-29", "2-30"]


def test_a_plain_read_uses_json_lines_and_filters(served: tuple[ContractServer, str]) -> None:
    server, url = served
    shown, end = read_all(url, follow=False, filters={"level": "error"})
    assert [r["id"] for r in shown] == ["1-7", "2-7"] and end is None
    assert server.requests[-1]["Accept"] == "application/x-ndjson"


@pytest.mark.parametrize(
    "kwargs, kind, status_words",
    [
        ({"token": None}, errors.RequestFailed, "bearer token is required"),
        ({"token": "someone-else"}, errors.RequestFailed, "may not get executions/log"),
        ({"name": "nope"}, errors.NotFound, "execution not found"),
        ({"after": "0-5"}, errors.RequestFailed, "older than the retained logs"),
    ],
    ids=["401", "403", "404", "410"],
)
def test_refusals_become_one_error_with_what_to_do(
    served: tuple[ContractServer, str],
    kwargs: dict[str, Any],
    kind: type[errors.CliError],
    status_words: str,
) -> None:
    _, url = served
    with pytest.raises(kind) as raised:
        read_all(url, follow=True, **kwargs)
    assert status_words in raised.value.message and raised.value.hint


def test_an_unreachable_api_gives_up_with_one_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(errors.RequestFailed, match="cannot reach the log API"):
        read_all(f"http://127.0.0.1:{port}", follow=True)


def test_api_records_become_the_records_the_command_prints(
    served: tuple[ContractServer, str],
) -> None:
    server, url = served
    server.cut_every = 11
    shown, _ = read_all(url, follow=True)
    lines = [remote.record_from_api(r).message for r in shown]
    assert lines == [str(r["message"]) for r in RECORDS]


def test_uid_and_api_together_is_a_usage_error(served: tuple[ContractServer, str]) -> None:
    _, url = served
    done = subprocess.run(
        [sys.executable, "-m", "kuberun.cli", "logs", NAME, "-n", NAMESPACE, "--uid", "u",
         "--api", url],
        capture_output=True, text=True, timeout=30, check=False,
        env={k: v for k, v in os.environ.items() if k != "KUBERUN_REDIS_URL"},
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("kuberun:") == 1
