"""Automation schedules as APScheduler 3 triggers, and their next fire times."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from cairn.core.workspace.schedule import CronSchedule, IntervalSchedule, OnceSchedule, Schedule

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def zone(name: str) -> tzinfo:
    """`local` is the machine's zone (as APScheduler itself finds it)."""
    if name == "local":
        import tzlocal

        return tzlocal.get_localzone()
    return ZoneInfo(name)


def to_trigger(schedule: Schedule, timezone: str) -> BaseTrigger:
    tz = zone(timezone)
    if isinstance(schedule, IntervalSchedule):
        return IntervalTrigger(seconds=int(schedule.every.total_seconds()), timezone=tz)
    if isinstance(schedule, OnceSchedule):
        return DateTrigger(run_date=schedule.at, timezone=tz)
    return _cron_trigger(schedule, tz)


def _cron_trigger(schedule: CronSchedule, tz: tzinfo) -> BaseTrigger:
    def join(values: frozenset[int]) -> str:
        return ",".join(str(v) for v in sorted(values))

    common = {
        "minute": join(schedule.minutes),
        "hour": join(schedule.hours),
        "month": join(schedule.months),
        "timezone": tz,
    }
    # Named days: APScheduler counts weekdays from Monday, classic cron from Sunday.
    days = ",".join(_DAY_NAMES[d] for d in sorted(schedule.days_of_week))
    by_date = CronTrigger(day=join(schedule.days_of_month), **common)
    by_weekday = CronTrigger(day_of_week=days, **common)
    if schedule.day_of_month_restricted and schedule.day_of_week_restricted:
        # Classic cron: either restriction matching is enough (APScheduler alone ANDs them).
        return OrTrigger([by_date, by_weekday])
    if schedule.day_of_week_restricted:
        return by_weekday
    return by_date


def next_fire_time(schedule: Schedule, timezone: str, now: datetime) -> datetime | None:
    when: datetime | None = to_trigger(schedule, timezone).get_next_fire_time(None, now)
    return when
