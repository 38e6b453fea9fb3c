"""Benchmark: the automation scheduler's guarantees and costs.

1. **Simulation.** --automations (100) automations with mixed schedules (every 5/15/30
   minutes, hourly, cron at fixed hours, weekdays, daily and weekly, with `none`, `latest`
   and `all` catch-up rules) over about --slots (10,000) slots of simulated time, kept by
   two competing schedulers (two `SlotKeeper`s, each with its own connection to one real
   `.cairn/runs.sqlite`) that restart at random and share sleeps of the computer. The
   keepers are the scheduler's own decision code; only the clock is simulated (runs end
   at once). Counted: runs started per slot (a double run is a slot started twice),
   slots with no row at the end (unrecorded misses), and per outage (when no scheduler
   was up, or the computer slept) the late runs made against what the rule says, by an
   oracle that recomputes the rule from the slot list with plain arithmetic.
2. **Per-run overhead.** What the scheduler adds to each run: the decision (`fire`: one
   transaction with the slot checks and the claim), the finish and the markdown run log
   line; p50 against the baseline, timed in alternation, of a bare SQLite INSERT then
   UPDATE with the same settings.
3. **Idle daemon.** `cairn serve` on a fresh starter workspace, its CPU time over
   --idle-seconds (60) and its resident memory, against a bare Python interpreter
   sleeping over the same minute, started the same way.

Exit status 1 when a double run, an unrecorded miss or a catch-up off the rule is found.

    .venv/bin/python bench/scheduler.py [--automations 100] [--slots 10000]
        [--idle-seconds 60] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from cairn.core.automations import Timing
from cairn.core.workspace.schedule import parse_schedule
from cairn.core.workspace.schema import CatchUpSetting
from cairn.infra.runs import Claim, RunStore
from cairn.scheduler.keeper import ASLEEP, NOT_RUNNING, SlotKeeper

START = datetime(2026, 3, 2, 0, 0, 30, tzinfo=UTC)  # a Monday; 30 s off the minute
SCHEDULES = (
    ("every 5 minutes", None),
    ("every 15 minutes", "latest within 1h"),
    ("every 30 minutes", None),
    ("0 * * * *", None),
    ("0 * * * *", "all within 6h"),
    ("0 9,17 * * *", None),
    ("30 7 * * mon-fri", None),
    ("0 23 * * *", "all within 3d"),
    ("every 1 day", "none"),
    ("0 16 * * fri", None),
)


@dataclass
class Sim:
    keepers: list[SlotKeeper]
    timings: dict[str, Timing]
    started: Counter[tuple[str, datetime]] = field(default_factory=Counter)
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)

    def run(self, keeper: SlotKeeper, decided: object) -> None:
        if isinstance(decided, Claim):
            self.started[(decided.automation, decided.slot)] += 1
            keeper.store.finish(decided.id, "done", cost_usd=0, tokens=10, trace=None)

    def catch_up_all(self, keeper: SlotKeeper, now: datetime, cause: str) -> None:
        for name in keeper.names:
            while isinstance(claim := keeper.catch_up(name, now, cause).outcome, Claim):
                self.run(keeper, claim)


def build(count: int, rng: random.Random) -> dict[str, Timing]:
    timings = {}
    for i in range(count):
        schedule, catch_up = SCHEDULES[i % len(SCHEDULES)]
        setting = CatchUpSetting.model_validate(catch_up) if catch_up else None
        zone = rng.choice(("UTC", "Europe/Berlin", "America/New_York"))
        timings[f"auto-{i:03d}"] = Timing.of(parse_schedule(schedule), zone, setting)
    return timings


def span_for(timings: dict[str, Timing], slots: int) -> timedelta:
    week = sum(len(t.slots(START, START + timedelta(days=7))) for t in timings.values())
    return timedelta(days=7) * max(slots / max(week, 1), 0.1)


def simulate(folder: Path, count: int, slots: int, seed: int) -> tuple[Sim, datetime, int]:
    rng = random.Random(seed)
    timings = build(count, rng)
    end = START + span_for(timings, slots)
    stores = [RunStore(folder), RunStore(folder)]
    sim = Sim([SlotKeeper(s) for s in stores], timings)
    # Random restarts of each scheduler, and sleeps of the whole computer.
    events: list[tuple[datetime, str, int]] = []
    for index in range(2):
        moment = START
        while moment < end:
            moment += timedelta(hours=rng.uniform(0.5, 4))
            down = timedelta(minutes=rng.choice((1, 5, 20, 60, 240, 600)))
            events += [(moment, "down", index), (moment + down, "up", index)]
            moment += down
    moment = START
    while moment < end:
        moment += timedelta(hours=rng.uniform(1, 4))
        asleep = timedelta(minutes=rng.choice((5, 20, 90, 300, 900)))
        events += [(moment, "sleep", -1), (moment + asleep, "wake", -1)]
        moment += asleep
    events = sorted((when.replace(second=30), kind, i) for when, kind, i in events if when < end)
    up = [True, True]
    asleep_now = False
    outage_from: datetime | None = None
    for keeper in sim.keepers:
        keeper.sync(timings, (), START)
    due = sorted(
        (slot, name) for name, timing in timings.items() for slot in timing.slots(START, end)
    )
    event_index = 0
    for slot, name in [*due, (end, "")]:
        while event_index < len(events) and events[event_index][0] <= slot:
            when, kind, index = events[event_index]
            event_index += 1
            was_running = any(up) and not asleep_now
            if kind == "down":
                up[index] = False
            elif kind == "up":
                up[index] = True
            elif kind == "sleep":
                asleep_now = True
            else:
                asleep_now = False
            running = any(up) and not asleep_now
            if was_running and not running:
                outage_from = when
            if kind in ("up", "wake") and running:
                cause = NOT_RUNNING if kind == "up" else ASLEEP
                for i, keeper in enumerate(sim.keepers):
                    if up[i] and (kind == "wake" or i == index):
                        sim.catch_up_all(keeper, when, cause)
                if outage_from is not None:
                    sim.outages.append((outage_from, when))
                    outage_from = None
        if not name or asleep_now:
            continue
        order = [0, 1] if rng.random() < 0.5 else [1, 0]
        for i in order:
            if up[i]:
                now = slot + timedelta(seconds=rng.uniform(0, 20))
                sim.run(sim.keepers[i], sim.keepers[i].fire(name, slot, now).outcome)
    for keeper in sim.keepers:  # the end: one last look, as a restart would
        sim.catch_up_all(keeper, end, NOT_RUNNING)
    if outage_from is not None:
        sim.outages.append((outage_from, end))
    for store in stores:
        store.close()
    return sim, end, len(due)


def expected_late_runs(timing: Timing, begin: datetime, end: datetime) -> int:
    """The rule, recomputed: how many of the slots in (begin, end] run late at `end`."""
    missed = timing.slots(begin, end)
    rule = timing.catch_up
    if rule.mode == "none" or not missed:
        return 0
    recent = [s for s in missed if s >= end - rule.within]
    return min(len(recent), 1 if rule.mode == "latest" else 10)


def check(folder: Path, sim: Sim, end: datetime) -> tuple[int, int, int, int]:
    """(double runs, unrecorded misses, outages checked, catch-ups off the rule)."""
    doubles = sum(1 for n in sim.started.values() if n > 1)
    conn = sqlite3.connect(folder / ".cairn" / "runs.sqlite")
    rows = conn.execute(
        "SELECT automation, slot, trigger, status FROM runs WHERE scheduled = 1"
    ).fetchall()
    conn.close()
    recorded = {(a, datetime.fromisoformat(s)) for a, s, _, _ in rows}
    late = Counter[tuple[str, datetime]]()
    for automation, slot, trigger, status in rows:
        if trigger == "catch-up" and status != "skipped":
            late[(automation, datetime.fromisoformat(slot))] += 1
    misses = 0
    off_rule = 0
    for name, timing in sim.timings.items():
        misses += sum(1 for s in timing.slots(START, end) if (name, s) not in recorded)
        for begin, finish in sim.outages:
            ran = sum(1 for (n, s), c in late.items() if n == name and begin < s <= finish)
            off_rule += ran != expected_late_runs(timing, begin, finish)
    return doubles, misses, len(sim.outages), off_rule


def overhead(folder: Path, runs: int = 400) -> tuple[float, float]:
    """p50 ms of decide + finish + run log line, and of the bare SQLite baseline."""
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.starter import copy_starter
    from cairn.scheduler.run_log import append_run

    root = folder / "overhead"
    copy_starter(root)
    model = WorkspaceModel(LocalFileStore(root))
    workspace = model.load()
    automation = workspace.automations["inbox-scan"]
    timing = Timing.of(automation.schedule, "UTC", None)
    base = sqlite3.connect(folder / "baseline.sqlite", isolation_level=None)
    base.execute("PRAGMA journal_mode = WAL")
    base.execute("PRAGMA synchronous = FULL")
    base.execute("CREATE TABLE runs(id INTEGER PRIMARY KEY, slot TEXT, status TEXT)")
    timed, baseline = [], []
    with RunStore(root) as store:
        keeper = SlotKeeper(store)
        keeper.sync({automation.name: timing}, (), START)
        slot = START
        for i in range(runs):
            slot = timing.next_slot(slot) or slot
            began = time.perf_counter()
            claim = keeper.fire(automation.name, slot, slot).outcome
            assert isinstance(claim, Claim)
            run = store.finish(claim.id, "done", cost_usd=0.001, tokens=900, trace=f"t{i}")
            append_run(model, automation, run)
            middle = time.perf_counter()
            cursor = base.execute("INSERT INTO runs(slot, status) VALUES (?, 'running')", (i,))
            base.execute("UPDATE runs SET status = 'done' WHERE id = ?", (cursor.lastrowid,))
            finished = time.perf_counter()
            timed.append((middle - began) * 1000)
            baseline.append((finished - middle) * 1000)
    base.close()
    return statistics.median(timed), statistics.median(baseline)


def idle(folder: Path, seconds: float) -> tuple[float, float, float, float]:
    """(serve CPU s, serve RSS MB, bare CPU s, bare RSS MB) over `seconds` idle."""
    from cairn.infra.starter import copy_starter

    root = folder / "serve"
    copy_starter(root)
    serve = subprocess.Popen(
        [sys.executable, "-m", "cairn", "serve", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        time.sleep(8)  # start-up done: the first decisions, the watcher's first scan
        processes = [psutil.Process(serve.pid), psutil.Process(bare.pid)]
        before = [sum(p.cpu_times()[:2]) for p in processes]
        time.sleep(seconds)
        after = [sum(p.cpu_times()[:2]) for p in processes]
        rss = [p.memory_info().rss / 2**20 for p in processes]
    finally:
        for process in (serve, bare):
            process.terminate()
            process.wait(timeout=30)
    return after[0] - before[0], rss[0], after[1] - before[1], rss[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--automations", type=int, default=100)
    parser.add_argument("--slots", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        sim, end, slots = simulate(folder / "sim", args.automations, args.slots, args.seed)
        took = time.perf_counter() - began
        doubles, misses, outages, off_rule = check(folder / "sim", sim, end)
        days = (end - START).total_seconds() / 86400
        print(
            f"simulation: {args.automations} automations, {slots:,} slots over {days:.1f}"
            f" simulated days, 2 competing schedulers, {outages} outages (restarts, sleeps)"
            f" in {took:.1f} s"
        )
        print(f"  double runs: {doubles}; unrecorded misses: {misses}")
        print(f"  outage x automation catch-ups off the rule: {off_rule}")
        p50, base = overhead(folder)
        print(
            f"per-run overhead (decide + finish + run log line): p50 {p50:.2f} ms;"
            f" bare SQLite insert+update {base:.2f} ms; ratio {p50 / base:.1f}x"
        )
        if args.idle_seconds > 0:
            cpu, rss, bare_cpu, bare_rss = idle(folder, args.idle_seconds)
            print(
                f"idle cairn serve over {args.idle_seconds:.0f} s: CPU {cpu:.2f} s"
                f" ({100 * cpu / args.idle_seconds:.2f}%), RSS {rss:.0f} MB; bare python:"
                f" CPU {bare_cpu:.2f} s, RSS {bare_rss:.0f} MB; RSS ratio {rss / bare_rss:.1f}x"
            )
    return 1 if doubles or misses or off_rule else 0


if __name__ == "__main__":
    sys.exit(main())
