"""ExecutionContext, the `kuberun.context` proxy and cancellation state."""

from __future__ import annotations

import threading
import time

import pytest

import kuberun
from kuberun.sdk import context as sdk_context
from kuberun.sdk import decorators, errors


def test_proxy_outside_an_execution_says_so() -> None:
    sdk_context._process_context = None
    token = sdk_context._current.set(None)  # type: ignore[arg-type]
    try:
        with pytest.raises(RuntimeError, match="only available while an execution runs"):
            _ = kuberun.context.execution_id
    finally:
        sdk_context._current.reset(token)


def test_proxy_answers_protocol_probes_outside_an_execution() -> None:
    sdk_context._process_context = None
    token = sdk_context._current.set(None)  # type: ignore[arg-type]
    try:
        assert not hasattr(kuberun.context, "__kuberun_entrypoint__")
        assert decorators.entrypoint_info(kuberun.context) is None
    finally:
        sdk_context._current.reset(token)


def test_proxy_reaches_the_context_from_threads_the_code_starts() -> None:
    ctx = sdk_context.ExecutionContext(execution_id="e1", organization="acme", parameters={"a": 1})
    sdk_context.activate(ctx)
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(kuberun.context.execution_id))
    thread.start()
    thread.join()
    assert seen == ["e1"]
    assert kuberun.context.org_id == "acme"
    assert kuberun.context.parameters == {"a": 1}


def test_check_cancelled_raises_with_the_reason_and_first_reason_wins() -> None:
    cancellation = sdk_context.Cancellation()
    ctx = sdk_context.ExecutionContext(execution_id="e", cancellation=cancellation)
    ctx.check_cancelled()
    assert not ctx.cancelled
    assert cancellation.request("stop please")
    assert not cancellation.request("second", timed_out=True)
    assert ctx.cancelled
    with pytest.raises(errors.ExecutionCancelled, match="stop please") as raised:
        ctx.check_cancelled()
    assert not isinstance(raised.value, errors.ExecutionTimedOut)


def test_timeout_request_raises_timed_out() -> None:
    cancellation = sdk_context.Cancellation()
    cancellation.request("deadline", timed_out=True)
    with pytest.raises(errors.ExecutionTimedOut):
        sdk_context.ExecutionContext(execution_id="e", cancellation=cancellation).check_cancelled()


def test_cancellation_is_not_an_exception_a_broad_except_swallows() -> None:
    assert not issubclass(errors.ExecutionCancelled, Exception)
    assert issubclass(errors.UserError, Exception)


def test_time_remaining() -> None:
    assert sdk_context.ExecutionContext(execution_id="e").time_remaining() is None
    ctx = sdk_context.ExecutionContext(execution_id="e", deadline=time.monotonic() + 10)
    remaining = ctx.time_remaining()
    assert remaining is not None and 9 < remaining <= 10
    past = sdk_context.ExecutionContext(execution_id="e", deadline=time.monotonic() - 1)
    assert past.time_remaining() == 0.0
