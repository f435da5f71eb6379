"""Server-Sent Events framing (the `text/event-stream` format), pure.

Each log record is one event whose `id` is its stream id, so a browser's
EventSource sends it back as `Last-Event-ID` when it reconnects. `data` is a
single line of JSON: JSON never needs a raw newline, so no record can break
the framing.
"""

from __future__ import annotations

import json
from typing import Any

#: Sent while nothing else is, so proxies and browsers keep the connection open.
PING = b": ping\n\n"
#: How often a quiet stream sends `PING` (the contract's 15 s).
PING_SECONDS = 15.0
#: The browser's reconnect delay after a dropped connection.
RETRY_MS = 1000


def event(name: str, data: Any, event_id: str | None = None) -> bytes:
    """One event: optional `id:`, `event:`, one `data:` line of compact JSON."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    lines = []
    if event_id is not None:
        if "\n" in event_id or "\r" in event_id:
            raise ValueError("an SSE id cannot hold a line break")
        lines.append(f"id: {event_id}")
    lines.append(f"event: {name}")
    lines.append(f"data: {text}")
    return ("\n".join(lines) + "\n\n").encode()


def retry(milliseconds: int = RETRY_MS) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


def parse(raw: str) -> list[dict[str, str]]:
    """Events of a text/event-stream body (for tests and clients): each a dict of
    `id`, `event`, `data`; comments dropped, multi-line data joined by newlines."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in raw.replace("\r\n", "\n").split("\n"):
        if not line:
            if current:
                events.append(current)
                current = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data" and "data" in current:
            current["data"] += "\n" + value
        else:
            current[name] = value
    if current:
        events.append(current)
    return events
