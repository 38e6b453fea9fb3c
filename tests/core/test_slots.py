"""Slots, daylight saving and missed runs: the pure schedule logic, against a fake clock.

Cron slots are checked against a brute-force reference that steps through every UTC
minute and reads the wall clock (written independently of `slots`), across
spring-forward and fall-back in several zones; a seeded simulation drives 100 automations
through sleeps, restarts and clock changes and checks that every slot is handled exactly
once, with catch-ups exactly as the rule says.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cairn.core.automations import (
    CATCH_UP_TRIGGER,
    MAX_CATCH_UP_RUNS,
    CatchUp,
    MissedPlan,
    Timing,
    catch_up_rule,
    instant_of,
    interval_anchor,
    next_slot,
    plan_missed,
    schedule_period,
    slots,
    wall_clock_jump,
)
from cairn.core.workspace.schedule import CronSchedule, parse_schedule
from cairn.core.workspace.schema import AutomationMeta, CatchUpSetting

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ZONES = ["Europe/London", "America/New_York", "Australia/Adelaide", "Asia/Kolkata"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(slot: datetime, zone: str) -> datetime:
    return slot.astimezone(ZoneInfo(zone))


# -- an independent reference: every UTC minute, read on the wall clock ----------------


def _wall_matches(cron: CronSchedule, wall: datetime) -> bool:
    weekday = (wall.weekday() + 1) % 7  # Monday is 1 in cron, 0 in Python
    by_date = wall.day in cron.days_of_month
    by_weekday = weekday in cron.days_of_week
    if cron.day_of_month_restricted and cron.day_of_week_restricted:
        day_ok = by_date or by_weekday
    elif cron.day_of_month_restricted:
        day_ok = by_date
    elif cron.day_of_week_restricted:
        day_ok = by_weekday
    else:
        day_ok = True
    return (
        day_ok
        and wall.month in cron.months
        and wall.hour in cron.hours
        and wall.minute in cron.minutes
    )


def reference_cron(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """A minute fires when its wall time matches and is not the second pass of a repeated
    hour, or when the wall clock jumped over a matching wall time just before it."""
    cron = parse_schedule(expression)
    assert isinstance(cron, CronSchedule)
    tz = ZoneInfo(zone)
    found = []
    instant = start.replace(second=0, microsecond=0) + MINUTE
    previous = (instant - MINUTE).astimezone(tz).replace(tzinfo=None)
    while instant <= end:
        here = instant.astimezone(tz)
        wall = here.replace(tzinfo=None, fold=0)
        fires = here.fold == 0 and _wall_matches(cron, wall)
        skipped = previous + MINUTE
        while not fires and skipped < wall:  # wall times the clock jumped over
            fires = _wall_matches(cron, skipped)
            skipped += MINUTE
        if fires:
            found.append(instant)
        previous = wall
        instant += MINUTE
    return found


def transitions(zone: str, years: range) -> list[date]:
    """Days on which the zone's UTC offset changes."""
    tz = ZoneInfo(zone)
    days = []
    day = date(years.start, 1, 1)
    while day.year < years.stop:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz)
        if noon.utcoffset() != (noon + DAY).utcoffset():
            days.append(day + DAY)
        day += DAY
    return days


# -- cron across daylight saving --------------------------------------------------------

CRONS = ["0 * * * *", "30 1 * * *", "30 2 * * *", "*/15 * * * *", "45 0-3 * * *"]
ZONE_TRANSITIONS = [
    ("Europe/London", date(2026, 3, 29)),
    ("Europe/London", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Australia/Adelaide", date(2026, 4, 5)),
    ("Australia/Adelaide", date(2026, 10, 4)),
    ("Australia/Lord_Howe", date(2026, 4, 5)),  # a half-hour change
    ("Asia/Kolkata", date(2026, 3, 8)),  # no daylight saving: the contrast
]


@pytest.mark.parametrize(("zone", "day"), ZONE_TRANSITIONS)
@pytest.mark.parametrize("expression", CRONS)
def test_cron_across_a_clock_change_matches_the_reference(
    expression: str, zone: str, day: date
) -> None:
    start = (datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)) - DAY).astimezone(UTC)
    end = start + 3 * DAY
    found = slots(parse_schedule(expression), zone, start, end)
    assert found == reference_cron(expression, zone, start, end)
    assert found == sorted(set(found)), "no instant twice"
    walls = Counter(local(s, zone).replace(tzinfo=None, fold=0) for s in found)
    assert max(walls.values()) == 1, "each wall time at most once"
    assert all(s.tzinfo is UTC for s in found)


