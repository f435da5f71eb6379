"""A cron expression in a time zone: the times it names. Pure (no clock of its own).

The grammar is CronJob's standard one: five fields (minute, hour, day of month,
month, day of week) with `*`, lists, ranges, steps and month/day names, or one
of `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`,
`@hourly`. A seconds field, Jenkins' `H` and a `TZ=`/`CRON_TZ=` prefix are
refused with a clear message (the zone is `spec.timeZone`, as in CronJob).

The arithmetic is croniter's, in the schedule's own zone (zoneinfo), so "02:30
every day in Europe/Berlin" follows daylight saving time; every time returned
is an aware datetime in UTC.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
FIELD = re.compile(r"^[0-9A-Za-z*?,/\-]+$")
HASHED = re.compile(r"(^|[,\-/])H($|[,\-/(])")


class InvalidSchedule(ValueError):
    """The schedule or its time zone cannot be used; the message says why."""


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule; build it with :func:`parse`."""

    expression: str
    zone: zoneinfo.ZoneInfo

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled time strictly after `moment`."""
        it = croniter(self.expression, moment.astimezone(self.zone))
        found: datetime = it.get_next(datetime)
        return found.astimezone(UTC)

    def latest_until(self, moment: datetime) -> datetime:
        """The last scheduled time at or before `moment`."""
        # croniter's get_prev excludes its start: start just after `moment`.
        it = croniter(self.expression, (moment + timedelta(seconds=1)).astimezone(self.zone))
        while True:
            found: datetime = it.get_prev(datetime)
            if found <= moment:
                return found.astimezone(UTC)

    def due_between(
        self, after: datetime, until: datetime, limit: int
    ) -> tuple[datetime | None, int]:
        """The latest scheduled time in (after, until] and how many there are.

        Counting stops past `limit` (the count is then `limit + 1`), so a schedule
        last run a year ago costs `limit` steps, not a year of minutes.
        """
        if until <= after:
            return None, 0
        latest: datetime | None = None
        count = 0
        moment = after
        while count <= limit:
            moment = self.next_after(moment)
            if moment > until:
                return latest, count
            latest, count = moment, count + 1
        return self.latest_until(until), count


def parse(expression: str, time_zone: str | None) -> CronSchedule:
    """The schedule, or :class:`InvalidSchedule` saying what is wrong with it."""
    text = " ".join(expression.split())
    if re.match(r"^(CRON_)?TZ=", text):
        raise InvalidSchedule(
            f"schedule {expression!r}: set the time zone in spec.timeZone, not in the schedule"
        )
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise InvalidSchedule(
                f"schedule {expression!r}: unknown descriptor; one of {', '.join(sorted(MACROS))}"
            )
        text = text.lower()
    else:
        fields = text.split(" ")
        if len(fields) != 5:
            raise InvalidSchedule(
                f"schedule {expression!r} has {len(fields)} fields; standard cron has five:"
                " minute hour day-of-month month day-of-week"
            )
        bad = [f for f in fields if not FIELD.match(f) or HASHED.search(f)]
        if bad:
            raise InvalidSchedule(f"schedule {expression!r}: cannot read {', '.join(bad)}")
        if not croniter.is_valid(text):
            raise InvalidSchedule(f"schedule {expression!r} is not a valid cron expression")
    try:
        zone = zoneinfo.ZoneInfo(time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(f"unknown time zone {time_zone!r} (an IANA name)") from exc
    schedule = CronSchedule(text, zone)
    try:  # croniter accepts some expressions that never match (February 30th)
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except Exception as exc:
        raise InvalidSchedule(f"schedule {expression!r} never matches: {exc}") from exc
    return schedule
