"""The pipe protocol between the runner and `kuberun run` (no Redis locally).

`kuberun run` opens a pipe and names its write end in `KUBERUN_RECORD_FD`; the
runner writes one JSON object per line, each with a `type`:

- `record`: one log record, the fields of `logrecord.LogRecord` by alias
  (`sequence`, `timestamp`, `level`, `logger`, `source`, `message`, `attempt`,
  `exception` when there is one), in sequence order;
- `result`: the attempt's `outcome.RunResult` by alias, once, last.

A line that is not such an object is ignored by the reader (a child process
writing to the inherited fd must not break the run). No pydantic here: the
runner writes records on its hot path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

RECORD_FD_ENV = "KUBERUN_RECORD_FD"
RECORD = "record"
RESULT = "result"
TYPE = "type"


def encode(kind: str, fields: Mapping[str, Any]) -> bytes:
    """One line of the protocol: `{"type": kind, **fields}` and a newline."""
    data = {TYPE: kind, **fields}
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "replace") + b"\n"


def decode(line: bytes) -> tuple[str, dict[str, Any]] | None:
    """A line's (type, fields), or None for a line that is not a protocol message."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get(TYPE), str):
        return None
    kind = data.pop(TYPE)
    return kind, data
