"""Variable-capture scenarios, runnable under pytest or by a bare interpreter.

Each `scenario_*` takes the tracing module and raises AssertionError when the
capture is wrong. `test_capture.py` runs them in the test interpreter (the
venv's 3.11: the settrace path); `tests/integration/tracing/` runs this file
under Python 3.12 (the sys.monitoring path) with no dependency but the
standard library: run as a script, it loads `tracing.py` by file path.
"""

# Locals assigned and never read are the point: they are what gets captured.
# ruff: noqa: F841

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import json
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _capture(tracing: Any, code: types.CodeType, run: Callable[[], object]) -> Any:
    with tracing.VariableCapture(target_code=code) as cap, contextlib.suppress(Exception):
        run()
    assert cap.error is None, cap.error
    if cap.variables is not None:
        json.dumps(cap.variables, allow_nan=False)  # always standard JSON
    return cap


def scenario_sync_return(tracing: Any) -> None:
    def entry(count: int) -> int:
        total = sum(range(count))
        label = "done"
        return total

    cap = _capture(tracing, entry.__code__, lambda: entry(5))
    assert cap.variables == {"count": 5, "total": 10, "label": "done"}, cap.variables


def scenario_sync_exception(tracing: Any) -> None:
    def entry(items: list[int]) -> None:
        seen = items[:2]
        raise ValueError(f"bad {seen}")

    cap = _capture(tracing, entry.__code__, lambda: entry([1, 2, 3]))
    assert cap.variables == {"items": [1, 2, 3], "seen": [1, 2]}, cap.variables


def scenario_recursion_keeps_outermost(tracing: Any) -> None:
    def entry(n: int) -> int:
        level = n
        return 1 if n <= 1 else n * entry(n - 1)

    cap = _capture(tracing, entry.__code__, lambda: entry(6))
    assert cap.variables == {"n": 6, "level": 6}, cap.variables


def scenario_only_the_target(tracing: Any) -> None:
    def helper() -> int:
        inner = 41
        return inner + 1

    def entry() -> int:
        outer = helper()
        return outer

    cap = _capture(tracing, entry.__code__, lambda: (entry(), helper()))
    assert cap.variables == {"outer": 42}, cap.variables


def scenario_not_run_is_none(tracing: Any) -> None:
    def entry() -> None:
        pass

    cap = _capture(tracing, entry.__code__, lambda: None)
    assert cap.variables is None


def scenario_coroutine_final_return(tracing: Any) -> None:
    async def entry(step: int) -> int:
        value = step
        await asyncio.sleep(0)
        value += step
        await asyncio.sleep(0)
        value += step
        return value

    cap = _capture(tracing, entry.__code__, lambda: asyncio.run(entry(2)))
    assert cap.variables == {"step": 2, "value": 6}, cap.variables


def scenario_coroutine_suspension_is_not_an_end(tracing: Any) -> None:
    async def entry() -> None:
        before = 1
        await asyncio.sleep(0)  # suspends here; the block ends before it resumes
        after = 2

    coroutine = entry()
    cap = _capture(tracing, entry.__code__, lambda: coroutine.send(None))
    coroutine.close()
    assert cap.variables is None, cap.variables


def scenario_coroutine_cancelled(tracing: Any) -> None:
    async def entry() -> None:
        progress = "waiting"
        await asyncio.sleep(30)

    async def main() -> None:
        task = asyncio.ensure_future(entry())
        await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    cap = _capture(tracing, entry.__code__, lambda: asyncio.run(main()))
    assert cap.variables == {"progress": "waiting"}, cap.variables


def scenario_concurrent_tasks_last_to_end(tracing: Any) -> None:
    async def entry(name: str, delay: float) -> str:
        mine = name
        await asyncio.sleep(delay)
        return mine

    async def main() -> None:
        await asyncio.gather(entry("slow", 0.03), entry("fast", 0.0))

    cap = _capture(tracing, entry.__code__, lambda: asyncio.run(main()))
    assert cap.variables == {"name": "slow", "delay": 0.03, "mine": "slow"}, cap.variables


def scenario_script_module(tracing: Any) -> None:
    source = "import os\ndef helper():\n    return 1\ncount = helper() + 1\napi_token = 'x'\n"
    code = compile(source, "<script>", "exec")
    cap = _capture(tracing, code, lambda: exec(code, {"__name__": "__main__"}))
    assert cap.variables == {"count": 2, "api_token": "***"}, cap.variables


