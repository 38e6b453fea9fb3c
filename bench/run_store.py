"""Benchmark: scheduling overhead per automation run, claim + record, in `RunStore`.

Each run is `claim(automation, slot, "schedule")` then `finish(run_id, "done", ...)` on a
`.cairn/runs.sqlite` in a temporary folder (or --dir): two `BEGIN IMMEDIATE` transactions,
the slot and overlap checks, and two synchronous commits. --runs (1,000) runs over
--automations (10) automations, one slot each, after --warmup untimed runs. The baseline,
timed in the same process and folder, alternating with the store run by run so both see
the same disk, is what any durable record costs: a bare SQLite INSERT then UPDATE of a row
on its own connection with the same settings (WAL, synchronous FULL, one commit each).
Reported: p50 / p95 in ms of both, and the ratio of the p50s (the store's checks, its
owner and its `BEGIN IMMEDIATE` on top of the two commits).

Exit status 0 whatever the figures (benchmarks report, they do not gate); 1 when a claim
is refused (every slot is new, so none should be).

    .venv/bin/python bench/run_store.py [--runs 1000] [--automations 10] [--dir DIR]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cairn.infra.runs import Claim, RunStore

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def measure(
    folder: Path, runs: int, automations: int, warmup: int
) -> tuple[list[float], list[float]] | None:
    """(store times, baseline times), taken in alternation so both see the same disk."""
    conn = sqlite3.connect(folder / "baseline.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE runs(id INTEGER PRIMARY KEY, automation TEXT, slot TEXT, status TEXT,"
        " cost REAL, tokens INTEGER, trace TEXT)"
    )
    timed: list[float] = []
    baseline: list[float] = []
    try:
        with RunStore(folder / "workspace") as store:
            for i in range(warmup + runs):
                automation = f"automation-{i % automations}"
                slot = BASE + timedelta(minutes=i)

                started = time.perf_counter()
                claim = store.claim(automation, slot, "schedule")
                if not isinstance(claim, Claim):
                    print(f"refused: {claim.message}", file=sys.stderr)
                    return None
                store.finish(claim.id, "done", cost_usd=0.0012, tokens=1500, trace=f"run-{i}")
                middle = time.perf_counter()
                cursor = conn.execute(
                    "INSERT INTO runs(automation, slot, status) VALUES (?, ?, 'running')",
                    (automation, slot.isoformat()),
                )
                conn.execute(
                    "UPDATE runs SET status = 'done', cost = ?, tokens = ?, trace = ? WHERE id = ?",
                    (0.0012, 1500, f"run-{i}", cursor.lastrowid),
                )
                ended = time.perf_counter()
                if i >= warmup:
                    timed.append(middle - started)
                    baseline.append(ended - middle)
    finally:
        conn.close()
    return timed, baseline


def describe(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"{name:<28} p50 {statistics.median(times) * 1000:7.3f} ms   p95 {p95 * 1000:7.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--automations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-runs-") as scratch:
        folder = args.dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        measured = measure(folder, args.runs, args.automations, args.warmup)
        if measured is None:
            return 1
        timed, baseline = measured
    print(f"{args.runs} runs over {args.automations} automations (after {args.warmup} warm-up)")
    print(describe("RunStore claim + finish", timed))
    print(describe("bare INSERT + UPDATE", baseline))
    ratio = statistics.median(timed) / statistics.median(baseline)
    print(f"ratio of p50s (store / bare SQLite): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
