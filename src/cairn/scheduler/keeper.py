"""Which slots are due: every decision about a slot, taken through the run store.

`SlotKeeper` holds, per automation, its timing and next slot, and turns three moments
into claims to run:

* `catch_up(name, now, cause)`: at start-up, after a wake from sleep and whenever a slot
  fires late, the slots missed since the last recorded one are decided by the catch-up
  rule (`cairn.core.automations.plan_missed`). One decision runs at most one slot; for
  `catch_up: all` the caller decides again after that run, until nothing is left.
* `fire(name, slot, now)`: a slot comes due on time. It runs with trigger `schedule`,
  unless it fires more than `LATE_LIMIT` late (the process was busy or the computer
  slept): then the catch-up rule decides it, so a late slot is handled exactly as if
  Cairn had not been running.
* `sync(wanted, paused, now)`: the automations to keep changed (a file added, edited,
  disabled, deleted or broken). A new one owes nothing from before it was first seen; one
  that comes back after being paused, deleted or broken skips, with that reason, every
  slot that fell while it was away: a paused job does not make up for its pause.

Each decision is one `RunStore.decide` transaction, so any number of processes (two
`cairn serve`s, the app) can keep the same workspace: they read each other's rows,
and a slot is run at most once. No threads and no wall clock here: the caller passes
`now`, which is how the benchmark drives 10,000 simulated slots through the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final

from cairn.core.automations import Timing, plan_missed
from cairn.infra.runs import Decided, Decision, Owner, RunStore

LATE_LIMIT: Final = timedelta(minutes=1)
"""A slot that fires later than this is decided by the catch-up rule, not run as is."""

NOT_RUNNING: Final = "Cairn was not running"
ASLEEP: Final = "the computer was asleep or its clock changed"
LATE: Final = "its run was due while the computer slept or Cairn was busy"


class SlotKeeper:
    def __init__(
        self, store: RunStore, *, owner: Owner | None = None, late_limit: timedelta = LATE_LIMIT
    ) -> None:
        self.store = store
        self.owner = owner  # None: this process (the benchmark simulates several)
        self.late_limit = late_limit
        self._timings: dict[str, Timing] = {}
        self._first_seen: dict[str, datetime] = {}
        self._away_since: dict[str, datetime] = {}  # paused, deleted or broken since then
        self._noted_paused: set[str] = set()  # pauses already recorded in the store

    @property
    def names(self) -> list[str]:
        return sorted(self._timings)

    def timing(self, name: str) -> Timing | None:
        return self._timings.get(name)

    def sync(
        self, wanted: Mapping[str, Timing], paused: Iterable[str], now: datetime
    ) -> tuple[list[str], list[str], list[str]]:
        """Keep exactly the automations in `wanted` (enabled and valid); `paused` names
        the ones that exist but may not run (disabled, or with errors). Returns the names
        added (decide them with `catch_up`), changed (new timing: reschedule from now)
        and dropped (unschedule)."""
        added: list[str] = []
        changed: list[str] = []
        dropped = [name for name in self._timings if name not in wanted]
        for name in {*dropped, *paused} - self._noted_paused:
            self.store.note_paused(name, now)  # once per pause, not on every sync
            self._noted_paused.add(name)
        for name in dropped:
            del self._timings[name]
        for name, timing in wanted.items():
            old = self._timings.get(name)
            if old == timing:
                continue
            if old is None:
                # The store first: if it fails, the automation stays unknown and the next
                # sync tries again, instead of being kept without a first sighting.
                first_seen = self.store.first_seen(name, now)
                away = self.store.note_resumed(name)
                self._noted_paused.discard(name)
                self._first_seen[name] = first_seen
                if away is not None:
                    self._away_since[name] = away
                added.append(name)
            else:
                changed.append(name)
            self._timings[name] = timing
        return added, changed, dropped

    def next_slot(self, name: str, now: datetime) -> datetime | None:
        """The first slot after now (or after the latest recorded slot, should the clock
        have gone back before it): what to schedule next."""
        timing = self._timings.get(name)
        if timing is None:
            return None
        last = self.store.last_slot(name)
        return timing.next_slot(max(now, last) if last else now)

    def catch_up(self, name: str, now: datetime, cause: str = NOT_RUNNING) -> Decided:
        """Decide the missed slots of `name` up to `now`: the skipped ones are recorded,
        and the one to run late (trigger `catch-up`) is claimed and returned."""
        timing = self._timings.get(name)
        if timing is None:
            return Decided(None)
        first_seen = self._first_seen[name]
        away = self._away_since.get(name)

        def plan(last: datetime | None) -> Decision:
            if away is not None:
                begin = max(last, first_seen) if last else first_seen
                reason = (
                    "missed while the automation was paused, missing or had errors"
                    f" (since {away.astimezone().isoformat(timespec='minutes')}); a"
                    " paused automation does not catch up"
                )
                return Decision(skip=tuple((s, reason) for s in timing.slots(begin, now)))
            missed = plan_missed(timing, last, now, first_seen, cause=cause)
            skip = tuple((s.slot, s.reason) for s in missed.skipped)
            return Decision(skip, (missed.run[0], "catch-up") if missed.run else None)

        result = self.store.decide(name, plan, self.owner, now=now)
        self._away_since.pop(name, None)
        return result

    def fire(self, name: str, slot: datetime, now: datetime) -> Decided:
        """`slot` of `name` came due: claim it (trigger `schedule`), or let the catch-up
        rule decide it when it fires late. Slots before it that no process recorded (one
        stopped between deciding and recording) are recorded as skipped first, so none
        is ever missed silently."""
        timing = self._timings.get(name)
        if timing is None:
            return Decided(None)
        if now - slot > self.late_limit:
            return self.catch_up(name, now, LATE)
        first_seen = self._first_seen[name]
        if timing.catch_up.mode == "all":
            # Earlier slots still undecided are late runs `catch_up: all` owes (a chain in
            # progress, or a process that stopped): the rule decides them with this one.
            last = self.store.last_slot(name)
            begin = max(last, first_seen) if last else first_seen
            if any(s < slot for s in timing.slots(begin, slot)):
                return self.catch_up(name, now, NOT_RUNNING)
        gap = "no process decided this slot in time (a Cairn process stopped before it)"

        def plan(last: datetime | None) -> Decision:
            begin = max(last, first_seen) if last else first_seen
            earlier = [s for s in timing.slots(begin, slot) if s < slot]
            return Decision(tuple((s, gap) for s in earlier), (slot, "schedule"))

        return self.store.decide(name, plan, self.owner, now=now)
