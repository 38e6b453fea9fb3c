"""Automation schedules: cron, every N units, or once at a time; parsed and validated.

The scheduler (a later, infra-side part) turns these into APScheduler triggers. Parsing
lives here so `cairn check` can reject a bad schedule without importing a scheduler.

Cron uses the classic 5-field semantics: day-of-week 0 or 7 is Sunday, and when both
day-of-month and day-of-week are restricted a day matches if *either* does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cairn.core.errors import CairnError


class ScheduleError(CairnError):
    """A schedule that cannot be understood; `fix` says how to write it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_UNITS = {
    "minute": "minutes",
    "minutes": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "hour": "hours",
    "hours": "hours",
    "h": "hours",
    "day": "days",
    "days": "days",
    "d": "days",
    "week": "weeks",
    "weeks": "weeks",
}
_EVERY = re.compile(r"^every\s+(?:(\d+)\s*)?([a-z]+)$")
_ONCE = re.compile(r"^(?:once|at)\s+(.+)$")
CRON_HELP = (
    "write five fields 'minute hour day-of-month month day-of-week', e.g. '30 7 * * mon-fri'; "
    "or 'every 2 hours'; or 'once 2026-12-01 09:00'"
)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    day_of_month_restricted: bool
    day_of_week_restricted: bool

    def describe(self) -> str:
        return f"cron '{self.expression}'"


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    expression: str
    every: timedelta

    def describe(self) -> str:
        return self.expression


@dataclass(frozen=True, slots=True)
class OnceSchedule:
    expression: str
    at: datetime  # naive: wall-clock time in the automation's timezone

    def describe(self) -> str:
        return f"once at {self.at.isoformat(sep=' ', timespec='minutes')}"


Schedule = CronSchedule | IntervalSchedule | OnceSchedule


def parse_schedule(expression: str) -> Schedule:
    """Parse the `schedule:` value of an automation, or raise ScheduleError."""
    text = " ".join(expression.strip().lower().split())
    if not text:
        raise ScheduleError("schedule is empty", CRON_HELP)
    if text.startswith("every"):
        return _parse_every(expression.strip(), text)
    once = _ONCE.match(text)
    if once:
        return _parse_once(expression.strip(), once.group(1))
    return _parse_cron(expression.strip(), _MACROS.get(text, text))


def validate_timezone(name: str) -> str:
    """`local` or an IANA zone name such as `Europe/Berlin`; raise ScheduleError otherwise."""
    if name == "local":
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"unknown timezone '{name}'",
            "use 'local' or an IANA zone name such as 'Europe/Berlin' or 'America/New_York'",
        ) from exc
    return name


def _parse_every(original: str, text: str) -> IntervalSchedule:
    match = _EVERY.match(text)
    unit = _UNITS.get(match.group(2)) if match else None
    if match is None or unit is None:
        raise ScheduleError(
            f"cannot read interval '{original}'",
            "write 'every N minutes', 'every N hours' or 'every N days', e.g. 'every 30 minutes'",
        )
    count = int(match.group(1) or 1)
    if count < 1:
        raise ScheduleError(f"interval '{original}' must be at least 1", "use a count of 1 or more")
    every = timedelta(**{unit: count})
    if every > timedelta(days=366):
        raise ScheduleError(
            f"interval '{original}' is longer than a year",
            "use a cron expression or 'once' for rare jobs",
        )
    return IntervalSchedule(original, every)


def _parse_once(original: str, when: str) -> OnceSchedule:
    try:
        at = datetime.fromisoformat(when.strip().upper().replace(" ", "T", 1))
    except ValueError as exc:
        raise ScheduleError(
            f"cannot read the time in '{original}'",
            "write 'once YYYY-MM-DD HH:MM', e.g. 'once 2026-12-01 09:00' (the automation's "
            "timezone applies)",
        ) from exc
    if at.tzinfo is not None:
        raise ScheduleError(
            f"'{original}' carries a UTC offset",
            "drop the offset and set 'timezone:' on the automation instead",
        )
    return OnceSchedule(original, at)


def _parse_cron(original: str, text: str) -> CronSchedule:
    fields = text.split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            f"'{original}' is not a schedule: a cron expression has 5 fields, this has "
            f"{len(fields)}",
            CRON_HELP,
        )
    values = [
        _parse_field(field, name, low, high, names)
        for field, (name, low, high, names) in zip(fields, _FIELDS, strict=True)
    ]
    days_of_week = frozenset(d % 7 for d in values[4])
    return CronSchedule(
        expression=original,
        minutes=values[0],
        hours=values[1],
        days_of_month=values[2],
        months=values[3],
        days_of_week=days_of_week,
        day_of_month_restricted=fields[2] != "*",
        day_of_week_restricted=fields[4] != "*",
    )


def _parse_field(
    field: str, name: str, low: int, high: int, names: dict[str, int]
) -> frozenset[int]:
    result: set[int] = set()
    for item in field.split(","):
        step = 1
        has_step = "/" in item
        part = item
        if has_step:
            part, _, step_text = item.partition("/")
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(
                    f"{name} field: step '/{step_text}' must be a positive number",
                    "write a step like '*/15'",
                )
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, _, last = part.partition("-")
            start, end = _value(first, name, low, high, names), _value(last, name, low, high, names)
            if start > end:
                raise ScheduleError(
                    f"{name} field: range '{part}' runs backwards",
                    f"write the smaller value first, e.g. '{last}-{first}' is wrong, "
                    f"'{first}-{high}' may be meant",
                )
        else:
            start = _value(part, name, low, high, names)
            end = high if has_step else start  # '5/15' means 5, 20, 35, 50
        result.update(range(start, end + 1, step))
    return frozenset(result)


def _value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if text.isdigit() and low <= int(text) <= high:
        return int(text)
    allowed = f"{low}-{high}" + (f" or names like {next(iter(names))}" if names else "")
    raise ScheduleError(f"{name} field: '{text}' is not allowed", f"use {allowed}")
