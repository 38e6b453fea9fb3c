"""Automations that run: the pure schedule logic the scheduler uses.

`slots` turns a schedule and its time zone into the UTC instants it fires at (daylight
saving handled by documented rules); `catch_up` decides what happens to slots missed while
Cairn was not running or the computer slept. No IO, no threads, no clock: the times are
passed in, so thousands of simulated slots check in milliseconds.
"""

from __future__ import annotations

from cairn.core.automations.catch_up import (
    CATCH_UP_TRIGGER,
    DAILY_WINDOW,
    MAX_CATCH_UP_RUNS,
    WAKE_TOLERANCE,
    CatchUp,
    MissedPlan,
    SkippedSlot,
    Timing,
    WallClockJump,
    catch_up_rule,
    plan_missed,
    wall_clock_jump,
)
from cairn.core.automations.slots import (
    INTERVAL_ANCHOR,
    NEXT_SLOT_HORIZON,
    instant_of,
    interval_anchor,
    next_slot,
    resolve_zone,
    schedule_period,
    slots,
)

__all__ = [
    "CATCH_UP_TRIGGER",
    "DAILY_WINDOW",
    "INTERVAL_ANCHOR",
    "MAX_CATCH_UP_RUNS",
    "NEXT_SLOT_HORIZON",
    "WAKE_TOLERANCE",
    "CatchUp",
    "MissedPlan",
    "SkippedSlot",
    "Timing",
    "WallClockJump",
    "catch_up_rule",
    "instant_of",
    "interval_anchor",
    "next_slot",
    "plan_missed",
    "resolve_zone",
    "schedule_period",
    "slots",
    "wall_clock_jump",
]
