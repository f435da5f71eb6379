"""The contract: spec validation, stream ids, keys, and the 4 KB termination summary."""

from __future__ import annotations

import json

import pydantic
import pytest

from kuberun.contract import keys, logrecord, outcome, spec
from kuberun.contract.phases import Phase, Reason


@pytest.mark.parametrize(
    "source, ok",
    [
        ({"inline": "x = 1"}, True),
        ({"path": "/workspace/flow.py"}, True),
        ({"configMap": {"name": "code", "key": "main.py"}}, True),
        ({}, False),
        ({"inline": "x = 1", "path": "/w"}, False),
    ],
    ids=["inline", "path", "configmap", "none", "two"],
)
def test_exactly_one_source(source: dict[str, object], ok: bool) -> None:
    if ok:
        spec.ExecutionSpec.model_validate({"source": source})
    else:
        with pytest.raises(pydantic.ValidationError, match="exactly one of inline"):
            spec.ExecutionSpec.model_validate({"source": source})


def test_retry_never_retries_success_or_cancel() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"retry\.on may only name"):
        spec.Retry.model_validate({"on": ["CANCELLED"]})


def test_stream_ids_order_attempts_before_sequences() -> None:
    ids = [logrecord.stream_id(a, s) for a, s in [(0, 1), (1, 1), (1, 2), (1, 10), (2, 1)]]
    parsed = [logrecord.parse_stream_id(i) for i in ids]
    assert parsed == sorted(parsed)


def test_log_record_round_trips_through_stream_fields() -> None:
    record = logrecord.LogRecord(
        sequence=7, timestamp=1.5, level="ERROR", logger="flow", message="é\n", exception="tb"
    )
    assert (
        logrecord.LogRecord.from_fields(
            {k.encode(): v.encode() for k, v in record.to_fields().items()}
        )
        == record
    )


def test_keys_are_scoped_by_namespace_and_uid() -> None:
    assert keys.logs_stream("a", "u1") != keys.logs_stream("b", "u1")
    assert keys.cancel("a", "u1") != keys.cancel("a", "u2")
    assert keys.params_hash({"b": 1, "a": 2}) == keys.params_hash({"a": 2, "b": 1})


@pytest.mark.parametrize("size", [0, 100, 4000, 10_000, 100_000])
def test_termination_summary_fits_4096_bytes(size: int) -> None:
    summary = outcome.TerminationSummary(
        status=Phase.FAILED, reason=Reason.EXCEPTION, error_type="E", message='"\u00e9' * size
    )
    raw = summary.encode()
    assert len(raw) <= outcome.SUMMARY_MAX_BYTES
    decoded = outcome.TerminationSummary.decode(raw)
    assert decoded.status is Phase.FAILED
    assert json.loads(raw)["reason"] == "Exception"


@pytest.mark.parametrize("phase", sorted(Phase, key=str))
def test_exit_codes_round_trip(phase: Phase) -> None:
    if phase.terminal:
        assert outcome.phase_for_exit_code(outcome.ExitCode.for_phase(phase)) is phase
    assert (outcome.ExitCode.for_phase(phase) == 0) == (phase is Phase.SUCCESS)


@pytest.mark.parametrize(
    ("phase", "reason", "code"),
    [
        (Phase.SUCCESS, Reason.COMPLETED, 0),
        (Phase.COMPLETED_WITH_ERRORS, Reason.COMPLETED_WITH_ERRORS, 10),
        (Phase.FAILED, Reason.EXCEPTION, 11),
        (Phase.FAILED, Reason.SYNTAX_ERROR, 11),
        (Phase.FAILED, Reason.INVALID_REQUEST, 14),
        (Phase.TIMED_OUT, Reason.DEADLINE_EXCEEDED, 12),
        (Phase.CANCELLED, Reason.CANCELLED, 13),
    ],
)
def test_one_exit_code_per_verdict_for_runner_and_cli(
    phase: Phase, reason: Reason, code: int
) -> None:
    """The runner's exit (`reporting.exit_code`) and the CLI's both come from `for_verdict`."""
    from kuberun.runtime import reporting

    result = outcome.RunResult(status=phase, reason=reason)
    assert outcome.ExitCode.for_verdict(phase, reason) == code
    assert reporting.exit_code(result) == code
    assert outcome.phase_for_exit_code(code) is phase


def test_the_pipe_protocol_round_trips_and_ignores_foreign_lines() -> None:
    from kuberun.contract import pipe

    line = pipe.encode(pipe.RECORD, {"sequence": 1, "message": "é ✓"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert pipe.decode(line) == (pipe.RECORD, {"sequence": 1, "message": "é ✓"})
    for foreign in (b"plain text from a child\n", b"[1, 2]\n", b'{"no": "type"}\n', b'{"type": 3}'):
        assert pipe.decode(foreign) is None


def test_terminal_phase_values_are_the_terminal_phases_as_written_in_a_status() -> None:
    from kuberun.contract.phases import TERMINAL_PHASE_VALUES, Phase

    assert {p.value for p in Phase if p.terminal} == TERMINAL_PHASE_VALUES
    assert "RUNNING" not in TERMINAL_PHASE_VALUES and "CANCELLED" in TERMINAL_PHASE_VALUES
