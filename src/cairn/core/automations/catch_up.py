"""Missed slots: which to run late (trigger `catch-up`) and which to record as skipped.

Pure decisions, no clock and no IO: the scheduler calls `plan_missed` at start-up and
after `wall_clock_jump` reports a jump (a wake from sleep, a clock change), records each
skipped slot with its reason, runs the rest, and resumes live scheduling with
`next_slot(after=plan.through)`.

The rule (docs/automations.md, "When runs are missed", says the same). A slot is *missed*
when it lies after the automation's last recorded slot (or, for an automation never run,
after it was first seen: nothing before that is owed) and at or before now.

* `none`: every missed slot is skipped.
* `latest`: the newest missed slot no older than the window runs once; the others are
  skipped (superseded, or older than the window).
* `all`: each missed slot no older than the window runs, oldest first, at most
  `MAX_CATCH_UP_RUNS` (the newest ones); the rest are skipped.

Defaults by how often the schedule fires (its shortest gap between slots,
`schedule_period`): more often than hourly → `none` (the next slot is less than an hour
away); hourly up to daily → `latest` within one period; daily and slower → `latest` within
24 h (such a job's output is about its day: more than a day late it is more likely stale
than useful, and the next slot may be far off, so one late run is worth having); `once` →
`latest` within 24 h. A `within:` left out takes the same window: one period, at most 24 h.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import ClassVar, Final

from cairn.core.automations.slots import next_slot, resolve_zone, schedule_period, slots
from cairn.core.workspace.schedule import OnceSchedule, Schedule
from cairn.core.workspace.schema import CatchUpMode, CatchUpSetting

__all__ = [
    "CATCH_UP_TRIGGER",
    "DAILY_WINDOW",
    "MAX_CATCH_UP_RUNS",
    "WAKE_TOLERANCE",
    "CatchUp",
    "MissedPlan",
    "SkippedSlot",
    "Timing",
    "WallClockJump",
    "catch_up_rule",
    "plan_missed",
    "wall_clock_jump",
]

CATCH_UP_TRIGGER: Final = "catch-up"
MAX_CATCH_UP_RUNS: Final = 10
"""The most late runs `catch_up: all` makes for one gap (the newest missed slots)."""
DAILY_WINDOW: Final = timedelta(hours=24)
HOURLY: Final = timedelta(hours=1)
WAKE_TOLERANCE: Final = timedelta(seconds=5)
"""A wall clock that moved this much more (or less) than the monotonic clock jumped:
far above NTP's slewing between two checks, far below any sleep worth re-planning for."""


