"""How `kuberun get` and `kuberun list` show Executions: a table (like `kubectl get`), a wide
table, JSON, YAML, or names. Pure: objects in, text out.

JSON is the list object itself (`{"apiVersion": "v1", "kind": "List", "items": [...]}`,
what `kubectl get -o json` prints), so tools that read kubectl's output read ours.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

from kuberun.cli import terminal

FORMATS = ("table", "wide", "json", "yaml", "name")
COLUMNS = ("NAME", "PHASE", "REASON", "ATTEMPT", "DURATION", "AGE")
WIDE = (*COLUMNS, "QUEUE", "ENTRYPOINT", "MESSAGE")


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def age(created: str | None, now: datetime.datetime) -> str:
    """kubectl's short age (`45s`, `3m`, `2h`, `4d`) of an RFC 3339 timestamp."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3 * 3600:
        return f"{seconds // 60}m"
    if seconds < 3 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def row(obj: dict[str, Any], now: datetime.datetime, wide: bool) -> list[str]:
    meta, status = obj.get("metadata", {}), _status(obj)
    cells = [
        str(meta.get("name", "")),
        str(status.get("phase") or "PENDING"),
        str(status.get("reason") or ""),
        str(status.get("attempt", 0)),
        str(status.get("duration") or ""),
        age(meta.get("creationTimestamp"), now),
    ]
    if wide:
        cells += [
            str(status.get("queuePosition") or ""),
            str((obj.get("spec") or {}).get("entrypoint") or "(script)"),
            " ".join(str(status.get("message") or "").split())[:120],
        ]
    return cells


def table(
    items: Sequence[dict[str, Any]],
    now: datetime.datetime,
    wide: bool = False,
    colour: bool = False,
    header: bool = True,
) -> str:
    """Aligned columns; the phase coloured when `colour`."""
    rows = [row(obj, now, wide) for obj in items]
    titles = list(WIDE if wide else COLUMNS)
    widths = [len(t) for t in titles]
    for cells in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]
    lines = []
    if header:
        lines.append("   ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)).rstrip())
    for cells in rows:
        parts = []
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            padded = cell.ljust(width)
            parts.append(
                terminal.phase(cell, colour) + padded[len(cell) :] if index == 1 else padded
            )
        lines.append("   ".join(parts).rstrip())
    return "\n".join(lines)


def as_list(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {}}


def render(
    items: Sequence[dict[str, Any]],
    output: str,
    now: datetime.datetime,
    *,
    single: bool = False,
    colour: bool = False,
    header: bool = True,
) -> str:
    """`items` in format `output`; `single` (get NAME): the object itself for json/yaml."""
    if output == "json":
        return json.dumps(items[0] if single else as_list(items), indent=2, ensure_ascii=False)
    if output == "yaml":
        return to_yaml(items[0] if single else as_list(items))
    if output == "name":
        from kuberun.contract import spec  # the models: only the cluster commands need them

        return "\n".join(
            f"{spec.SINGULAR}.{spec.GROUP}/{obj.get('metadata', {}).get('name', '')}"
            for obj in items
        )
    return table(items, now, wide=output == "wide", colour=colour, header=header)


def to_yaml(data: Any) -> str:
    """YAML via PyYAML (a dependency of the Kubernetes client, so there with `kuberun[cli]`)."""
    import yaml

    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text.rstrip("\n")


def describe(obj: dict[str, Any], colour: bool = False) -> str:
    """`kuberun get NAME`: the fields a person looks at first."""
    meta, status, body = obj.get("metadata", {}), _status(obj), obj.get("spec") or {}
    phase = str(status.get("phase") or "PENDING")
    lines = [
        f"Name:        {meta.get('namespace', '')}/{meta.get('name', '')}",
        f"Phase:       {terminal.phase(phase, colour)}"
        + (f" ({status['reason']})" if status.get("reason") else ""),
        f"Entrypoint:  {body.get('entrypoint') or '(script)'}",
        f"Attempt:     {status.get('attempt', 0)}",
    ]
    for label, key in (
        ("Queue:", "queuePosition"),
        ("Started:", "startTime"),
        ("Finished:", "completionTime"),
        ("Duration:", "duration"),
        ("Message:", "message"),
    ):
        if status.get(key) not in (None, ""):
            lines.append(f"{label:<12} {status[key]}")
    error = status.get("error")
    if isinstance(error, dict):
        lines.append(f"Error:       {error.get('type')}: {error.get('message')}")
    if status.get("result") is not None:
        lines.append("Result:      " + json.dumps(status["result"], ensure_ascii=False))
    return "\n".join(lines)
