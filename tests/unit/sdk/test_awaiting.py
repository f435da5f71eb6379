"""SDK calls that work awaited (bifrost's current form) and not (its older form, sync code)."""

from __future__ import annotations

import asyncio
from typing import Any

from kuberun.sdk import awaiting


@awaiting.dual
def lookup(key: str, default: Any = None) -> str:
    return f"value of {key}"


def test_not_awaited_gives_the_value() -> None:
    plain: Any = lookup("a")
    in_list: Any = [lookup(k) for k in ("b",)]
    assert plain == "value of a" and in_list == ["value of b"]


def test_awaited_gives_an_awaitable_wherever_the_await_is() -> None:
    async def flow() -> list[Any]:
        direct = await lookup("a")
        chained = (await lookup(key="b", default=1)).upper()
        formatted = f"<{await lookup('c')}>"
        comprehension = [await lookup(k) for k in ("d",)]
        kept_plain: Any = lookup("e")  # not awaited here: the value, even in async code
        return [direct, chained, formatted, comprehension, kept_plain]

    assert asyncio.run(flow()) == [
        "value of a",
        "VALUE OF B",
        "<value of c>",
        ["value of d"],
        "value of e",
    ]


def test_ready_needs_no_event_loop_trip() -> None:
    ready = awaiting.Ready(5)
    iterator = ready.__await__()
    try:
        next(iterator)
    except StopIteration as done:
        assert done.value == 5
    else:  # pragma: no cover - it must finish without suspending
        raise AssertionError("Ready suspended")


def test_no_frame_means_the_async_form() -> None:
    assert awaiting.awaited_here(None) is True
