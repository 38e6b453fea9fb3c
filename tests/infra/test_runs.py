"""RunStore: durable automation run state in `.cairn/runs.sqlite`, on real SQLite files
and real processes (racing claims, a run killed with SIGKILL, a recycled pid)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cairn.core.errors import CairnError
from cairn.infra.runs import (
    SCHEMA_VERSION,
    Claim,
    Owner,
    Refusal,
    RunNotFoundError,
    RunNotRunningError,
    RunStore,
    RunStoreError,
    hostname,
)

SRC = Path(__file__).resolve().parents[2] / "src"
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROCESSES = 8
SLOTS = 50
posix_only = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def slot(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


def claimed(result: Claim | Refusal) -> Claim:
    assert isinstance(result, Claim), result.message if isinstance(result, Refusal) else result
    return result


def refused(result: object, reason: str) -> Refusal:
    assert isinstance(result, Refusal), f"expected a refusal ({reason}), got {result}"
    assert result.reason == reason, result.message
    return result


def done(store: RunStore, claim: Claim) -> None:
    store.finish(claim.id, "done", cost_usd=0.0, tokens=0, trace=None)


def python(script: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p),
    }
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path) as opened:
        yield opened


# -- the database ------------------------------------------------------------------------


def test_created_on_first_use_in_cairn_folder(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        assert store.db_path == tmp_path / ".cairn" / "runs.sqlite"
        assert store.history() == []
    assert (tmp_path / ".cairn" / ".gitignore").exists()
    conn = sqlite3.connect(tmp_path / ".cairn" / "runs.sqlite")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT name, version FROM schema_version").fetchall() == [
            ("cairn-runs", SCHEMA_VERSION)
        ]
    finally:
        conn.close()
    with RunStore(tmp_path) as again:  # reopening keeps it
        assert again.history() == []


def test_a_run_round_trips(store: RunStore, tmp_path: Path) -> None:
    paris = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    claim = claimed(store.claim("digest", paris, "schedule"))
    assert claim.slot == paris and claim.slot.tzinfo == UTC
    assert claim.owner == Owner.current()
    assert claim.owner.pid == os.getpid() and claim.owner.host == hostname()
    [running] = store.running()
    assert running.id == claim.id and running.status == "running"
    assert running.finished_at is None
    run = store.finish(
        claim.id,
        "needs-approval",
        cost_usd=0.0123,
        tokens=4567,
        trace="digest-20260302",
        reason="an ask is waiting",
        output_path=tmp_path / "out.md",
    )
    assert run == store.get(claim.id) == store.last_run("digest")
    assert (run.automation, run.slot, run.trigger, run.status) == (
        "digest",
        paris,
        "schedule",
        "needs-approval",
    )
    assert (run.cost_usd, run.tokens, run.trace, run.reason) == (
        0.0123,
        4567,
        "digest-20260302",
        "an ask is waiting",
    )
    assert run.output_path == str(tmp_path / "out.md")
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert store.running() == []
    assert store.last_slot("digest") == paris
    assert store.last_run("other") is None and store.last_slot("other") is None


def test_history_is_newest_first(store: RunStore) -> None:
    for i in range(5):
        done(store, claimed(store.claim("a" if i % 2 else "b", slot(i), "schedule")))
    assert [r.slot for r in store.history()] == [slot(i) for i in reversed(range(5))]
    assert [r.slot for r in store.history("a")] == [slot(3), slot(1)]
    assert [r.slot for r in store.history(limit=2)] == [slot(4), slot(3)]


def test_bad_arguments_are_refused(store: RunStore) -> None:
    with pytest.raises(ValueError, match="time zone"):
        store.claim("a", datetime(2026, 3, 2, 9, 0), "schedule")
    with pytest.raises(ValueError, match="trigger"):
        store.claim("a", slot(0), "cron")
    with pytest.raises(ValueError, match="automation"):
        store.claim("", slot(0), "schedule")
    claim = claimed(store.claim("a", slot(0), "schedule"))
    for status in ("running", "skipped"):
        with pytest.raises(ValueError, match="finish status"):
            store.finish(claim.id, status, cost_usd=0, tokens=0, trace=None)
    with pytest.raises(ValueError, match="negative"):
        store.finish(claim.id, "done", cost_usd=-1, tokens=0, trace=None)
    with pytest.raises(RunNotFoundError):
        store.finish(claim.id + 1, "done", cost_usd=0, tokens=0, trace=None)
    store.finish(claim.id, "failed", cost_usd=0, tokens=10, trace=None, reason="boom")
    with pytest.raises(RunNotRunningError, match="failed: boom"):
        store.finish(claim.id, "done", cost_usd=0, tokens=0, trace=None)
    assert store.get(claim.id).status == "failed"
    assert store.history() == [store.get(claim.id)]  # the refused calls wrote nothing


def test_corrupt_database_gives_clear_error_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / ".cairn" / "runs.sqlite"
    path.parent.mkdir()
    garbage = b"this is not a database, it only sits where one should be\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(RunStoreError, match="move it aside") as caught:
        RunStore(tmp_path)
    assert isinstance(caught.value, CairnError)
    assert str(path) in str(caught.value) and "runs.sqlite.broken" in str(caught.value)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in path.parent.iterdir()) == [".gitignore", "runs.sqlite"]


def test_damaged_pages_give_clear_error_and_are_left_untouched(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        for i in range(300):
            done(store, claimed(store.claim(f"automation-{i % 7}", slot(i), "schedule")))
    path = tmp_path / ".cairn" / "runs.sqlite"
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    data[4096:8192] = b"\xa5" * 4096  # the page after the header and schema
    path.write_bytes(bytes(data))
    with pytest.raises(RunStoreError, match="move it aside"):
        RunStore(tmp_path)
    assert path.read_bytes() == bytes(data)


def test_foreign_database_gives_clear_error_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / ".cairn" / "runs.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE runs(id INTEGER PRIMARY KEY, what TEXT)")
    conn.execute("INSERT INTO runs(what) VALUES ('someone else''s data')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(RunStoreError, match=r"not Cairn's run database.*move it aside"):
        RunStore(tmp_path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    RunStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / ".cairn" / "runs.sqlite")
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(RunStoreError, match=r"newer Cairn.*Update Cairn"):
        RunStore(tmp_path)


def test_a_version_1_database_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        done(store, claimed(store.claim("digest", slot(0), "schedule")))
    conn = sqlite3.connect(tmp_path / ".cairn" / "runs.sqlite")
    conn.execute("DROP TABLE automations")  # what version 1 wrote
    conn.execute("UPDATE schema_version SET version = 1")
    conn.commit()
    conn.close()
    with RunStore(tmp_path) as store:
        assert [r.status for r in store.history("digest")] == ["done"]
        assert store.first_seen("digest", slot(5)) == slot(5)
    conn = sqlite3.connect(tmp_path / ".cairn" / "runs.sqlite")
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_first_seen_is_kept_and_pauses_are_remembered_once(tmp_path: Path) -> None:
    with RunStore(tmp_path) as one, RunStore(tmp_path) as two:
        assert one.first_seen("digest", slot(0)) == slot(0)
        assert two.first_seen("digest", slot(9)) == slot(0)  # the first sighting stays
        assert one.note_resumed("digest") is None  # it was never paused
        one.note_paused("digest", slot(10))
        two.note_paused("digest", slot(20))  # already paused: the earlier time stays
        assert two.note_resumed("digest") == slot(10)
        assert one.note_resumed("digest") is None  # only one resumption is reported
        two.note_paused("new", slot(30))  # paused before any scheduler saw it
        assert one.first_seen("new") == slot(30)


# -- one firing per slot -----------------------------------------------------------------


def test_a_slot_is_claimed_once(tmp_path: Path) -> None:
    with RunStore(tmp_path) as one, RunStore(tmp_path) as two:
        first = claimed(one.claim("digest", slot(0), "schedule"))
        done(one, first)
        taken = refused(two.claim("digest", slot(0), "schedule"), "taken")
        assert taken.holder.id == first.id and taken.holder.status == "done"
        # a catch-up is a late firing of the same slot: taken too
        refused(two.claim("digest", slot(0), "catch-up"), "taken")
        # the same instant in another zone is the same slot
        refused(
            two.claim("digest", slot(0).astimezone(ZoneInfo("Asia/Tokyo")), "schedule"), "taken"
        )
        done(two, claimed(two.claim("digest", slot(1), "catch-up")))
        done(two, claimed(two.claim("other", slot(0), "schedule")))
        for i, status in enumerate(("failed", "paused", "interrupted")):  # any status keeps it
            run = claimed(one.claim("x", slot(10 + i), "schedule"))
            one.finish(run.id, status, cost_usd=0, tokens=0, trace=None)
            refused(two.claim("x", run.slot, "schedule"), "taken")
        assert len(two.history()) == 6


RACER = """
import json, random, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from cairn.infra.runs import Claim, RunStore

