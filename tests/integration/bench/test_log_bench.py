"""Smoke test of the log pipeline benchmark, so `python -m bench logs` cannot rot.

Tiny N, one round: it checks that every method delivers every line exactly
once and in order (and that the runner path really runs), never throughput,
which depends on the machine.
"""

from __future__ import annotations

import pytest

from bench import logs


@pytest.mark.timeout(120)
def test_every_line_once_in_order(redis_url: str) -> None:
    report = logs.run(redis_url, lines=2_000, baseline_lines=200, rounds=1)

    runner = report.runner
    assert runner.ordered, report.render()
    assert runner.stored.lines == 2_000
    # every runner record (its own last line too) sits at id 1-<sequence>, gapless from 1
    assert runner.stored.records > 2_000 and runner.stored.sequences.ok
    assert runner.stored.bad_ids == 0
    assert report.ceiling.ordered, report.render()
    assert report.row("(b)").ordered, report.render()
    assert report.row("(c)").stored.lines == 200  # none lost, whatever the order
    assert runner.user_us_per_call > 0 and runner.lines_per_second > 0
    assert "PASS  runner order" in report.render()