def test_new_york_spring_forward_runs_the_skipped_time_at_the_end_of_the_gap() -> None:
    zone = "America/New_York"
    daily = slots(parse_schedule("30 2 * * *"), zone, utc(2026, 3, 7), utc(2026, 3, 10))
    assert daily == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]
    assert local(daily[1], zone).strftime("%H:%M %Z") == "03:00 EDT"
    change_day = (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))  # local midnight to midnight
    hourly = slots(parse_schedule("0 * * * *"), zone, *change_day)
    assert len(hourly) == 23  # 02:00 does not exist; it and 03:00 are one instant
    quarter = slots(parse_schedule("*/15 * * * *"), zone, *change_day)
    assert len(quarter) == 23 * 4 and len(set(quarter)) == len(quarter)


def test_new_york_fall_back_runs_the_repeated_hour_once() -> None:
    zone = "America/New_York"
    daily = slots(parse_schedule("30 1 * * *"), zone, utc(2026, 10, 31), utc(2026, 11, 3))
    assert daily[1] == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first pass
    assert [b - a for a, b in itertools.pairwise(daily)] == [DAY, DAY + HOUR]
    change_day = (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))  # 25 hours
    assert len(slots(parse_schedule("0 * * * *"), zone, *change_day)) == 24
    assert len(slots(parse_schedule("every 1 hour"), zone, *change_day)) == 25


def test_london_and_adelaide_change_nights() -> None:
    london, adelaide = "Europe/London", "Australia/Adelaide"
    spring = slots(parse_schedule("30 1 * * *"), london, utc(2026, 3, 29), utc(2026, 3, 30))
    assert spring == [utc(2026, 3, 29, 1, 0)]  # 01:30 GMT does not exist: 02:00 BST
    autumn = slots(parse_schedule("30 1 * * *"), london, utc(2026, 10, 25), utc(2026, 10, 26))
    assert autumn == [utc(2026, 10, 25, 0, 30)]  # 01:30 BST, not 01:30 GMT as well
    gap = slots(parse_schedule("30 2 * * *"), adelaide, utc(2026, 10, 3), utc(2026, 10, 4))
    assert [local(s, adelaide).strftime("%m-%d %H:%M %z") for s in gap] == ["10-04 03:00 +1030"]
    repeat = slots(parse_schedule("30 2 * * *"), adelaide, utc(2026, 4, 4), utc(2026, 4, 5))
    assert [local(s, adelaide).strftime("%H:%M %z") for s in repeat] == ["02:30 +1030"]


def test_kolkata_has_no_change_to_handle() -> None:
    zone = "Asia/Kolkata"
    found = slots(parse_schedule("30 2 * * *"), zone, utc(2026, 1, 1), utc(2027, 1, 1))
    assert len(found) == 365
    assert {(s.hour, s.minute) for s in found} == {(21, 0)}
    half_hourly = slots(parse_schedule("every 30 minutes"), zone, utc(2026, 1, 1), utc(2026, 1, 2))
    assert {local(s, zone).minute for s in half_hourly} == {0, 30}


def test_a_skipped_day_samoa_2011() -> None:
    zone = "Pacific/Apia"  # 30 December 2011 never happened there
    found = slots(parse_schedule("0 12 * * *"), zone, utc(2011, 12, 28), utc(2012, 1, 2))
    assert found == reference_cron("0 12 * * *", zone, utc(2011, 12, 28), utc(2012, 1, 2))
    walls = [local(s, zone).strftime("%m-%d %H:%M") for s in found]
    assert walls == [
        "12-28 12:00",
        "12-29 12:00",
        "12-31 00:00",  # 30 December's noon, at the first instant after the gap
        "12-31 12:00",
        "01-01 12:00",
        "01-02 12:00",
    ]