root, go, seed, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# the same slots for every process, in an order of its own: 5 automations, 10 slots each
slots = [(f"auto-{i % 5}", base + timedelta(minutes=i // 5)) for i in range(count)]
rng = random.Random(seed)
rng.shuffle(slots)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
store = RunStore(root)  # all at once, on a database none of them has created yet
won, overlaps = [], 0
while slots:
    automation, at = slots.pop(0)
    result = store.claim(automation, at, "schedule")
    if isinstance(result, Claim):
        won.append([automation, at.isoformat()])
        time.sleep(rng.uniform(0, 0.003))  # the run's work: others claim meanwhile
        store.finish(result.id, "done", cost_usd=0.0, tokens=1, trace=None)
    elif result.reason == "overlap":  # not consumed: try again later
        slots.append((automation, at))
        overlaps += 1
        time.sleep(0.001)
print(json.dumps({"won": won, "overlaps": overlaps}), flush=True)
"""


@pytest.mark.slow
def test_racing_processes_claim_each_slot_exactly_once(tmp_path: Path) -> None:
    go = tmp_path / "go"
    racers = [
        python(RACER, str(tmp_path), str(go), str(seed), str(SLOTS)) for seed in range(PROCESSES)
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline() == "ready\n"
        go.touch()
        outputs = [racer.communicate(timeout=120) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    for racer, (_, err) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, err
    wins = [[tuple(w) for w in json.loads(out)["won"]] for out, _ in outputs]
    every = [w for won in wins for w in won]
    expected = sorted((f"auto-{i % 5}", slot(i // 5).isoformat()) for i in range(SLOTS))
    assert sorted(every) == expected  # each slot claimed exactly once, across all processes
    with RunStore(tmp_path) as store:
        rows = store.history(limit=1000)
    assert sorted((r.automation, r.slot.isoformat()) for r in rows) == expected
    assert {r.status for r in rows} == {"done"}
    for racer, won in zip(racers, wins, strict=True):
        owned = {(r.automation, r.slot.isoformat()) for r in rows if r.owner.pid == racer.pid}
        assert owned == set(won)


# -- overlap -------------------------------------------------------------------------------


def test_overlap_is_refused_while_a_live_owner_runs(store: RunStore) -> None:
    first = claimed(store.claim("digest", slot(0), "schedule"))
    overlap = refused(store.claim("digest", slot(1), "schedule"), "overlap")
    assert overlap.holder.id == first.id and "never overlaps" in overlap.message
    refused(store.claim("digest", slot(1), "run-now"), "overlap")
    done(store, claimed(store.claim("other", slot(1), "schedule")))  # others run meanwhile
    # the refused slot was not consumed
    done(store, first)
    done(store, claimed(store.claim("digest", slot(1), "schedule")))
    assert [r.status for r in store.history("digest")] == ["done", "done"]


def test_overlap_with_a_live_owner_in_another_process(tmp_path: Path) -> None:
    holder = python(
        "import sys, time\n"
        "from datetime import datetime, UTC\n"
        "from cairn.infra.runs import RunStore\n"
        "claim = RunStore(sys.argv[1]).claim('digest', datetime(2026, 3, 2, 9, tzinfo=UTC),"
        " 'schedule')\n"
        "print(claim.id, flush=True)\n"
        "sys.stdin.read()\n",
        str(tmp_path),
        stdin=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        run_id = int(holder.stdout.readline())
        with RunStore(tmp_path) as store:
            assert store.recover() == []  # alive: nothing to recover
            refused(store.claim("digest", slot(1), "schedule"), "overlap")
    finally:
        holder.communicate(input="", timeout=30)
    with RunStore(tmp_path) as store:  # it exited without finishing: dead now
        claimed(store.claim("digest", slot(1), "schedule"))
        assert store.get(run_id).status == "interrupted"


# -- dead owners ---------------------------------------------------------------------------

KILLED = """
import sys, time
from datetime import datetime, UTC
from cairn.infra.runs import RunStore

claim = RunStore(sys.argv[1]).claim("nightly", datetime.fromisoformat(sys.argv[2]), "schedule")
print(claim.id, flush=True)
time.sleep(600)
"""

RECOVER = """
import json, sys
from cairn.infra.runs import RunStore

store = RunStore(sys.argv[1])
print(json.dumps([[r.id, r.status, r.reason] for r in store.recover()]), flush=True)
"""


@posix_only
@pytest.mark.slow
def test_a_run_killed_mid_way_is_interrupted_after_restart(tmp_path: Path) -> None:
    child = python(KILLED, str(tmp_path), slot(0).isoformat())
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), child.stderr.read() if child.stderr else line
        run_id = int(line)
        with RunStore(tmp_path) as store:
            assert [r.id for r in store.running()] == [run_id]
            assert store.get(run_id).owner.pid == child.pid
            refused(store.claim("nightly", slot(1), "schedule"), "overlap")
        os.kill(child.pid, signal.SIGKILL)
        if hasattr(os, "waitid"):  # a zombie now, not reaped yet: still counts as dead
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        else:
            child.wait(timeout=30)
        # a new process starts, recovers
        out, err = python(RECOVER, str(tmp_path)).communicate(timeout=60)
        assert out, err
        [[recovered_id, status, reason]] = json.loads(out)
        assert (recovered_id, status) == (run_id, "interrupted")
        assert f"process {child.pid}" in reason and "not replayed" in reason
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with RunStore(tmp_path) as store:
        run = store.get(run_id)
        assert run.status == "interrupted" and run.finished_at is not None
        assert store.recover() == []  # once
        assert store.running() == []
        taken = refused(store.claim("nightly", slot(0), "schedule"), "taken")  # never replayed
        assert taken.holder.status == "interrupted"
        refused(store.claim("nightly", slot(0), "catch-up"), "taken")
        with pytest.raises(RunNotRunningError, match="interrupted"):
            store.finish(run_id, "done", cost_usd=0, tokens=0, trace=None)
        done(store, claimed(store.claim("nightly", slot(1), "schedule")))  # the next slot runs
        done(store, claimed(store.claim("nightly", slot(0), "run-now")))  # the user may run it


def test_a_recycled_pid_counts_as_dead(store: RunStore) -> None:
    me = Owner.current()
    ghost = Owner(me.pid, me.started - 3600.0, me.host)  # same pid, another process's start
    first = claimed(store.claim("digest", slot(0), "schedule", ghost))
    [recovered] = store.recover()
    assert recovered.id == first.id and recovered.status == "interrupted"
    assert recovered.reason is not None and "another process" in recovered.reason
    # a claim recovers dead owners of its automation by itself
    second = claimed(store.claim("digest", slot(1), "schedule", ghost))
    third = claimed(store.claim("digest", slot(2), "schedule", me))
    assert store.get(second.id).status == "interrupted"
    assert store.get(third.id).status == "running"


def test_a_pid_that_does_not_exist_is_dead(store: RunStore) -> None:
    gone = Owner(2**31 - 2, 1_700_000_000.0, hostname())
    claim = claimed(store.claim("digest", slot(0), "schedule", gone))
    assert [r.id for r in store.recover()] == [claim.id]


def test_runs_of_another_host_are_left_alone(store: RunStore) -> None:
    me = Owner.current()
    remote = Owner(me.pid + 1, me.started, "another-machine.invalid")
    claim = claimed(store.claim("digest", slot(0), "schedule", remote))
    assert store.recover() == []
    assert [r.id for r in store.running()] == [claim.id]
    refused(store.claim("digest", slot(1), "schedule"), "overlap")
    store.finish(claim.id, "done", cost_usd=0, tokens=0, trace=None)  # when it reports back
    claimed(store.claim("digest", slot(1), "schedule"))


# -- run-now and skipped slots -------------------------------------------------------------


def test_run_now_never_conflicts_with_a_scheduled_slot(store: RunStore) -> None:
    # a scheduled slot that ran does not block a run-now at the same instant
    done(store, claimed(store.claim("digest", slot(0), "schedule")))
    now = claimed(store.claim("digest", slot(0), "run-now"))
    assert now.slot == slot(0) and now.trigger == "run-now"
    done(store, now)
    # a run-now does not consume the scheduled slot at its instant
    done(store, claimed(store.claim("digest", slot(1), "run-now")))
    done(store, claimed(store.claim("digest", slot(1), "schedule")))
    # two run-nows asked at the same instant get distinct slots
    again = claimed(store.claim("digest", slot(1), "run-now"))
    assert again.slot == slot(1) + timedelta(microseconds=1)
    done(store, again)
    # without an instant in mind: the current time
    fresh = claimed(store.claim("digest", datetime.now(UTC), "run-now"))
    done(store, fresh)
    assert store.last_slot("digest") == slot(1)  # run-now instants are not slots
    assert [r.trigger for r in store.history("digest")] == [
        "run-now",
        "run-now",
        "schedule",
        "run-now",
        "run-now",
        "schedule",
    ]


def test_skipped_slots_can_never_run(store: RunStore) -> None:
    skipped = store.mark_skipped("digest", slot(0), "catch-up", "older than the catch-up window")
    assert not isinstance(skipped, Refusal)
    assert skipped.status == "skipped" and skipped.reason == "older than the catch-up window"
    assert skipped.finished_at == skipped.started_at
    for trigger in ("schedule", "catch-up"):
        taken = refused(store.claim("digest", slot(0), trigger), "taken")
        assert taken.holder.id == skipped.id
    assert store.running() == []
    again = store.mark_skipped("digest", slot(0), "schedule", "twice")
    assert isinstance(again, Refusal) and again.reason == "taken"
    done(store, claimed(store.claim("digest", slot(1), "schedule")))
    refused(store.mark_skipped("digest", slot(1), "schedule", "too late"), "taken")
    assert store.last_run("digest") is not None
    assert store.last_slot("digest") == slot(1)
    # skipping while the automation runs is allowed (that is what overlap leads to)
    running = claimed(store.claim("digest", slot(2), "schedule"))
    skip = store.mark_skipped("digest", slot(3), "schedule", "the previous run was still going")
    assert not isinstance(skip, Refusal) and skip.status == "skipped"
    done(store, running)
    refused(store.claim("digest", slot(3), "schedule"), "taken")


# -- readers and a writer ------------------------------------------------------------------


def test_readers_do_not_error_while_a_writer_claims(tmp_path: Path) -> None:
    RunStore(tmp_path).close()
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []

    def read() -> None:
        try:
            with RunStore(tmp_path) as reader:
                while not stop.is_set():
                    rows = reader.history(limit=20)
                    reader.running()
                    reader.last_run("busy")
                    seen.append(len(rows))
        except BaseException as exc:
            errors.append(exc)

    def write() -> None:
        try:
            with RunStore(tmp_path) as writer:
                for i in range(150):
                    claim = claimed(writer.claim("busy", slot(i), "schedule"))
                    writer.finish(claim.id, "done", cost_usd=0.001, tokens=i, trace=f"t{i}")
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    writer = threading.Thread(target=write)
    for thread in readers:
        thread.start()
    writer.start()
    writer.join(timeout=120)
    stop.set()
    for thread in readers:
        thread.join(timeout=30)
    assert errors == []
    assert seen and max(seen) == 20
    with RunStore(tmp_path) as store:
        assert len(store.history(limit=1000)) == 150
