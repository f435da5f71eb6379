"""How an Execution reads to kstatus, Flux and Helm, phase by phase (`conditions`)."""

from __future__ import annotations

import pytest

from kuberun.contract import spec, status
from kuberun.contract.phases import Phase, Reason
from kuberun_operator import conditions as cd
from kuberun_operator import reconciling as rc
from kuberun_operator.settings import Settings
from tests.unit.operator import factories as f

H = cd.Health
TABLE = [
    (None, H.IN_PROGRESS),
    (Phase.PENDING, H.IN_PROGRESS),
    (Phase.RUNNING, H.IN_PROGRESS),
    (Phase.CANCELLING, H.IN_PROGRESS),
    (Phase.SUCCESS, H.CURRENT),
    (Phase.COMPLETED_WITH_ERRORS, H.FAILED),
    (Phase.FAILED, H.FAILED),
    (Phase.TIMED_OUT, H.FAILED),
    (Phase.CANCELLED, H.FAILED),
]


def test_table_covers_every_phase() -> None:
    assert {p for p, _ in TABLE if p is not None} == set(Phase)


@pytest.mark.parametrize(("phase", "expected"), TABLE, ids=[str(p) for p, _ in TABLE])
def test_health_of_each_phase(phase: Phase | None, expected: cd.Health) -> None:
    assert cd.health(phase) == expected
    got = cd.health_conditions(phase, "Why")
    assert got == {
        cd.RECONCILING: (expected == H.IN_PROGRESS, "Why"),
        cd.STALLED: (expected == H.FAILED, "Why"),
        cd.READY: (expected == H.CURRENT, "Why"),
    }


def test_reason_falls_back_to_the_phase() -> None:
    assert cd.health_conditions(Phase.TIMED_OUT, None)[cd.STALLED] == (True, "TIMED_OUT")
    assert cd.health_conditions(None, None)[cd.RECONCILING] == (True, "Pending")


def test_set_condition_moves_transition_time_only_on_a_change() -> None:
    first = cd.set_condition([], "Ready", False, "Running", None, f.T0, 1)
    same = cd.set_condition(first, "Ready", False, "Running", "still", f.T0 + 5, 2)
    flipped = cd.set_condition(same, "Ready", True, "Completed", None, f.T0 + 9, 2)
    assert same[0]["last_transition_time"] == f.stamp(f.T0)
    assert same[0]["message"] == "still" and same[0]["observed_generation"] == 2
    assert flipped[0]["last_transition_time"] == f.stamp(f.T0 + 9)
    assert flipped[0]["message"] == ""  # metav1.Condition: a string, never null
    assert first[0]["status"] == "False"  # the input list is not changed


def test_message_goes_on_the_true_condition() -> None:
    got = cd.with_health([], Phase.FAILED, "OOMKilled", "killed", f.T0, 3)
    by_type = {c["type"]: c for c in got}
    assert by_type["Stalled"]["message"] == "killed" and by_type["Ready"]["message"] == ""
    assert {c["observed_generation"] for c in got} == {3}


def finished(generation: int) -> status.ExecutionStatus:
    conds = cd.with_health([], Phase.FAILED, "UserError", "bad", f.T0, generation)
    return status.ExecutionStatus.model_validate(
        {
            "phase": Phase.FAILED,
            "reason": Reason.USER_ERROR,
            "message": "bad",
            "observed_generation": generation,
            "conditions": conds,
        }
    )


def test_at_generation_follows_an_edit_after_the_end() -> None:
    done = finished(1)
    assert cd.at_generation(done, 1, f.T0 + 60) is done
    edited = cd.at_generation(done, 2, f.T0 + 60)
    assert edited.observed_generation == 2
    assert {c.observed_generation for c in edited.conditions} == {2}
    assert [(c.type, c.status, c.last_transition_time) for c in edited.conditions] == [
        (c.type, c.status, c.last_transition_time) for c in done.conditions
    ]


def test_at_generation_adds_kstatus_conditions_to_an_old_status() -> None:
    old = status.ExecutionStatus.model_validate(
        {
            "phase": "SUCCESS",
            "reason": "Completed",
            "observed_generation": 1,
            "conditions": [
                {"type": "Finished", "status": "True", "reason": "SUCCESS", "message": None,
                 "last_transition_time": f.stamp(f.T0)},
            ],
        }
    )  # fmt: skip
    got = cd.at_generation(old, 1, f.T0 + 1)
    by_type = {c.type: c.status for c in got.conditions}
    assert by_type == {"Finished": "True", "Reconciling": "False", "Stalled": "False",
                       "Ready": "True"}  # fmt: skip


def test_every_decision_carries_the_kstatus_conditions_at_the_generation() -> None:
    target = rc.Target(name="run", namespace="team", uid="uid-1", generation=4)
    execution = spec.ExecutionSpec.model_validate({"source": {"inline": "print(1)"}})
    queued = rc.reconcile(
        target, execution, status.ExecutionStatus(), rc.Observed(now=f.T0), Settings()
    ).status
    by_type = {c.type: c for c in queued.conditions}
    assert by_type["Reconciling"].status == "True" and by_type["Reconciling"].reason == "Queued"
    assert by_type["Ready"].status == "False" and by_type["Stalled"].status == "False"
    assert queued.observed_generation == 4
    assert {c.observed_generation for c in queued.conditions} == {4}
    # kubectl wait's conditions are still there
    assert {"Admitted", "Finished"} <= set(by_type)

    cancelled = rc.reconcile(
        target,
        execution.model_copy(update={"cancel": True}),
        queued,
        rc.Observed(now=f.T0 + 1),
        Settings(),
    ).status
    by_type = {c.type: c for c in cancelled.conditions}
    assert cancelled.phase == Phase.CANCELLED
    assert (by_type["Stalled"].status, by_type["Stalled"].reason) == ("True", "Cancelled")
    assert by_type["Reconciling"].status == "False" and by_type["Ready"].status == "False"
    assert by_type["Finished"].status == "True" and by_type["Succeeded"].status == "False"