def _span(value: timedelta) -> str:
    """`24 h`, `30 min`, `7 days`: windows as people write them."""
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0 and seconds > 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A resolved catch-up rule: the mode, its window, and whether it is the default."""

    mode: CatchUpMode
    within: timedelta
    default_for: str | None = None  # the kind of schedule it is the default for, if it is

    def describe(self) -> str:
        text = self.mode if self.mode == "none" else f"{self.mode} within {_span(self.within)}"
        return f"{text} (the default for {self.default_for})" if self.default_for else text


def catch_up_rule(schedule: Schedule, setting: CatchUpSetting | None = None) -> CatchUp:
    """The rule for `schedule`: `setting` (an automation's `catch_up:`) over the default."""
    period = schedule_period(schedule)
    window = DAILY_WINDOW if period is None else min(period, DAILY_WINDOW)
    if setting is not None:
        return CatchUp(setting.mode, setting.within or window)
    if isinstance(schedule, OnceSchedule):
        return CatchUp("latest", window, "once schedules")
    if period is None or period >= DAILY_WINDOW:
        return CatchUp("latest", window, "daily and slower schedules")
    if period < HOURLY:
        return CatchUp("none", window, "schedules more often than hourly")
    return CatchUp("latest", window, "hourly to daily schedules")


@dataclass(frozen=True, slots=True)
class Timing:
    """What the scheduler needs of one automation: its schedule, zone and catch-up rule."""

    schedule: Schedule
    zone: tzinfo
    catch_up: CatchUp

    @classmethod
    def of(
        cls, schedule: Schedule, zone: tzinfo | str, setting: CatchUpSetting | None = None
    ) -> Timing:
        return cls(schedule, resolve_zone(zone), catch_up_rule(schedule, setting))

    def slots(self, start: datetime, end: datetime) -> list[datetime]:
        return slots(self.schedule, self.zone, start, end)

    def next_slot(self, after: datetime) -> datetime | None:
        return next_slot(self.schedule, self.zone, after)


@dataclass(frozen=True, slots=True)
class SkippedSlot:
    slot: datetime  # UTC
    reason: str


@dataclass(frozen=True, slots=True)
class MissedPlan:
    """Every missed slot, each exactly once: in `run` (late runs, trigger `catch-up`) or in
    `skipped` (with the reason to record). Both oldest first."""

    run: tuple[datetime, ...]
    skipped: tuple[SkippedSlot, ...]
    through: datetime
    """Planned up to here (now, or the last slot when the clock went back before it): live
    scheduling resumes with `next_slot(after=through)`, so no slot is handled twice."""
    trigger: ClassVar[str] = CATCH_UP_TRIGGER

    @property
    def missed(self) -> tuple[datetime, ...]:
        return tuple(sorted((*self.run, *(s.slot for s in self.skipped))))


def plan_missed(
    timing: Timing,
    last_slot: datetime | None,
    now: datetime,
    first_seen: datetime,
    *,
    cause: str = "Cairn was not running",
) -> MissedPlan:
    """Decide every slot in (max(last_slot, first_seen), now]. `last_slot` is the newest
    slot recorded for the automation (run or skipped), None when it never had one;
    `first_seen` is when Cairn first saw the automation; `cause` goes into the reasons
    ("the computer was asleep" after a wake). All datetimes aware."""
    begin = first_seen if last_slot is None else max(last_slot, first_seen)
    through = now if last_slot is None else max(last_slot, now)
    missed = timing.slots(begin, now)
    rule = timing.catch_up
    if rule.mode == "none":
        reason = f"missed while {cause}; catch_up: {rule.describe()}"
        return MissedPlan((), tuple(SkippedSlot(s, reason) for s in missed), through)
    oldest = now.astimezone(UTC) - rule.within
    recent = [s for s in missed if s >= oldest]
    too_old = f"older than the {_span(rule.within)} catch-up window"
    skipped = [SkippedSlot(s, too_old) for s in missed[: len(missed) - len(recent)]]
    keep = 1 if rule.mode == "latest" else MAX_CATCH_UP_RUNS
    run = recent[-keep:] if recent else []
    if rule.mode == "latest":
        passed = "superseded by a later missed slot (catch_up: latest)"
    else:
        passed = (
            f"more than {MAX_CATCH_UP_RUNS} missed slots in the catch-up window "
            f"(catch_up: all runs the latest {MAX_CATCH_UP_RUNS})"
        )
    skipped += [SkippedSlot(s, passed) for s in recent[: len(recent) - len(run)]]
    return MissedPlan(tuple(run), tuple(skipped), through)


@dataclass(frozen=True, slots=True)
class WallClockJump:
    by: timedelta
    """Wall-clock time elapsed minus monotonic time elapsed: positive when the wall clock
    moved ahead (the computer slept, or the clock was set forward), negative when it was
    set back."""

    @property
    def forward(self) -> bool:
        return self.by > timedelta(0)


def wall_clock_jump(
    previous_wall: datetime,
    previous_monotonic: float,
    now_wall: datetime,
    now_monotonic: float,
    tolerance: timedelta = WAKE_TOLERANCE,
) -> WallClockJump | None:
    """Whether the wall clock jumped between two readings of both clocks (`time.time()`
    as an aware datetime and `time.monotonic()`): the monotonic clock stops while the
    computer sleeps and never moves with clock changes, so a difference beyond
    `tolerance` is a sleep, a hibernation or a clock change. Then re-plan missed slots."""
    wall = now_wall - previous_wall
    monotonic = timedelta(seconds=now_monotonic - previous_monotonic)
    skew = wall - monotonic
    return WallClockJump(skew) if abs(skew) > tolerance else None
