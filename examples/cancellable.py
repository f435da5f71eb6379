"""A long loop that stops when asked: cancellation and the deadline are cooperative first.

    kuberun run examples/cancellable.py --entrypoint count_slowly   # Ctrl-C: CANCELLED
    kuberun run examples/cancellable.py --entrypoint count_slowly --timeout 3  # TIMED_OUT

`context.check_cancelled()` raises `ExecutionCancelled` (or `ExecutionTimedOut`
once the deadline has passed) at a point where stopping is safe. Code that
never checks is interrupted where Python allows, and after the grace period
the pod is deleted anyway.
"""

import time

from kuberun import ExecutionContext, workflow


@workflow(category="Examples", tags=["cancellation"])
def count_slowly(context: ExecutionContext, limit: int = 600, interval: float = 0.5) -> dict:
    done = 0
    for i in range(limit):
        context.check_cancelled()
        remaining = context.time_remaining()
        context.logger.info("tick %d (%s s left)", i, "∞" if remaining is None else int(remaining))
        time.sleep(interval)
        done += 1
    return {"ticks": done}