def test_classic_cron_day_rules_and_rare_crons() -> None:
    either = parse_schedule("0 9 13 * fri")  # the 13th, or any Friday
    found = slots(either, "UTC", utc(2026, 2, 1), utc(2026, 3, 1))
    assert [s.day for s in found] == [6, 13, 20, 27]
    leap = parse_schedule("0 0 29 2 *")
    assert next_slot(leap, "UTC", utc(2096, 3, 1)) == utc(2104, 2, 29)
    assert next_slot(parse_schedule("0 0 30 2 *"), "UTC", utc(2026, 1, 1)) is None
    yearly = slots(parse_schedule("@yearly"), "Europe/London", utc(2000, 1, 1), utc(2100, 1, 1))
    assert len(yearly) == 100  # 2001-2100: 2000's is the (open) start, 2100's the end


def _near_transition(data: st.DataObject) -> tuple[str, datetime]:
    zone = data.draw(st.sampled_from([*ZONES, "Australia/Lord_Howe", "America/Santiago"]))
    day = data.draw(st.sampled_from(_TRANSITIONS[zone] or [date(2027, 6, 1)]))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return zone, start + timedelta(minutes=data.draw(st.integers(-3 * 1440, 1440)))


_TRANSITIONS = {
    z: transitions(z, range(2025, 2031))
    for z in [*ZONES, "Australia/Lord_Howe", "America/Santiago"]
}
_FIELD = st.lists(st.integers(0, 59), min_size=1, max_size=3, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_cron_equals_the_reference_near_clock_changes(data: st.DataObject) -> None:
    minutes = ",".join(map(str, data.draw(_FIELD)))
    hours = data.draw(st.sampled_from(["*", "0-3", "1,2", "2", "*/5", "23,0"]))
    days = data.draw(st.sampled_from(["* * *", "* * sun", "1-15 * *", "* * mon-fri"]))
    expression = f"{minutes} {hours} {days}"
    zone, start = _near_transition(data)
    end = start + timedelta(hours=data.draw(st.integers(1, 72)))
    schedule = parse_schedule(expression)
    found = slots(schedule, zone, start, end)
    assert found == reference_cron(expression, zone, start, end)
    # next_slot walks the same slots, one by one.
    walked, at = [], start
    while (following := next_slot(schedule, zone, at)) is not None and following <= end:
        walked.append(following)
        at = following
    assert walked == found


# -- every N and once ------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("every", ["every 15 minutes", "every 1 hour", "every 7 hours"])
def test_intervals_are_elapsed_time_from_the_anchor(zone: str, every: str) -> None:
    schedule = parse_schedule(every)
    step = schedule_period(schedule)
    assert step is not None
    anchor = interval_anchor(ZoneInfo(zone))
    assert anchor == datetime(2001, 1, 1, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    start = utc(2026, 3, 1, 0, 7, 30)
    found = slots(schedule, zone, start, start + 300 * DAY)  # across both changes
    assert all(b - a == step for a, b in itertools.pairwise(found))
    assert all((s - anchor) % step == timedelta(0) for s in found)
    assert found[0] - step <= start < found[0]
    # The same slots from any starting point: nothing depends on when Cairn started.
    later = slots(schedule, zone, found[40] - MINUTE, found[80])
    assert later == found[40:81]


def test_interval_wall_times() -> None:
    ny = "America/New_York"
    daily = slots(parse_schedule("every day"), ny, utc(2026, 1, 1), utc(2026, 8, 1))
    assert {local(s, ny).hour for s in daily} == {0, 1}  # midnight EST, 01:00 EDT
    weekly = slots(parse_schedule("every week"), "Europe/London", utc(2026, 1, 1), utc(2026, 3, 1))
    assert {s.weekday() for s in weekly} == {0}  # Mondays
    hours = slots(parse_schedule("every 2 hours"), "Asia/Kolkata", utc(2026, 1, 1), utc(2026, 1, 2))
    assert {local(s, "Asia/Kolkata").hour % 2 for s in hours} == {0}
    assert {local(s, "Asia/Kolkata").minute for s in hours} == {0}


def test_once_resolves_like_cron_and_fires_once() -> None:
    ny = "America/New_York"
    gap = parse_schedule("once 2026-03-08 02:30")
    assert slots(gap, ny, utc(2026, 1, 1), utc(2027, 1, 1)) == [utc(2026, 3, 8, 7, 0)]
    repeated = parse_schedule("once 2026-11-01 01:30")
    assert next_slot(repeated, ny, utc(2026, 1, 1)) == utc(2026, 11, 1, 5, 30)
    assert next_slot(repeated, ny, utc(2026, 11, 1, 5, 30)) is None
    assert slots(repeated, ny, utc(2026, 11, 1, 5, 30), utc(2027, 1, 1)) == []


def test_instant_of_and_arguments() -> None:
    ny = ZoneInfo("America/New_York")
    assert instant_of(datetime(2026, 3, 8, 2, 0), ny) == utc(2026, 3, 8, 7)
    assert instant_of(datetime(2026, 3, 8, 2, 59, 59, 5), ny) == utc(2026, 3, 8, 7)
    assert instant_of(datetime(2026, 3, 8, 3, 0), ny) == utc(2026, 3, 8, 7)
    assert instant_of(datetime(2026, 11, 1, 1, 0), ny) == utc(2026, 11, 1, 5)
    with pytest.raises(ValueError, match="aware"):
        slots(parse_schedule("@daily"), ny, datetime(2026, 1, 1), utc(2026, 2, 1))
    with pytest.raises(ValueError, match="local"):
        next_slot(parse_schedule("@daily"), "local", utc(2026, 1, 1))
    assert slots(parse_schedule("@daily"), ny, utc(2026, 2, 1), utc(2026, 1, 1)) == []


# -- catch-up rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "mode", "within", "kind"),
    [
        ("*/15 * * * *", "none", timedelta(minutes=15), "more often than hourly"),
        ("every 30 minutes", "none", timedelta(minutes=30), "more often than hourly"),
        ("0 * * * *", "latest", HOUR, "hourly to daily"),
        ("0 9,17 * * *", "latest", 8 * HOUR, "hourly to daily"),
        ("every 6 hours", "latest", 6 * HOUR, "hourly to daily"),
        ("0 9 * * *", "latest", DAY, "daily and slower"),
        ("0 9 * * mon", "latest", DAY, "daily and slower"),
        ("every 3 days", "latest", DAY, "daily and slower"),
        ("0 0 30 2 *", "latest", DAY, "daily and slower"),
        ("once 2026-12-01 09:00", "latest", DAY, "once"),
    ],
)
def test_default_rules_by_kind(expression: str, mode: str, within: timedelta, kind: str) -> None:
    rule = catch_up_rule(parse_schedule(expression))
    assert (rule.mode, rule.within) == (mode, within)
    assert rule.default_for is not None and kind in rule.default_for


def test_explicit_rule_and_its_window() -> None:
    daily = parse_schedule("0 9 * * *")
    assert catch_up_rule(daily, CatchUpSetting(mode="none")) == CatchUp("none", DAY)
    hourly = parse_schedule("@hourly")
    assert catch_up_rule(hourly, CatchUpSetting(mode="all")).within == HOUR  # default window
    assert (
        catch_up_rule(hourly, CatchUpSetting.model_validate("all within 12h")).within == 12 * HOUR
    )
    assert (
        catch_up_rule(daily).describe()
        == "latest within 24 h (the default for daily and slower schedules)"
    )


LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _plan(
    expression: str,
    setting: object,
    last: datetime | None,
    now: datetime,
    first_seen: datetime = LONG_AGO,
    cause: str = "Cairn was not running",
) -> MissedPlan:
    timing = Timing.of(
        parse_schedule(expression),
        "Europe/London",
        None if setting is None else CatchUpSetting.model_validate(setting),
    )
    return plan_missed(timing, last, now, first_seen, cause=cause)


def test_daily_runs_the_latest_missed_slot_within_24_hours() -> None:
    plan = _plan("0 9 * * *", None, utc(2026, 1, 1, 9), utc(2026, 1, 4, 10))
    assert plan.run == (utc(2026, 1, 4, 9),)
    assert plan.trigger == CATCH_UP_TRIGGER == "catch-up"
    assert [(s.slot.day, s.reason) for s in plan.skipped] == [
        (2, "older than the 24 h catch-up window"),
        (3, "older than the 24 h catch-up window"),
    ]
    assert plan.through == utc(2026, 1, 4, 10)
    late = _plan("0 9 * * *", None, utc(2026, 1, 1, 9), utc(2026, 1, 3, 8, 59))
    assert late.run == (utc(2026, 1, 2, 9),) and late.skipped == ()  # 23:59 late: runs
    stale = _plan("0 9 * * *", None, utc(2026, 1, 1, 9), utc(2026, 1, 3, 9, 0, 1))
    assert stale.run == (utc(2026, 1, 3, 9),)
    assert [s.reason for s in stale.skipped] == ["older than the 24 h catch-up window"]


def test_latest_supersedes_older_slots_in_the_window() -> None:
    plan = _plan("0 * * * *", "latest within 6h", utc(2026, 1, 1, 0), utc(2026, 1, 1, 10, 30))
    assert plan.run == (utc(2026, 1, 1, 10),)
    reasons = Counter(s.reason for s in plan.skipped)
    assert reasons == {
        "older than the 6 h catch-up window": 4,  # 01:00-04:00
        "superseded by a later missed slot (catch_up: latest)": 5,  # 05:00-09:00
    }


def test_none_skips_everything_and_says_why() -> None:
    plan = _plan(
        "*/15 * * * *",
        None,
        utc(2026, 1, 1, 0),
        utc(2026, 1, 1, 1),
        cause="the computer was asleep",
    )
    assert plan.run == ()
    assert len(plan.skipped) == 4
    assert {s.reason for s in plan.skipped} == {
        "missed while the computer was asleep; catch_up: none "
        "(the default for schedules more often than hourly)"
    }
    explicit = _plan("0 9 * * *", "none", utc(2026, 1, 1, 9), utc(2026, 1, 2, 10))
    assert [s.reason for s in explicit.skipped] == [
        "missed while Cairn was not running; catch_up: none"
    ]


def test_all_runs_each_missed_slot_up_to_the_limit() -> None:
    setting = {"mode": "all", "within": "12h"}
    plan = _plan("0 * * * *", setting, utc(2026, 1, 1), utc(2026, 1, 2))
    assert len(plan.run) == MAX_CATCH_UP_RUNS == 10
    assert plan.run == (*(utc(2026, 1, 1, h) for h in range(15, 24)), utc(2026, 1, 2))
    reasons = Counter(s.reason for s in plan.skipped)
    assert reasons == {
        "older than the 12 h catch-up window": 11,  # 01:00-11:00
        "more than 10 missed slots in the catch-up window (catch_up: all runs the latest 10)": 3,
    }
    few = _plan("0 * * * *", "all within 12h", utc(2026, 1, 1), utc(2026, 1, 1, 3, 30))
    assert few.run == (utc(2026, 1, 1, 1), utc(2026, 1, 1, 2), utc(2026, 1, 1, 3))


def test_a_new_automation_owes_nothing_from_before_it_was_seen() -> None:
    seen = utc(2026, 1, 1, 12)
    plan = _plan("0 * * * *", "all within 2d", None, utc(2026, 1, 1, 14, 5), first_seen=seen)
    assert plan.run == (utc(2026, 1, 1, 13), utc(2026, 1, 1, 14))
    assert plan.skipped == ()
    stale_cursor = _plan(
        "0 * * * *", "all within 2d", utc(2025, 1, 1), utc(2026, 1, 1, 13, 5), first_seen=seen
    )
    assert stale_cursor.missed == (utc(2026, 1, 1, 13),)


def test_once_catches_up_within_a_day() -> None:
    schedule = "once 2026-06-01 09:00"  # 08:00 UTC in London's summer
    assert _plan(schedule, None, None, utc(2026, 6, 2, 7)).run == (utc(2026, 6, 1, 8),)
    missed = _plan(schedule, None, None, utc(2026, 6, 2, 9))
    assert missed.run == () and missed.skipped[0].reason == "older than the 24 h catch-up window"


def test_a_clock_set_back_owes_nothing_and_resumes_after_the_last_slot() -> None:
    plan = _plan("0 * * * *", None, utc(2026, 1, 1, 10), utc(2026, 1, 1, 8, 30))
    assert plan.missed == ()
    assert plan.through == utc(2026, 1, 1, 10)


def test_catch_up_setting_forms_and_errors() -> None:
    def meta(value: object) -> AutomationMeta:
        return AutomationMeta.model_validate({"schedule": "@daily", "catch_up": value})

    assert meta("latest").catch_up == CatchUpSetting(mode="latest")
    assert meta("Latest  within 12 hours").catch_up == CatchUpSetting(
        mode="latest", within=12 * HOUR
    )
    assert meta({"mode": "all", "within": "2d"}).catch_up == CatchUpSetting(
        mode="all", within=2 * DAY
    )
    assert meta(False).catch_up == CatchUpSetting(mode="none")  # YAML's `off`
    assert meta(None).catch_up is None
    assert AutomationMeta(schedule="@daily").catch_up is None
    for bad, says in [
        ("sometimes", "'none', 'latest' or 'all'"),
        ("latest within soon", "30m, 12h, 2d or 1w"),
        ({"mode": "latest", "within": 12}, "30m, 12h, 2d or 1w"),
        ("none within 2h", "no effect with mode none"),
        ("all within 0h", "more than 0"),
        ("all within 400d", "at most 366 days"),
        ({"mode": "latest", "windw": "2h"}, "Extra inputs"),
        ("", "cannot read catch_up"),
        ("latest within", "cannot read catch_up 'latest within'"),
    ]:
        with pytest.raises(ValidationError, match=says):
            meta(bad)


def test_wall_clock_jumps() -> None:
    before = utc(2026, 1, 1, 9)
    assert wall_clock_jump(before, 100.0, before + 60 * MINUTE, 3700.0) is None
    assert wall_clock_jump(before, 100.0, before + timedelta(seconds=62), 161.0) is None  # slew
    slept = wall_clock_jump(before, 100.0, before + 8 * HOUR, 160.0)
    assert slept is not None and slept.forward and slept.by == 8 * HOUR - MINUTE
    set_back = wall_clock_jump(before, 100.0, before - HOUR, 101.0)
    assert set_back is not None and not set_back.forward


# -- the simulation: 100 automations, sleeps, restarts, clock changes ------------------

SIM_SCHEDULES = [
    "*/15 * * * *",
    "every 30 minutes",
    "0 * * * *",
    "every 1 hour",
    "30 1 * * *",
    "30 2 * * *",
    "0 9,17 * * mon-fri",
    "every 6 hours",
    "0 9 * * *",
    "@weekly",
    "every 3 days",
    "45 3 1,15 * *",
    "once 2026-03-29 01:30",
    "once 2026-11-01 01:30",
]
SIM_SETTINGS = [None, None, None, "none", "latest", "latest within 2h", "all", "all within 3d"]


@dataclass
class SimAutomation:
    timing: Timing
    first_seen: datetime
    cursor: datetime | None = None  # the newest recorded slot: what the run store keeps
    through: datetime | None = None  # live scheduling resumes after this
    records: list[tuple[datetime, str]] = field(default_factory=list)


class Simulator:
    """A scheduler driven by a fake clock: `live` fires due slots with `next_slot`, `resume`
    plans missed slots (start-up, or after a detected jump)."""

    def __init__(self, rng: random.Random, count: int, start: datetime) -> None:
        self.automations = []
        self.plans = 0
        for i in range(count):
            setting = rng.choice(SIM_SETTINGS)
            schedule = parse_schedule(SIM_SCHEDULES[i % len(SIM_SCHEDULES)])
            timing = Timing.of(
                schedule,
                ZONES[i % len(ZONES)],
                None if setting is None else CatchUpSetting.model_validate(setting),
            )
            seen = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
            self.automations.append(SimAutomation(timing, seen))

    def live(self, a: SimAutomation, until: datetime) -> None:
        if a.through is None:
            return
        at = a.through
        while (slot := a.timing.next_slot(at)) is not None and slot <= until:
            a.records.append((slot, "schedule"))
            a.cursor = at = slot
        a.through = max(a.through, until)

    def resume(self, now: datetime, cause: str) -> None:
        for a in self.automations:
            if a.first_seen > now:
                continue
            plan = plan_missed(a.timing, a.cursor, now, a.first_seen, cause=cause)
            self.plans += 1
            check_plan(a, plan, now)
            decided = sorted(
                [(s, "catch-up") for s in plan.run] + [(s.slot, "skip") for s in plan.skipped]
            )
            a.records.extend(decided)
            if decided:
                a.cursor = decided[-1][0]
            a.through = plan.through


def check_plan(a: SimAutomation, plan: MissedPlan, now: datetime) -> None:
    """The rule, restated: the newest `1` (latest) or `10` (all) slots no older than the
    window run; with none, nothing runs."""
    begin = a.first_seen if a.cursor is None else max(a.cursor, a.first_seen)
    missed = slots(a.timing.schedule, a.timing.zone, begin, now)
    assert plan.missed == tuple(missed)
    rule = a.timing.catch_up
    fresh = [s for s in missed if now - s <= rule.within]
    keep = {"none": 0, "latest": 1, "all": MAX_CATCH_UP_RUNS}[rule.mode]
    assert plan.run == tuple(fresh[max(0, len(fresh) - keep) :] if keep else ())
    assert all(s.reason for s in plan.skipped)


def simulate(seed: int, count: int = 100, days: int = 40) -> tuple[Simulator, datetime, int]:
    rng = random.Random(seed)
    start = utc(2026, 2, 20)  # across March's and April's clock changes, and October's
    sim = Simulator(rng, count, start)
    wall, monotonic = start, 0.0
    end = start + days * DAY
    sim.resume(wall, "Cairn was not running")
    events: Counter[str] = Counter()
    while wall < end:
        step = timedelta(minutes=rng.randrange(1, 60 * 30))  # awake and running
        wall, monotonic = wall + step, monotonic + step.total_seconds()
        for a in sim.automations:
            if a.through is None and a.first_seen <= wall:  # added while running
                a.through = a.first_seen
            sim.live(a, wall)
        event = rng.choice(["sleep", "sleep", "restart", "clock-back", "nap"])
        events[event] += 1
        gap = timedelta(minutes=rng.randrange(1, 60 * 60))
        if event == "restart":  # nothing remembered but the run store (the cursor)
            wall = wall + gap
            for a in sim.automations:
                a.through = None
            monotonic = 0.0
            sim.resume(wall, "Cairn was not running")
            continue
        before_wall, before_mono = wall, monotonic
        if event == "clock-back":
            wall -= timedelta(minutes=rng.randrange(10, 120))
            monotonic += 1
        elif event == "nap":  # under the tolerance: no re-plan, the timers just run
            wall += timedelta(seconds=2)
            monotonic += 2
        else:
            wall += gap
        jump = wall_clock_jump(before_wall, before_mono, wall, monotonic)
        assert (jump is not None) == (event != "nap")
        if jump is not None:
            sim.resume(
                wall, "the computer was asleep" if jump.forward else "the clock was set back"
            )
    for a in sim.automations:  # a last check-up at the end
        sim.live(a, wall)
    total = sum(len(a.records) for a in sim.automations)
    assert events["restart"] and events["clock-back"] and events["sleep"]
    return sim, wall, total


@pytest.mark.parametrize("seed", [1, 2])
def test_simulation_every_slot_exactly_once(seed: int) -> None:
    sim, end, total = simulate(seed)
    assert total >= 10_000
    kinds: Counter[str] = Counter()
    for a in sim.automations:
        handled = [slot for slot, _ in a.records]
        assert len(handled) == len(set(handled)), "a slot handled twice"
        expected = slots(a.timing.schedule, a.timing.zone, a.first_seen, end)
        assert sorted(handled) == expected, "a slot missing, or one not scheduled"
        kinds.update(kind for _, kind in a.records)
    assert kinds["schedule"] and kinds["catch-up"] and kinds["skip"]


def test_speed_of_many_slots() -> None:
    """100 automations, 100 slots each, 10,000 in all: well under a second (a loose bound
    here, for a busy machine)."""
    schedules = [parse_schedule(s) for s in SIM_SCHEDULES[:12]]
    began = time.perf_counter()
    count = 0
    for i in range(100):
        schedule = schedules[i % len(schedules)]
        zone = ZONES[i % len(ZONES)]
        period = schedule_period(schedule) or DAY
        start = utc(2026, 1, 1)
        count += len(slots(schedule, zone, start, start + period * 100))
    elapsed = time.perf_counter() - began
    assert count >= 9_000
    assert elapsed < 2.0
