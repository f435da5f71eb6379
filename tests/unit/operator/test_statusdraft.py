"""The typed working copy `reconcile` decides on: the status's twin, field for field."""

from __future__ import annotations

import dataclasses

import pydantic
import pytest

from kuberun.contract import status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import conditions
from kuberun_operator.statusdraft import AttemptDraft, StatusDraft


@pytest.mark.parametrize(
    ("draft", "model"),
    [(StatusDraft, status.ExecutionStatus), (AttemptDraft, status.AttemptStatus)],
    ids=["execution", "attempt"],
)
def test_every_status_field_has_its_twin(draft: type, model: type[pydantic.BaseModel]) -> None:
    assert [f.name for f in dataclasses.fields(draft)] == list(model.model_fields)


def full_status() -> status.ExecutionStatus:
    return status.ExecutionStatus(
        phase=Phase.FAILED,
        reason=Reason.EXCEPTION,
        message="boom",
        attempt=2,
        attempts=[
            status.AttemptStatus(attempt=1, job_name="r-1", phase=Phase.FAILED, exit_code=1),
            status.AttemptStatus(attempt=2, job_name="r-2", created_at="2027-01-15T08:00:00Z"),
        ],
        admitted_at="2027-01-15T08:00:00Z",
        duration="1.0s",
        duration_seconds=1.0,
        result={"rows": [1, 2]},
        result_ref=status.ResultRef(redis_key="k", bytes=3),
        result_available=True,
        error=status.ErrorStatus(type="ValueError", message="boom"),
        logs=status.LogsStatus(last_sequence=3, complete=True),
        cache=status.CacheStatus(hit=False),
        conditions=[
            status.Condition.model_validate(c)
            for c in conditions.with_health([], Phase.FAILED, "Exception", "boom", 0.0, 4)
        ],
        observed_generation=4,
    )


def test_a_draft_freezes_back_into_the_same_status() -> None:
    frozen = full_status()
    assert StatusDraft.of(frozen).freeze() == frozen


def test_editing_the_draft_leaves_the_status_it_came_from_alone() -> None:
    frozen = full_status()
    draft = StatusDraft.of(frozen)
    draft.current.phase = Phase.SUCCESS
    draft.conditions[0]["status"] = "Unknown"
    draft.attempts.append(AttemptDraft(attempt=3, job_name="r-3"))
    assert frozen == full_status()
    assert draft.freeze().attempts[1].phase == Phase.SUCCESS


def test_freezing_checks_the_crds_bounds() -> None:
    draft = StatusDraft.of(full_status())
    draft.queue_position = 0  # positions start at 1
    with pytest.raises(pydantic.ValidationError):
        draft.freeze()
