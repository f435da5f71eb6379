"""SDK calls that work with and without `await`, as bifrost's two generations were written.

bifrost's older SDK had `context.get_config(key)` and `files.read(path)` as plain
calls; its newer one has `await context.get_config(key)` and
`await files.read(path)`. Code of both generations must run unchanged, and
kuberun's sync functions cannot await at all. So each such SDK call does its
(local, fast) work at once and looks at the instruction its caller executes
next: when that is the `await` of this very call (`GET_AWAITABLE`), it returns
an awaitable of the value; otherwise the value itself.

The one thing this cannot see is an await somewhere else (a coroutine kept in a
variable and awaited later, or passed to `asyncio.gather`): such code gets the
value, not an awaitable. The `_sync` twins and the typing (these functions are
typed as coroutine functions, bifrost's current form) make either use explicit.
"""

from __future__ import annotations

import dis
import functools
import sys
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# (code, offset) → whether the call made there is awaited; code never changes, so
# each call site is disassembled once.
_AWAITED: dict[tuple[types.CodeType, int], bool] = {}


def awaited_here(frame: types.FrameType | None) -> bool:
    """True when the call `frame` is making right now is immediately awaited.

    The frame's last instruction is the call (or, on 3.11/3.12, its last inline
    cache entry); the next real instruction tells.
    """
    if frame is None:
        return True  # no frame to look at (not CPython): bifrost's current, async, form
    key = (frame.f_code, frame.f_lasti)
    found = _AWAITED.get(key)
    if found is None:
        found = False
        for instruction in dis.get_instructions(frame.f_code):
            if instruction.offset > frame.f_lasti:
                found = instruction.opname == "GET_AWAITABLE"
                break
        _AWAITED[key] = found
    return found


class Ready:
    """An awaitable that is already done: `await Ready(v)` is `v`, at once."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # a generator, so awaiting it needs no event loop trip


def dual(func: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """`func` as a call that returns its value, or an awaitable of it when awaited."""

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> Any:
        awaited = awaited_here(sys._getframe(1) if hasattr(sys, "_getframe") else None)
        value = func(*args, **kwargs)
        return Ready(value) if awaited else value

    return call
