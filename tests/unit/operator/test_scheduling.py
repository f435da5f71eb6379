"""CronJob's rules as `scheduling.plan` decides them, table-tested on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kuberun.contract import schedule
from kuberun.contract.phases import Phase
from kuberun.contract.schedule import ScheduledExecutionSpec
from kuberun_operator import scheduling
from kuberun_operator.scheduling import Child

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a whole minute
CREATED = T0 - timedelta(seconds=30)


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def cfg(**fields: Any) -> ScheduledExecutionSpec:
    return ScheduledExecutionSpec.model_validate(
        {
            "schedule": "*/1 * * * *",
            "executionTemplate": {"spec": {"source": {"inline": "result = 1"}}},
            **fields,
        }
    )


def run(n: int, phase: Phase | None = None, finished: float | None = None) -> Child:
    """The Execution of minute n; finished `finished` seconds after its minute."""
    return Child(
        name=scheduling.run_name("tick", minute(n)),
        uid=f"uid-{n}",
        scheduled_at=minute(n),
        created_at=minute(n),
        phase=phase,
        finished_at=minute(n) + timedelta(seconds=finished) if finished is not None else None,
    )


@dataclass
class FakeClock:
    """The schedule's world: a clock to move, the Executions it holds, its status."""

    spec: ScheduledExecutionSpec
    now: datetime = CREATED
    children: list[Child] = field(default_factory=list)
    last_schedule: datetime | None = None
    created: list[str] = field(default_factory=list)

    def tick(self, to: datetime) -> scheduling.Plan:
        self.now = to
        decided = scheduling.plan(
            "tick",
            self.spec,
            now=to,
            created_at=CREATED,
            last_schedule_time=self.last_schedule,
            last_successful_time=None,
            children=self.children,
        )
        gone = set(decided.prune) | set(decided.delete_active)
        self.children = [c for c in self.children if c.name not in gone]
        if decided.create is not None:
            name, due = decided.create
            self.created.append(name)
            self.children.append(Child(name=name, scheduled_at=due, created_at=to))
        self.last_schedule = decided.last_schedule_time
        return decided

    def finish(self, name: str, phase: Phase = Phase.SUCCESS) -> None:
        self.children = [
            Child(
                name=c.name,
                scheduled_at=c.scheduled_at,
                created_at=c.created_at,
                phase=phase,
                finished_at=self.now,
            )
            if c.name == name
            else c
            for c in self.children
        ]


def reasons(decided: scheduling.Plan) -> list[str]:
    return [e.reason for e in decided.events]


def test_names_are_the_minute_since_the_epoch() -> None:
    assert scheduling.run_name("tick", T0) == f"tick-{int(T0.timestamp()) // 60}"
    assert len(scheduling.run_name("x" * schedule.MAX_NAME_LENGTH, T0)) <= 63


def test_nothing_before_the_first_time_then_one_run_on_it() -> None:
    world = FakeClock(cfg())
    early = world.tick(T0 - timedelta(seconds=1))
    assert early.create is None
    assert early.wake_at == T0 == early.next_schedule_time
    on_time = world.tick(T0 + timedelta(milliseconds=200))
    assert on_time.create == (scheduling.run_name("tick", T0), T0)
    assert on_time.last_schedule_time == T0
    assert [c.name for c in on_time.active] == [scheduling.run_name("tick", T0)]
    assert on_time.wake_at == minute(1)


def test_a_second_pass_for_the_same_time_creates_nothing() -> None:
    world = FakeClock(cfg())
    world.tick(T0)
    again = world.tick(T0 + timedelta(seconds=5))
    assert again.create is None
    # Even with the status lost (a restart before the patch): the name exists.
    world.last_schedule = None
    assert world.tick(T0 + timedelta(seconds=6)).create is None
    assert world.created == [scheduling.run_name("tick", T0)]


def test_a_stale_status_never_moves_the_last_schedule_time_back() -> None:
    decided = scheduling.plan(
        "tick",
        cfg(),
        now=minute(1) + timedelta(seconds=2),
        created_at=CREATED,
        last_schedule_time=T0,  # read before the patch for minute 1 arrived
        last_successful_time=None,
        children=[run(0, Phase.SUCCESS, 5), run(1)],
    )
    assert decided.create is None
    assert decided.last_schedule_time == minute(1)


@pytest.mark.parametrize(
    ("policy", "created", "deleted"),
    [
        ("Allow", True, ()),
        ("Forbid", False, ()),
        ("Replace", True, ("tick-first",)),
    ],
)
def test_concurrency_policies_while_a_run_is_active(
    policy: str, created: bool, deleted: tuple[str, ...]
) -> None:
    active = Child(name="tick-first", scheduled_at=T0, created_at=T0)
    decided = scheduling.plan(
        "tick",
        cfg(concurrencyPolicy=policy),
        now=minute(1) + timedelta(seconds=1),
        created_at=CREATED,
        last_schedule_time=T0,
        last_successful_time=None,
        children=[active],
    )
    assert (decided.create is not None) is created
    assert decided.delete_active == deleted
    if policy == "Forbid":
        assert reasons(decided) == ["ExecutionAlreadyActive"]
        assert decided.last_schedule_time == T0  # the blocked time stays due
        assert decided.wake_at == minute(2)


