"""The cron grammar the operator accepts (CronJob's standard one) and the times it names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kuberun_operator import cronschedule

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    ["*/1 * * * *", "0 3 * * MON-FRI", "15,45 */2 1 JAN,JUL *", "@hourly", "@Daily", "0 0 * * 0"],
)
def test_standard_cron_is_accepted(expression: str) -> None:
    cronschedule.parse(expression, None)


@pytest.mark.parametrize(
    ("expression", "zone", "says"),
    [
        ("* * * *", None, "has 4 fields"),
        ("*/5 * * * * *", None, "has 6 fields"),
        ("61 * * * *", None, "not a valid cron expression"),
        ("H * * * *", None, "cannot read H"),
        ("CRON_TZ=UTC 0 * * * *", None, "spec.timeZone"),
        ("@every 5m", None, "unknown descriptor"),
        ("0 0 30 2 *", None, "never matches"),
        ("0 * * * *", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_what_is_refused_says_why(expression: str, zone: str | None, says: str) -> None:
    with pytest.raises(cronschedule.InvalidSchedule, match=says):
        cronschedule.parse(expression, zone)


def test_next_and_latest_are_strict_and_inclusive() -> None:
    every = cronschedule.parse("*/1 * * * *", None)
    assert every.next_after(T0) == T0 + timedelta(minutes=1)
    assert every.next_after(T0 - timedelta(microseconds=1)) == T0
    assert every.latest_until(T0) == T0
    assert every.latest_until(T0 + timedelta(seconds=59.9)) == T0


def test_due_between_counts_and_stops_past_the_limit() -> None:
    every = cronschedule.parse("*/1 * * * *", None)
    assert every.due_between(T0, T0 + timedelta(seconds=59), 100) == (None, 0)
    assert every.due_between(T0, T0 + timedelta(minutes=3), 100) == (T0 + timedelta(minutes=3), 3)
    latest, count = every.due_between(T0, T0 + timedelta(days=1, seconds=5), 100)
    assert latest == T0 + timedelta(days=1) and count == 101


def test_times_are_in_the_zone_and_returned_in_utc() -> None:
    noon = cronschedule.parse("0 12 * * *", "America/New_York")
    found = noon.next_after(T0)
    assert found.tzinfo == UTC and found == datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
