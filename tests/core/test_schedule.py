from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cairn.core.workspace.schedule import (
    CronSchedule,
    IntervalSchedule,
    OnceSchedule,
    ScheduleError,
    parse_schedule,
    validate_timezone,
)


def test_cron_fields_names_ranges_steps() -> None:
    s = parse_schedule("*/15 9-17 1,15 jan-mar mon-fri")
    assert isinstance(s, CronSchedule)
    assert s.minutes == {0, 15, 30, 45}
    assert s.hours == set(range(9, 18))
    assert s.days_of_month == {1, 15}
    assert s.months == {1, 2, 3}
    assert s.days_of_week == {1, 2, 3, 4, 5}
    assert s.day_of_month_restricted and s.day_of_week_restricted


def test_cron_sunday_is_0_and_7_and_start_step() -> None:
    assert parse_schedule("0 0 * * 7").days_of_week == {0}
    assert parse_schedule("0 0 * * sun").days_of_week == {0}
    assert parse_schedule("5/20 * * * *").minutes == {5, 25, 45}


@pytest.mark.parametrize("macro", ["@daily", "@hourly", "@weekly", "@monthly", "@yearly"])
def test_cron_macros(macro: str) -> None:
    assert isinstance(parse_schedule(macro), CronSchedule)


@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("every 30 minutes", timedelta(minutes=30)),
        ("every 2 hours", timedelta(hours=2)),
        ("every day", timedelta(days=1)),
        ("Every 3 Days", timedelta(days=3)),
        ("every week", timedelta(weeks=1)),
    ],
)
def test_every(text: str, every: timedelta) -> None:
    s = parse_schedule(text)
    assert isinstance(s, IntervalSchedule)
    assert s.every == every


def test_once() -> None:
    s = parse_schedule("once 2026-12-01 09:00")
    assert isinstance(s, OnceSchedule)
    assert s.at == datetime(2026, 12, 1, 9, 0)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("61 * * * *", "minute field"),
        ("* 24 * * *", "hour field"),
        ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month field"),
        ("* * * * 8", "day of week"),
        ("* * * *", "5 fields"),
        ("*/0 * * * *", "step"),
        ("5-1 * * * *", "backwards"),
        ("every 0 minutes", "at least 1"),
        ("every fortnight", "cannot read interval"),
        ("every 1000 days", "longer than a year"),
        ("once tomorrow", "cannot read the time"),
        ("once 2026-12-01T09:00+02:00", "UTC offset"),
        ("", "empty"),
        ("daily at nine", "5 fields"),
    ],
)
def test_bad_schedules_say_what_and_how(text: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert fragment in str(caught.value)
    assert caught.value.fix


def test_timezones() -> None:
    assert validate_timezone("local") == "local"
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"
    with pytest.raises(ScheduleError):
        validate_timezone("Mars/Olympus")
    with pytest.raises(ScheduleError):
        validate_timezone("../etc/passwd")