def test_forbid_runs_the_blocked_time_when_the_active_one_ends() -> None:
    """CronJob without a starting deadline: the blocked time starts late, once."""
    world = FakeClock(cfg(concurrencyPolicy="Forbid"))
    world.tick(T0)
    assert world.tick(minute(1)).create is None
    world.now = minute(1) + timedelta(seconds=20)
    world.finish(scheduling.run_name("tick", T0))
    late = world.tick(minute(1) + timedelta(seconds=21))
    assert late.create == (scheduling.run_name("tick", minute(1)), minute(1))


def test_forbid_with_a_deadline_skips_the_blocked_time() -> None:
    world = FakeClock(cfg(concurrencyPolicy="Forbid", startingDeadlineSeconds=10))
    world.tick(T0)
    world.tick(minute(1))
    world.now = minute(1) + timedelta(seconds=20)
    world.finish(scheduling.run_name("tick", T0))
    skipped = world.tick(minute(1) + timedelta(seconds=21))
    assert skipped.create is None
    assert "MissedSchedule" in reasons(skipped)
    assert world.tick(minute(2)).create == (scheduling.run_name("tick", minute(2)), minute(2))


def test_after_an_outage_only_the_latest_missed_time_runs() -> None:
    world = FakeClock(cfg())
    world.tick(T0)
    world.finish(scheduling.run_name("tick", T0))
    caught = world.tick(minute(3) + timedelta(seconds=25))  # minutes 1, 2, 3 missed
    assert caught.create == (scheduling.run_name("tick", minute(3)), minute(3))
    assert reasons(caught) == []
    assert world.tick(minute(3) + timedelta(seconds=26)).create is None
    assert world.created == [scheduling.run_name("tick", m) for m in (T0, minute(3))]


def test_after_an_outage_past_the_deadline_nothing_runs_and_an_event_says_so() -> None:
    world = FakeClock(cfg(startingDeadlineSeconds=10))
    world.tick(T0)
    late = world.tick(minute(2) + timedelta(seconds=30))
    assert late.create is None
    assert reasons(late) == ["MissedSchedule"]
    assert "2026-03-02T12:02:00Z" in late.events[0].message
    assert late.wake_at == minute(3)


def test_within_the_deadline_a_late_run_still_starts() -> None:
    world = FakeClock(cfg(startingDeadlineSeconds=60))
    world.tick(T0)
    assert world.tick(minute(2) + timedelta(seconds=30)).create == (
        scheduling.run_name("tick", minute(2)),
        minute(2),
    )


def test_too_many_missed_times_warn_and_still_run_the_latest() -> None:
    world = FakeClock(cfg())
    world.tick(T0)
    decided = world.tick(minute(500) + timedelta(seconds=1))
    assert reasons(decided) == ["TooManyMissedTimes"]
    assert decided.create == (scheduling.run_name("tick", minute(500)), minute(500))


def test_suspend_creates_nothing_and_resuming_counts_the_suspended_times_as_missed() -> None:
    world = FakeClock(cfg(suspend=True))
    decided = world.tick(minute(1))
    assert decided.create is None and decided.suspended
    assert decided.wake_at is None and decided.next_schedule_time is None
    world.spec = cfg(suspend=False, startingDeadlineSeconds=5)
    assert world.tick(minute(3) + timedelta(seconds=30)).create is None
    assert world.tick(minute(4)).create is not None


@pytest.mark.parametrize(
    ("children", "keep_ok", "keep_failed", "pruned"),
    [
        ([run(0, Phase.SUCCESS, 5), run(1, Phase.SUCCESS, 5), run(2, Phase.SUCCESS, 5)], 2, 1, [0]),
        (
            [run(0, Phase.SUCCESS, 5), run(1, Phase.FAILED, 5), run(2, Phase.TIMED_OUT, 5)],
            3,
            1,
            [1],
        ),
        ([run(0, Phase.CANCELLED, 5), run(1, Phase.COMPLETED_WITH_ERRORS, 5)], 3, 0, [0, 1]),
        ([run(0, Phase.SUCCESS, 5), run(1), run(2)], 0, 0, [0]),  # active ones never pruned
        ([run(0, Phase.SUCCESS, 90), run(1, Phase.SUCCESS, 5)], 1, 1, [1]),  # by finish time
    ],
)
def test_history_limits_prune_the_oldest_finished(
    children: list[Child], keep_ok: int, keep_failed: int, pruned: list[int]
) -> None:
    decided = scheduling.plan(
        "tick",
        cfg(successfulExecutionsHistoryLimit=keep_ok, failedExecutionsHistoryLimit=keep_failed),
        now=minute(2) + timedelta(seconds=50),
        created_at=CREATED,
        last_schedule_time=minute(2),
        last_successful_time=None,
        children=children,
    )
    assert sorted(decided.prune) == sorted(scheduling.run_name("tick", minute(n)) for n in pruned)


