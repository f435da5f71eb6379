"""Retry decisions and backoff: exponential, capped, jittered, deterministic per uid+attempt."""

from __future__ import annotations

import pytest

from kuberun.contract import spec
from kuberun.contract.phases import Phase
from kuberun_operator import retrying


@pytest.mark.parametrize(
    "phase, attempt, expected",
    [
        (Phase.FAILED, 1, True),
        (Phase.FAILED, 2, True),
        (Phase.FAILED, 3, False),
        (Phase.TIMED_OUT, 1, True),
        (Phase.COMPLETED_WITH_ERRORS, 1, False),
        (Phase.CANCELLED, 1, False),
        (Phase.SUCCESS, 1, False),
    ],
)
def test_should_retry(phase: Phase, attempt: int, expected: bool) -> None:
    assert retrying.should_retry(spec.Retry(limit=2), phase, attempt) is expected


def test_no_retry_block_means_no_retry() -> None:
    assert not retrying.should_retry(None, Phase.FAILED, 1)


def test_backoff_doubles_with_jitter_and_cap() -> None:
    retry = spec.Retry(limit=5, backoff_seconds=2, max_backoff_seconds=10)
    delays = [retrying.backoff_seconds(retry, "u", n) for n in range(1, 6)]
    for delay, base in zip(delays, [2, 4, 8, 10, 10], strict=True):
        assert base / 2 <= delay <= base


def test_backoff_is_deterministic_per_uid_and_attempt() -> None:
    retry = spec.Retry(limit=3)
    assert retrying.backoff_seconds(retry, "u", 1) == retrying.backoff_seconds(retry, "u", 1)
    spread = {retrying.backoff_seconds(retry, f"u{i}", 1) for i in range(20)}
    assert len(spread) == 20
