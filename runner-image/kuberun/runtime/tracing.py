"""Variable capture (`spec.tracing`): the locals of the entry function when it ends.

The runner wraps the user's entry point in `VariableCapture(target_code=...)`
when tracing was asked for (it is off by default) and puts `cap.variables`
into the `RunResult`. What is captured: the locals of the frame running
`target_code` (a function's code object, or a script's module code object,
top-level `await` included) at the moment it returns or an exception leaves
it. A coroutine is captured at its final return, not at each `await`. When
several frames of the target overlap (recursion, concurrent tasks), the last
one to end wins, which for recursion is the outermost call.

How, without slowing down everything else:

- Python 3.12+: `sys.monitoring` with a free tool id. PY_START and PY_RETURN
  are enabled *locally* on the target code object only, so all other code runs
  at full speed. PY_UNWIND cannot be a local event, so it is global; its
  callback returns at once unless the code is the target (exceptions
  propagating through frames are rare enough for that to cost nothing).
- Python 3.11: `sys.settrace` (and `threading.settrace` for threads started
  inside the block). The global tracer hands a local tracer only to frames of
  the target code, with line events off. A `return` event at a `YIELD_VALUE`
  is an `await` suspension, not the end. Every Python call in the traced
  thread still pays the global tracer: call-heavy code ran ~5x slower in a
  micro-benchmark, against no measurable cost with `sys.monitoring`.

Then the pure half, `sanitize_variables`: values become JSON-safe (containers
walked with item and depth limits, unknown objects as a truncated `repr`),
each value is capped at `MAX_VALUE_BYTES` and the whole capture at
`MAX_TOTAL_BYTES`, and names that look like secrets (password, token, api_key,
…) are replaced by `REDACTED`, at any depth of nested dicts. Credentials inside
URLs and PEM private keys are masked wherever they appear. Capture never
breaks the user's code: any failure is kept in `cap.error` and `variables`
stays None.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import dis
import enum
import json
import pathlib
import re
import sys
import threading
import types
import uuid
from collections.abc import Callable, Mapping
from typing import Any

# Enough for a few dozen readable variables; a capture is diagnostics shown
# next to the result, not a heap dump, and it travels in the RunResult.
MAX_TOTAL_BYTES = 64 * 1024
# One big value (a DataFrame repr, a long list) must not crowd out the others.
MAX_VALUE_BYTES = 8 * 1024
# Nested containers beyond this depth, or this many items, are summarised.
MAX_DEPTH = 6
MAX_ITEMS = 100
REDACTED = "***"
# Key under which the number of variables left out by the total cap is reported
# (dunder names are never captured, so it cannot clash with a user's variable).
OMITTED_KEY = "__omitted__"

_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|credential|"
    r"(private|secret|access|signing|encryption|ssh)[_-]?key|authori[sz]ation|auth(?!or)|"
    r"cookie|session[_-]?id|bearer|signature|dsn|conn(ection)?[_-]?str",
    re.IGNORECASE,
)
# Bounded repetitions keep masking linear in the text's length.
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)(?P<user>[^:/@\s]{0,256}):[^@/\s]{1,256}@"
)
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL
)
_TRUNCATED = "…[truncated]"


def is_secret_name(name: str) -> bool:
    """True when a variable or key name looks like it holds a credential."""
    return _SECRET_NAME.search(name) is not None


def sanitize_variables(
    namespace: Mapping[str, Any],
    *,
    max_value_bytes: int = MAX_VALUE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> dict[str, Any]:
    """JSON-safe, size-capped, redacted copy of a frame's locals. Pure (only reads its input).

    Dunder names, modules, functions and classes are left out: they are the
    code, not its data (a script's namespace is full of them). Variables are
    kept in definition order until the total cap; the number of those left
    out is reported under `OMITTED_KEY`.
    """
    captured: dict[str, Any] = {}
    budget = max_total_bytes - len(f'{{"{OMITTED_KEY}":0000000}}')
    omitted = 0
    for name, value in namespace.items():
        if not isinstance(name, str) or _is_code_not_data(name, value):
            continue
        safe = (
            REDACTED
            if is_secret_name(name)
            else _cap(_json_safe(value, max_value_bytes), max_value_bytes)
        )
        cost = _size(name) + _size(safe) + 2
        if omitted or cost > budget:
            omitted += 1
            continue
        captured[name] = safe
        budget -= cost
    if omitted:
        captured[OMITTED_KEY] = omitted
    return captured


def _is_code_not_data(name: str, value: Any) -> bool:
    if name.startswith("__") and name.endswith("__"):
        return True
    return isinstance(
        value,
        types.ModuleType | types.FunctionType | types.BuiltinFunctionType | types.MethodType | type,
    )


def _json_safe(value: Any, limit: int, depth: int = 0, path: frozenset[int] = frozenset()) -> Any:
    """A value json.dumps accepts (standard JSON, no NaN), walking containers with limits.

    Text is pre-cut to a little more than `limit` (the final cut, with its
    marker, is `_cap`'s), so a huge string or repr costs nothing more.
    """
    slack = limit + 512
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if value.bit_length() <= 256 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return float(value) if value == value and abs(value) != float("inf") else repr(value)
    if isinstance(value, str):
        # Cut before masking (masking a megabyte is slow), with slack so a URL
        # straddling the value cap is still masked before `_cap` cuts it.
        return _mask_secrets(value[:slack])
    if isinstance(value, bytes | bytearray | memoryview):
        return _mask_secrets(repr(bytes(value[:slack])))
    if isinstance(value, enum.Enum):
        return _json_safe(value.value, limit, depth, path)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | decimal.Decimal | pathlib.PurePath):
        return str(value)
    if id(value) in path:
        return "<cycle>"
    if depth >= MAX_DEPTH:
        return _mask_secrets(_truncate_text(_safe_repr(value), slack))
    inner = path | {id(value)}
    if isinstance(value, Mapping):
        return _mapping(value, limit, depth, inner)
    if isinstance(value, list | tuple | set | frozenset | collections.deque):
        items: list[Any] = []
        for index, item in enumerate(value):
            if index >= MAX_ITEMS:
                items.append(f"…[{len(value) - MAX_ITEMS} more items]")
                break
            items.append(_json_safe(item, limit, depth + 1, inner))
        return items
    if dataclasses.is_dataclass(value):
        fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
        return _mapping(fields, limit, depth, inner)
    dump = getattr(value, "model_dump", None)  # pydantic models: their own JSON form
    if callable(dump):
        try:
            return _json_safe(dump(mode="json"), limit, depth, inner)
        except Exception:  # fall back to repr
            pass
    return _mask_secrets(_truncate_text(_safe_repr(value), slack))


def _mapping(
    value: Mapping[Any, Any], limit: int, depth: int, path: frozenset[int]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    try:
        entries = list(value.items())
    except Exception:  # a broken Mapping is shown by repr instead
        return {"<repr>": _mask_secrets(_truncate_text(_safe_repr(value), limit))}
    for index, (key, item) in enumerate(entries):
        if index >= MAX_ITEMS:
            result["…"] = f"[{len(entries) - MAX_ITEMS} more items]"
            break
        name = key if isinstance(key, str) else _safe_repr(key)
        secret = is_secret_name(name)
        result[name] = REDACTED if secret else _json_safe(item, limit, depth + 1, path)
    return result


def _mask_secrets(text: str) -> str:
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    return _PEM_PRIVATE_KEY.sub(REDACTED, text)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as error:  # user __repr__ may raise anything
        return f"<{type(value).__qualname__} (repr failed: {type(error).__name__})>"


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _truncate_text(text: str, max_bytes: int) -> str:
    """`text` cut so its UTF-8 form takes at most `max_bytes`, the cut marked."""
    if len(text.encode()) <= max_bytes:
        return text
    room = max(max_bytes - len(_TRUNCATED.encode()), 0)
    return text.encode()[:room].decode("utf-8", "ignore") + _TRUNCATED


def _cap(value: Any, max_bytes: int) -> Any:
    """The value itself if its JSON fits `max_bytes`, else a truncated string of it."""
    if _size(value) <= max_bytes:
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    room = max_bytes - 2  # the quotes
    while True:  # JSON escapes take room too: shrink by the excess until it fits
        cut = _truncate_text(text, room)
        excess = _size(cut) - max_bytes
        if excess <= 0 or room <= 0:
            return cut
        room -= excess


class VariableCapture:
    """Context manager capturing the locals of `target_code`'s last frame to end.

    Use it around the code that runs the target, in the thread that runs it
    (asyncio tasks in this thread included)::

        with VariableCapture(target_code=func.__code__) as cap:
            run(func)
        cap.variables  # dict or None

    `backend` says which mechanism ran ("sys.monitoring" or "settrace").
    """

    def __init__(
        self,
        target_code: types.CodeType,
        *,
        max_value_bytes: int = MAX_VALUE_BYTES,
        max_total_bytes: int = MAX_TOTAL_BYTES,
    ) -> None:
        self.target_code = target_code
        self.max_value_bytes = max_value_bytes
        self.max_total_bytes = max_total_bytes
        self.variables: dict[str, Any] | None = None
        self.error: str | None = None
        self.backend: str | None = None
        self._stop: Callable[[], None] | None = None

    def __enter__(self) -> VariableCapture:
        self._stop = _start_monitoring(self) if _monitoring is not None else None
        if self._stop is None:  # Python 3.11, or every monitoring tool id taken
            self._stop = _start_settrace(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None

    def _record(self, frame: types.FrameType) -> None:
        """Called when a frame of the target ends with no other one still running."""
        try:
            self.variables = sanitize_variables(
                dict(frame.f_locals),
                max_value_bytes=self.max_value_bytes,
                max_total_bytes=self.max_total_bytes,
            )
            self.error = None
        except Exception as error:  # never break the user's code
            self.variables = None
            self.error = f"{type(error).__name__}: {error}"


# sys.monitoring exists from 3.12; mypy checks against 3.11, hence Any.
_monitoring: Any = getattr(sys, "monitoring", None)
# Ids 3 and 4 have no assigned role; the named ones are taken only if free.
_TOOL_ID_PREFERENCE = (3, 4, 5, 2, 1, 0)
_TOOL_NAME = "kuberun-tracing"


def _start_monitoring(capture: VariableCapture) -> Callable[[], None] | None:
    """Enable the events for the target; None when no tool id is free."""
    mon = _monitoring
    events = mon.events
    tool = None
    for candidate in _TOOL_ID_PREFERENCE:
        if mon.get_tool(candidate) is None:
            try:
                mon.use_tool_id(candidate, _TOOL_NAME)
            except ValueError:  # taken in between
                continue
            tool = candidate
            break
    if tool is None:
        return None
    target = capture.target_code
    running = 0

    def on_start(code: types.CodeType, offset: int) -> None:
        nonlocal running
        running += 1

    def on_end(code: types.CodeType, offset: int, value: object) -> None:
        nonlocal running
        if code is not target:
            return
        running = max(running - 1, 0)
        if running == 0:
            try:
                capture._record(sys._getframe(1))
            except Exception as error:  # never break the user's code
                capture.error = f"{type(error).__name__}: {error}"

    mon.register_callback(tool, events.PY_START, on_start)
    mon.register_callback(tool, events.PY_RETURN, on_end)
    mon.register_callback(tool, events.PY_UNWIND, on_end)
    mon.set_local_events(tool, target, events.PY_START | events.PY_RETURN)
    mon.set_events(tool, events.PY_UNWIND)
    capture.backend = "sys.monitoring"

    def stop() -> None:
        mon.set_events(tool, events.NO_EVENTS)
        mon.set_local_events(tool, target, events.NO_EVENTS)
        for event in (events.PY_START, events.PY_RETURN, events.PY_UNWIND):
            mon.register_callback(tool, event, None)
        mon.free_tool_id(tool)

    return stop


_YIELD_VALUE = dis.opmap["YIELD_VALUE"]
_TraceFunction = Callable[[types.FrameType, str, Any], Any]


def _start_settrace(capture: VariableCapture) -> Callable[[], None]:
    """Trace this thread (and threads started meanwhile); chains to a tracer already set."""
    target = capture.target_code
    previous: Any = sys.gettrace()  # a Python or C (coverage) tracer, or None
    previous_threading: Any = threading.gettrace()
    running: set[int] = set()

    def global_tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
        chained = previous(frame, event, arg) if previous is not None else None
        if frame.f_code is not target:
            return chained
        running.add(id(frame))  # a resumed coroutine calls again: same frame, no change
        if chained is None:
            frame.f_trace_lines = False
        return _local_tracer(chained)

    def _local_tracer(chained: _TraceFunction | None) -> _TraceFunction:
        def local_tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
            nonlocal chained
            if chained is not None:
                chained = chained(frame, event, arg)
            if event == "return" and frame.f_code.co_code[frame.f_lasti] != _YIELD_VALUE:
                running.discard(id(frame))
                if not running:
                    capture._record(frame)
            return local_tracer

        return local_tracer

    sys.settrace(global_tracer)
    threading.settrace(global_tracer)
    capture.backend = "settrace"

    def stop() -> None:
        sys.settrace(previous)
        threading.settrace(previous_threading)

    return stop
