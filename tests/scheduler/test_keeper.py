"""SlotKeeper: every slot decision through a real run database, on a simulated clock.

The keeper takes `now` from its caller, so days of slots, restarts and sleeps run in
milliseconds; the database is real SQLite, as in `cairn serve`."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cairn.core.automations import Timing
from cairn.core.workspace.schedule import parse_schedule
from cairn.core.workspace.schema import CatchUpSetting
from cairn.infra.runs import Claim, Refusal, RunStore
from cairn.scheduler.keeper import LATE_LIMIT, SlotKeeper

DAY = timedelta(days=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def timing(schedule: str, zone: str = "UTC", catch_up: str | None = None) -> Timing:
    setting = CatchUpSetting.model_validate(catch_up) if catch_up else None
    return Timing.of(parse_schedule(schedule), zone, setting)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    with RunStore(tmp_path) as store:
        yield store  # type: ignore[misc]


def finish(store: RunStore, claim: object) -> Claim:
    assert isinstance(claim, Claim), claim
    store.finish(claim.id, "done", cost_usd=0, tokens=0, trace=None)
    return claim


def rows(store: RunStore, name: str) -> list[tuple[datetime, str, str]]:
    return sorted((r.slot, r.trigger, r.status) for r in store.history(name, limit=10_000))


def test_a_new_automation_owes_nothing_from_before_it_was_first_seen(store: RunStore) -> None:
    keeper = SlotKeeper(store)
    now = utc(2026, 3, 10, 12, 0)
    added, _, _ = keeper.sync({"daily": timing("0 9 * * *")}, (), now)
    assert added == ["daily"]
    assert keeper.catch_up("daily", now).outcome is None
    assert rows(store, "daily") == []
    assert keeper.next_slot("daily", now) == utc(2026, 3, 11, 9, 0)


def test_after_three_days_away_a_daily_job_runs_the_latest_slot_once(store: RunStore) -> None:
    first = SlotKeeper(store)
    start = utc(2026, 3, 10, 8, 0)
    first.sync({"daily": timing("0 9 * * *")}, (), start)
    finish(store, first.fire("daily", utc(2026, 3, 10, 9, 0), utc(2026, 3, 10, 9, 0, 1)).outcome)
    # Cairn is closed for three days; a new process starts at noon.
    back = utc(2026, 3, 13, 12, 0)
    again = SlotKeeper(store)
    again.sync({"daily": timing("0 9 * * *")}, (), back)
    decided = again.catch_up("daily", back)
    claim = finish(store, decided.outcome)
    assert (claim.slot, claim.trigger) == (utc(2026, 3, 13, 9, 0), "catch-up")
    reasons = {r.slot: r.reason for r in decided.skipped}
    assert reasons == {
        utc(2026, 3, 11, 9, 0): "older than the 24 h catch-up window",
        utc(2026, 3, 12, 9, 0): "older than the 24 h catch-up window",
    }
    assert again.catch_up("daily", back).outcome is None  # decided once: nothing left


def test_a_sub_hourly_job_skips_what_it_missed_and_says_why(store: RunStore) -> None:
    keeper = SlotKeeper(store)
    start = utc(2026, 3, 10, 8, 0)
    keeper.sync({"poll": timing("every 15 minutes")}, (), start)
    decided = keeper.catch_up("poll", start + timedelta(hours=1, minutes=5))
    assert decided.outcome is None
    assert [r.slot for r in decided.skipped] == [
        start + timedelta(minutes=m) for m in (15, 30, 45, 60)
    ]
    assert all("Cairn was not running" in (r.reason or "") for r in decided.skipped)


def test_catch_up_all_runs_each_missed_slot_oldest_first_one_decision_at_a_time(
    store: RunStore,
) -> None:
    keeper = SlotKeeper(store)
    start = utc(2026, 3, 10, 0, 0)
    keeper.sync({"hourly": timing("0 * * * *", catch_up="all within 12h")}, (), start)
    now = start + timedelta(hours=3, minutes=30)
    ran = []
    while isinstance(claim := keeper.catch_up("hourly", now).outcome, Claim):
        ran.append(finish(store, claim).slot)
    assert ran == [start + timedelta(hours=h) for h in (1, 2, 3)]
    assert rows(store, "hourly") == [(slot, "catch-up", "done") for slot in ran]


def test_a_slot_that_fires_late_is_decided_by_the_catch_up_rule(store: RunStore) -> None:
    keeper = SlotKeeper(store)
    start = utc(2026, 3, 10, 8, 0)
    keeper.sync({"poll": timing("every 15 minutes")}, (), start)
    slot = start + timedelta(minutes=15)
    on_time = keeper.fire("poll", slot, slot + LATE_LIMIT)
    finish(store, on_time.outcome)
    late_slot = slot + timedelta(minutes=15)
    late = keeper.fire("poll", late_slot, late_slot + timedelta(hours=2))
    assert late.outcome is None  # sub-hourly: nothing is run late
    assert late.skipped and all(r.trigger == "catch-up" for r in late.skipped)


def test_a_paused_automation_skips_its_pause_and_does_not_catch_up(store: RunStore) -> None:
    keeper = SlotKeeper(store)
    start = utc(2026, 3, 10, 8, 0)
    keeper.sync({"daily": timing("0 9 * * *")}, (), start)
    keeper.sync({}, ["daily"], start + timedelta(hours=2))  # enabled: false
    back = start + 3 * DAY
    keeper.sync({"daily": timing("0 9 * * *")}, (), back)
    decided = keeper.catch_up("daily", back)
    assert decided.outcome is None
    assert len(decided.skipped) == 3
    assert all("paused" in (r.reason or "") for r in decided.skipped)
    assert keeper.next_slot("daily", back) == utc(2026, 3, 13, 9, 0)


def test_two_keepers_on_one_database_decide_each_slot_once(tmp_path: Path) -> None:
    with RunStore(tmp_path) as one_store, RunStore(tmp_path) as two_store:
        one, two = SlotKeeper(one_store), SlotKeeper(two_store)
        start = utc(2026, 3, 10, 0, 0)
        for keeper in (one, two):
            keeper.sync({"poll": timing("every 10 minutes")}, (), start)
        ran = Counter[datetime]()
        slot = one.next_slot("poll", start)
        while slot is not None and slot < start + DAY:
            for keeper in (one, two) if slot.minute % 20 else (two, one):
                claim = keeper.fire("poll", slot, slot + timedelta(seconds=1)).outcome
                if isinstance(claim, Claim):
                    ran[claim.slot] += 1
                    finish(keeper.store, claim)
                else:
                    assert isinstance(claim, Refusal) and claim.reason == "taken"
            slot = one.next_slot("poll", slot)
        assert len(ran) == 143 and set(ran.values()) == {1}


def test_slots_nobody_decided_are_recorded_before_the_next_one_runs(store: RunStore) -> None:
    keeper = SlotKeeper(store)
    start = utc(2026, 3, 10, 0, 0)
    keeper.sync({"poll": timing("every 10 minutes")}, (), start)
    slot = start + timedelta(minutes=40)  # the 10, 20 and 30 minute slots were never decided
    decided = keeper.fire("poll", slot, slot)
    assert isinstance(decided.outcome, Claim) and decided.outcome.slot == slot
    assert [r.slot.minute for r in decided.skipped] == [10, 20, 30]
    assert all("no process decided" in (r.reason or "") for r in decided.skipped)


def test_a_slot_that_comes_due_while_the_job_still_runs_is_skipped_with_the_reason(
    store: RunStore,
) -> None:
    keeper = SlotKeeper(store)
    start = utc(2026, 3, 10, 0, 0)
    keeper.sync({"poll": timing("every 10 minutes")}, (), start)
    first = keeper.fire("poll", start + timedelta(minutes=10), start + timedelta(minutes=10))
    assert isinstance(first.outcome, Claim)  # still running at the next slot
    second = keeper.fire("poll", start + timedelta(minutes=20), start + timedelta(minutes=20))
    assert isinstance(second.outcome, Refusal) and second.outcome.reason == "overlap"
    assert [(r.trigger, r.status) for r in second.skipped] == [("schedule", "skipped")]
    assert "still running" in (second.skipped[0].reason or "")


def test_the_repeated_hour_of_a_fall_back_night_runs_once(store: RunStore) -> None:
    keeper = SlotKeeper(store)
    zone = "America/New_York"
    start = utc(2026, 10, 31, 12, 0)
    keeper.sync({"night": timing("30 1 * * *", zone)}, (), start)
    ran = []
    now = start
    while (slot := keeper.next_slot("night", now)) and slot < start + 3 * DAY:
        claim = keeper.fire("night", slot, slot).outcome
        ran.append(finish(store, claim).slot)
        now = slot
    # 1:30 on 1 Nov happens twice on the wall clock (EDT, then EST): it runs at the first.
    assert ran == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30), utc(2026, 11, 3, 6, 30)]


def test_an_on_time_slot_does_not_cut_a_catch_up_all_chain_short(store: RunStore) -> None:
    """While the late runs `catch_up: all` owes are still being made, an on-time slot is
    decided with them by the rule, instead of recording the owed ones as skipped."""
    keeper = SlotKeeper(store)
    start = utc(2026, 3, 10, 0, 0)
    keeper.sync({"hourly": timing("0 * * * *", catch_up="all within 12h")}, (), start)
    back = start + timedelta(hours=3, minutes=30)
    first = keeper.catch_up("hourly", back).outcome
    finish(store, first)  # the 01:00 late run; 02:00 and 03:00 are still owed
    live = start + timedelta(hours=4)
    decided = keeper.fire("hourly", live, live)
    assert not decided.skipped
    ran = [finish(store, decided.outcome).slot]
    while isinstance(claim := keeper.catch_up("hourly", live).outcome, Claim):
        ran.append(finish(store, claim).slot)
    assert ran == [start + timedelta(hours=h) for h in (2, 3, 4)]
