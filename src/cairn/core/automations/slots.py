"""The instants an automation's schedule fires at, in its time zone: pure arithmetic.

A **slot** is one scheduled firing; its identity is its instant in UTC (an aware datetime
with `tzinfo=UTC`), so the same slot has the same identity whatever zone it was computed
in, across restarts and daylight-saving changes. Nothing here reads the clock: every
function takes the times it works on.

The rules (docs/automations.md, "Time zones and daylight saving", says the same):

* **Cron** fields match the wall-clock time in the automation's zone.
  - A wall time that happens twice (the repeated hour when clocks go back) fires once, at
    its first occurrence (`fold=0`).
  - A wall time that does not exist (the hour skipped when clocks go forward) fires once,
    at the first instant after the gap: `30 2 * * *` runs at 03:00 on the night New York
    springs forward. Several skipped wall times (`*/15` across the gap) and the slot at the
    end of the gap are all that one instant, so it fires once.
* **Every N** is fixed elapsed time, counted from the anchor: midnight (wall time) of
  Monday 1 January 2001 in the automation's zone. The anchor needs no stored state, so the
  slots are the same after every restart, reinstall or copy of the workspace, and it puts
  `every 30 minutes` on :00 and :30, `every 2 hours` on even hours, `every day` at
  midnight and `every week` on Mondays (in the zone's offset of January 2001: winter time
  in the north). Intervals do not follow clock changes: `every day` runs at 01:00 during
  New York's summer time; use cron `0 0 * * *` to follow the wall clock.
* **Once** is one slot: its wall time, resolved by the cron rules above.
"""

from __future__ import annotations

import functools
import itertools
import math
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from cairn.core.workspace.schedule import CronSchedule, IntervalSchedule, OnceSchedule, Schedule

__all__ = [
    "INTERVAL_ANCHOR",
    "NEXT_SLOT_HORIZON",
    "instant_of",
    "interval_anchor",
    "next_slot",
    "resolve_zone",
    "schedule_period",
    "slots",
]

INTERVAL_ANCHOR = datetime(2001, 1, 1)  # a Monday; wall time in the automation's zone
"""Where `every N` schedules count from (see the module's docstring)."""
NEXT_SLOT_HORIZON = timedelta(days=366 * 10)
"""How far `next_slot` looks: a cron that matches no day in ten years (`0 0 30 2 *`)
never fires. February 29th recurs at most eight years apart (2096 → 2104)."""

_DAY = timedelta(days=1)


def resolve_zone(zone: tzinfo | str) -> tzinfo:
    """A tzinfo, or an IANA name. `local` is the machine's zone, which only the caller can
    find (infra's `triggers.zone`): pass it resolved."""
    if isinstance(zone, tzinfo):
        return zone
    if zone == "local":
        raise ValueError("resolve 'local' to the machine's zone before computing slots")
    return ZoneInfo(zone)


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone), not {value!r}")
    return value


