"""The backlog: steps in order, retried with backoff until done, counted meanwhile."""

from __future__ import annotations

import asyncio

from kuberun_operator import backlog as bl
from kuberun_operator.metrics import Metrics


def test_steps_run_in_order_and_retry_with_backoff_until_done() -> None:
    now = [0.0]
    metrics = Metrics()
    log: list[str] = []
    answers = {"record": [False, True], "archive": [False, False, True]}

    def step(kind: str) -> bl.Step:
        async def run() -> bool:
            log.append(kind)
            done = answers[kind].pop(0)
            if kind == "archive" and not done and len(answers[kind]) == 1:
                raise OSError("postgres down")  # a raise is "later" too
            return done

        return bl.Step(kind, run)

    async def scenario() -> list[float | None]:
        backlog = bl.Backlog(metrics, clock=lambda: now[0])
        backlog.add("ns/a", [step("record"), step("archive")])
        waits = []
        while True:
            wait = await backlog.work_off()
            waits.append(wait)
            if wait is None:
                return waits
            now[0] += wait

    waits = asyncio.run(scenario())
    # The archive never runs before the record is in; each failure doubles the delay.
    assert log == ["record", "record", "archive", "archive", "archive"]
    assert waits == [1.0, 2.0, 4.0, None]
    assert metrics.backlog_pending._value.get() == 0
    assert metrics.backlog_retries.labels(kind="record")._value.get() == 1
    assert metrics.backlog_retries.labels(kind="archive")._value.get() == 2


def test_backoff_is_capped() -> None:
    delay = bl.FIRST_RETRY_SECONDS
    for _ in range(20):
        delay = bl.next_delay(delay)
    assert delay == bl.MAX_RETRY_SECONDS
