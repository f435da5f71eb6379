"""Exit codes, the CLI's final JSON object, and where interrupts may land."""

from __future__ import annotations

import sys
from types import FrameType

import pytest

from kuberun.cli import rendering
from kuberun.contract import outcome
from kuberun.contract.phases import Phase, Reason
from kuberun.runtime import cancelling, reporting


@pytest.mark.parametrize(
    "status, reason, code",
    [
        (Phase.SUCCESS, Reason.COMPLETED, 0),
        (Phase.COMPLETED_WITH_ERRORS, Reason.COMPLETED_WITH_ERRORS, 10),
        (Phase.FAILED, Reason.EXCEPTION, 11),
        (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED, 12),
        (Phase.CANCELLED, Reason.CANCELLED, 13),
        (Phase.FAILED, Reason.INVALID_REQUEST, 14),
    ],
)
def test_exit_codes(status: Phase, reason: Reason, code: int) -> None:
    assert reporting.exit_code(outcome.RunResult(status=status, reason=reason)) == code


def test_final_object_has_exactly_the_documented_keys() -> None:
    result = outcome.RunResult(
        status=Phase.FAILED,
        reason=Reason.USER_ERROR,
        error=outcome.ErrorInfo(type="UserError", message="no"),
        duration_ms=5,
        log_lines=3,
        last_sequence=3,
    )
    data = rendering.final_object(result)
    assert data == {
        "status": "FAILED",
        "reason": "UserError",
        "result": None,
        "error": {"type": "UserError", "message": "no"},
        "durationMs": 5,
        "logLines": 3,
        "lastSequence": 3,
        "dropped": 0,
    }
    traced = rendering.final_object(result.model_copy(update={"variables": {"x": 1}}))
    assert traced["variables"] == {"x": 1}


def test_interrupts_never_land_inside_the_capture_path() -> None:
    assert not cancelling.in_capture(sys._getframe())
    from kuberun.runtime import sequencing

    frames: list[FrameType] = []

    def sink(entry: object, wait: float | None) -> bool:
        frames.append(sys._getframe(1))  # the sequencer's frame, as a signal would see it
        return True

    sequencer = sequencing.Sequencer(attempt=1, max_lines=10, max_bytes=100, sink=sink)
    sequencer.emit("INFO", "", "stdout", "x")
    assert cancelling.in_capture(frames[0])