def instant_of(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant a naive wall time in `zone` fires at: its first occurrence when it
    happens twice, the end of the gap when it does not exist."""
    wall = wall.replace(tzinfo=None, fold=0)
    first = _offset(zone, wall)
    second = _offset(zone, wall.replace(fold=1))
    if first >= second:  # unambiguous (equal), or repeated: fold=0 is the first occurrence
        return (wall - first).replace(tzinfo=UTC)
    return _gap_end(wall, zone, before=first, after=second)


def _offset(zone: tzinfo, wall: datetime) -> timedelta:
    """The zone's offset at a naive wall time (its fold says which pass of a repeated
    hour); tzinfo implementations read only the fields, so no aware copy is needed."""
    offset = zone.utcoffset(wall)
    if offset is None:
        raise ValueError(f"time zone {zone!r} gives no UTC offset")
    return offset


def _offset_at(instant: datetime, zone: tzinfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _gap_end(wall: datetime, zone: tzinfo, *, before: timedelta, after: timedelta) -> datetime:
    """The transition instant of the gap `wall` falls in (PEP 495: in a gap, fold=0 reads
    the offset before the change, fold=1 the one after). It lies in (wall - after,
    wall - before]; zone transitions fall on whole seconds, so bisect to the second."""
    low = (wall - after).replace(tzinfo=UTC, microsecond=0)  # before the change
    lo = 0  # seconds after `low`: the offset there is `before`; at `hi` it is `after`
    hi = math.ceil((wall - before - low.replace(tzinfo=None)).total_seconds())
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if _offset_at(low + timedelta(seconds=middle), zone) == before:
            lo = middle
        else:
            hi = middle
    return low + timedelta(seconds=hi)


def _local_wall(instant: datetime, zone: tzinfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


# -- cron ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _times_of_day(cron: CronSchedule) -> tuple[tuple[tuple[int, int], ...], tuple[timedelta, ...]]:
    """The (hour, minute) wall times of a matching day, in order, and the same as time
    since midnight."""
    times = tuple(sorted((h, m) for h in cron.hours for m in cron.minutes))
    return times, tuple(timedelta(hours=h, minutes=m) for h, m in times)


def _day_matches(cron: CronSchedule, day: date) -> bool:
    in_month = day.day in cron.days_of_month
    in_week = day.isoweekday() % 7 in cron.days_of_week
    if cron.day_of_month_restricted and cron.day_of_week_restricted:
        return in_month or in_week  # classic cron: either restriction is enough
    return in_month and in_week  # an unrestricted field holds every value


def _matching_days(cron: CronSchedule, first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        if day.month not in cron.months:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            continue
        if _day_matches(cron, day):
            yield day
        day += _DAY


def _cron_instants(
    cron: CronSchedule, zone: tzinfo, start: datetime, last_day: date
) -> Iterator[datetime]:
    """Instants of walls at or after `start`'s wall time, in order (never decreasing: the
    wall → instant map is monotonic), up to the walls of `last_day`."""
    times, since_midnight = _times_of_day(cron)
    if not times:
        return
    from_wall = _local_wall(start, zone)
    first_day = from_wall.date()
    past_minute = from_wall.second > 0 or from_wall.microsecond > 0
    first_time = (from_wall.hour, from_wall.minute + int(past_minute))
    for day in _matching_days(cron, first_day, last_day):
        begin = bisect_left(times, first_time) if day == first_day else 0
        midnight = datetime(day.year, day.month, day.day)
        offset = _offset(zone, midnight)
        if offset == _offset(zone, midnight + _DAY):
            # No clock change on this day: tzdata never changes a zone's offset twice
            # within 48 hours (checked for every zone since 1900), so equal offsets at
            # both midnights mean one offset for every wall time of the day.
            base = (midnight - offset).replace(tzinfo=UTC)
            for delta in since_midnight[begin:]:
                yield base + delta
        else:
            for hour, minute in times[begin:]:
                yield instant_of(datetime(day.year, day.month, day.day, hour, minute), zone)


# The walls of a day can land up to a day later (Samoa skipped 30 December 2011): look
# that many days past the end wall for instants still inside the range.
_SPILL = timedelta(days=3)


def _cron_slots(cron: CronSchedule, zone: tzinfo, start: datetime, end: datetime) -> list[datetime]:
    # Walls before start's own wall time map to instants at or before start (the map is
    # monotonic and a real wall's first occurrence is never later than the instant), so
    # generation can begin there and stop at the first instant past the end.
    last_day = (_local_wall(end, zone) + _SPILL).date()
    found: list[datetime] = []
    for instant in _cron_instants(cron, zone, start, last_day):
        if instant > end:
            break
        if instant > start and (not found or instant != found[-1]):
            found.append(instant)
    return found


# -- every N -------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def interval_anchor(zone: tzinfo) -> datetime:
    """The instant `every N` schedules in `zone` count from."""
    return instant_of(INTERVAL_ANCHOR, zone)


def _interval_slots(
    every: timedelta, zone: tzinfo, start: datetime, end: datetime
) -> list[datetime]:
    anchor = interval_anchor(zone)
    first = (start - anchor) // every + 1
    last = (end - anchor) // every
    return [anchor + k * every for k in range(first, last + 1)]


# -- the public functions ------------------------------------------------------------


def slots(schedule: Schedule, zone: tzinfo | str, start: datetime, end: datetime) -> list[datetime]:
    """Every slot in (start, end], oldest first, as UTC instants; `start` and `end` must be
    aware. The range is open at the start so consecutive ranges never share a slot."""
    tz = resolve_zone(zone)
    start = _aware("start", start).astimezone(UTC)
    end = _aware("end", end).astimezone(UTC)
    if end <= start:
        return []
    if isinstance(schedule, IntervalSchedule):
        return _interval_slots(schedule.every, tz, start, end)
    if isinstance(schedule, OnceSchedule):
        at = instant_of(schedule.at, tz)
        return [at] if start < at <= end else []
    return _cron_slots(schedule, tz, start, end)


def next_slot(schedule: Schedule, zone: tzinfo | str, after: datetime) -> datetime | None:
    """The first slot strictly after `after` (aware), in UTC; None when there is none: a
    `once` in the past, or a cron matching no day within `NEXT_SLOT_HORIZON`."""
    tz = resolve_zone(zone)
    after = _aware("after", after).astimezone(UTC)
    if isinstance(schedule, IntervalSchedule):
        anchor = interval_anchor(tz)
        return anchor + ((after - anchor) // schedule.every + 1) * schedule.every
    if isinstance(schedule, OnceSchedule):
        at = instant_of(schedule.at, tz)
        return at if at > after else None
    last_day = (_local_wall(after, tz) + NEXT_SLOT_HORIZON).date()
    for instant in _cron_instants(schedule, tz, after, last_day):
        if instant > after:
            return instant
    return None


def schedule_period(schedule: Schedule) -> timedelta | None:
    """The shortest time between two slots, in wall-clock terms (no clock changes): what
    the default catch-up rule goes by. None for `once`, and for a cron matching fewer than
    two days in eight years."""
    if isinstance(schedule, IntervalSchedule):
        return schedule.every
    if isinstance(schedule, OnceSchedule):
        return None
    return _cron_period(schedule)


@functools.lru_cache(maxsize=1024)
def _cron_period(cron: CronSchedule) -> timedelta | None:
    minutes = [h * 60 + m for h, m in _times_of_day(cron)[0]]
    if not minutes:
        return None
    within = min((b - a for a, b in itertools.pairwise(minutes)), default=None)
    # Eight years from 2001 hold every weekday/date combination a gap between matching days
    # can depend on, and a February 29th.
    days = list(_matching_days(cron, date(2001, 1, 1), date(2008, 12, 31)))
    day_gap = min(((b - a).days for a, b in itertools.pairwise(days)), default=None)
    across = None if day_gap is None else day_gap * 1440 - minutes[-1] + minutes[0]
    gaps = [g for g in (within, across) if g is not None]
    return timedelta(minutes=min(gaps)) if gaps else None