def test_active_and_last_successful_time_come_from_the_executions() -> None:
    decided = scheduling.plan(
        "tick",
        cfg(),
        now=minute(2) + timedelta(seconds=30),
        created_at=CREATED,
        last_schedule_time=minute(2),
        last_successful_time=T0,
        children=[run(0, Phase.SUCCESS, 5), run(1, Phase.FAILED, 5), run(2)],
    )
    assert [c.name for c in decided.active] == [scheduling.run_name("tick", minute(2))]
    assert decided.last_successful_time == T0 + timedelta(seconds=5)


def test_an_invalid_schedule_is_a_problem_not_a_crash() -> None:
    decided = scheduling.plan(
        "tick",
        cfg(schedule="61 * * * *"),
        now=T0,
        created_at=CREATED,
        last_schedule_time=None,
        last_successful_time=None,
        children=[],
    )
    assert decided.create is None and decided.problem
    assert reasons(decided) == ["InvalidSchedule"]
    patch = scheduling.status_patch(
        schedule.ScheduledExecutionStatus(), decided, "ns", 3, T0.timestamp()
    )
    stalled = {c["type"]: c for c in patch["conditions"]}
    assert stalled["Stalled"]["status"] == "True" and stalled["Ready"]["status"] == "False"
    assert patch["observedGeneration"] == 3


def test_time_zones_follow_the_zone_and_its_daylight_saving() -> None:
    # 02:30 daily in Berlin: 01:30 UTC in winter, 00:30 UTC in summer.
    spec = cfg(schedule="30 2 * * *", timeZone="Europe/Berlin")
    before = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)
    decided = scheduling.plan(
        "tick",
        spec,
        now=before,
        created_at=before,
        last_schedule_time=None,
        last_successful_time=None,
        children=[],
    )
    assert decided.next_schedule_time == datetime(2026, 3, 27, 1, 30, tzinfo=UTC)
    summer = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    decided = scheduling.plan(
        "tick",
        spec,
        now=summer,
        created_at=summer,
        last_schedule_time=None,
        last_successful_time=None,
        children=[],
    )
    assert decided.next_schedule_time == datetime(2026, 4, 1, 0, 30, tzinfo=UTC)


def test_the_execution_is_the_template_owned_by_the_schedule() -> None:
    spec = cfg(
        executionTemplate={
            "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
            "spec": {"source": {"inline": "result = 1"}, "timeoutSeconds": 30},
        }
    )
    body = scheduling.execution_body(
        "tick", "ns", {"name": "tick", "uid": "u1"}, spec, scheduling.run_name("tick", T0), T0
    )
    meta = body["metadata"]
    assert meta["labels"] == {"team": "a", schedule.SCHEDULE_LABEL: "tick"}
    assert meta["annotations"][schedule.SCHEDULED_AT_ANNOTATION] == "2026-03-02T12:00:00Z"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "kuberun.dev/v1alpha1",
            "kind": "ScheduledExecution",
            "name": "tick",
            "uid": "u1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert body["spec"] == {"source": {"inline": "result = 1"}, "timeoutSeconds": 30}


def test_children_are_read_from_listed_executions() -> None:
    child = scheduling.child_of(
        {
            "metadata": {
                "name": "tick-1",
                "uid": "u",
                "creationTimestamp": "2026-03-02T12:00:01Z",
                "annotations": {schedule.SCHEDULED_AT_ANNOTATION: "2026-03-02T12:00:00Z"},
            },
            "status": {"phase": "SUCCESS", "completionTime": "2026-03-02T12:00:09.120Z"},
        }
    )
    assert child.succeeded and child.finished and child.scheduled_at == T0
    assert child.finished_at == T0 + timedelta(seconds=9, milliseconds=120)
    assert not scheduling.child_of({"metadata": {"name": "x"}, "status": {"phase": "?"}}).finished


def test_the_same_event_twice_has_the_same_name() -> None:
    event = scheduling.Event("Normal", "ExecutionAlreadyActive", "blocked")
    first = scheduling.event_body("ns", "tick", "u", event, 1.0)
    assert first == scheduling.event_body("ns", "tick", "u", event, 1.0)
    assert (
        first["metadata"]["name"]
        == scheduling.event_body("ns", "tick", "u", event, 9.0)["metadata"]["name"]
    )
    other = scheduling.Event("Normal", "ExecutionAlreadyActive", "blocked again")
    assert (
        scheduling.event_body("ns", "tick", "u", other, 1.0)["metadata"]["name"]
        != first["metadata"]["name"]
    )