def scenario_script_top_level_await(tracing: Any) -> None:
    source = (
        "import asyncio\n"
        "first = 1\n"
        "await asyncio.sleep(0)\n"
        "second = first + 1\n"
        "await asyncio.sleep(0)\n"
        "result = {'sum': first + second}\n"
    )
    code = compile(source, "<script>", "exec", flags=TOP_LEVEL_AWAIT)

    def run() -> None:
        coroutine = eval(code, {"__name__": "__main__"})
        asyncio.run(coroutine)

    cap = _capture(tracing, code, run)
    assert cap.variables == {"first": 1, "second": 2, "result": {"sum": 3}}, cap.variables


def scenario_script_top_level_await_raises(tracing: Any) -> None:
    source = "import asyncio\nstage = 'fetch'\nawait asyncio.sleep(0)\nraise RuntimeError(stage)\n"
    code = compile(source, "<script>", "exec", flags=TOP_LEVEL_AWAIT)
    cap = _capture(tracing, code, lambda: asyncio.run(eval(code, {})))
    assert cap.variables == {"stage": "fetch"}, cap.variables


def scenario_thread_started_inside(tracing: Any) -> None:
    def entry() -> str:
        where = threading.current_thread().name
        return where

    def run() -> None:
        worker = threading.Thread(target=entry, name="worker")
        worker.start()
        worker.join()

    cap = _capture(tracing, entry.__code__, run)
    assert cap.variables == {"where": "worker"}, cap.variables


def scenario_restores_state(tracing: Any) -> None:
    def entry() -> None:
        pass

    before = sys.gettrace(), threading.gettrace()
    cap = _capture(tracing, entry.__code__, entry)
    assert (sys.gettrace(), threading.gettrace()) == before
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None:
        assert cap.backend == "sys.monitoring", cap.backend
        assert all(monitoring.get_tool(i) != "kuberun-tracing" for i in range(6))
    else:
        assert cap.backend == "settrace", cap.backend


def scenario_settrace_when_no_tool_id_is_free(tracing: Any) -> None:
    monitoring: Any = getattr(sys, "monitoring", None)
    taken = []
    if monitoring is not None:  # 3.12+: take every free tool id, as busy profilers might
        for tool in range(6):
            if monitoring.get_tool(tool) is None:
                monitoring.use_tool_id(tool, "busy")
                taken.append(tool)
    try:

        async def entry(step: int) -> int:
            value = step
            await asyncio.sleep(0)
            value += step
            return value

        cap = _capture(tracing, entry.__code__, lambda: asyncio.run(entry(3)))
    finally:
        for tool in taken:
            monitoring.free_tool_id(tool)
    assert cap.backend == "settrace", cap.backend
    assert cap.variables == {"step": 3, "value": 6}, cap.variables


def scenario_hostile_values(tracing: Any) -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    def entry() -> None:
        odd = Hostile()
        big = "x" * 1_000_000

    cap = _capture(tracing, entry.__code__, entry)
    assert set(cap.variables) == {"odd", "big"}, cap.variables
    assert "repr failed" in cap.variables["odd"]
    assert len(json.dumps(cap.variables)) <= tracing.MAX_TOTAL_BYTES


SCENARIOS: dict[str, Callable[[Any], None]] = {
    name.removeprefix("scenario_"): function
    for name, function in sorted(globals().items())
    if name.startswith("scenario_")
}


def _load_by_path() -> Any:
    path = Path(__file__).resolve().parents[3] / "runner-image/kuberun/runtime/tracing.py"
    spec = importlib.util.spec_from_file_location("kuberun_tracing_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    """Run every scenario; print one line each and `backend=...`; exit 1 on any failure."""
    tracing = _load_by_path()
    failed = 0
    for name, scenario in SCENARIOS.items():
        try:
            scenario(tracing)
        except Exception as error:
            failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
        else:
            print(f"ok   {name}")
    with tracing.VariableCapture(target_code=main.__code__) as cap:
        pass
    print(f"python={sys.version_info[0]}.{sys.version_info[1]} backend={cap.backend}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
