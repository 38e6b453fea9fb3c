"""Durable run state for automations: one SQLite database, `.cairn/runs.sqlite`.

Each row is one run of an automation: the slot it was scheduled for, its trigger
(`schedule`, `catch-up`, `run-now`), its status, who runs it (`Owner`), its cost, tokens,
trace id, a reason and the output it wrote. A skipped slot is a row too.

The rules:

* **One firing per slot, across processes.** Before a run starts, `claim` takes
  `(automation, slot)` in one `BEGIN IMMEDIATE` transaction. A slot that has a row, in any
  status, is refused ("taken"): a slot runs at most once, ever, whichever process (another
  `cairn serve`, the app, a restart) asks. `schedule` and `catch-up` share the slots of the
  schedule: a catch-up is a late firing of a scheduled slot.
* **Run-now never blocks or consumes a scheduled slot.** It gets a slot of its own, the
  instant asked for, moved on by a microsecond while another run-now of the automation
  already holds it, in a separate lane of slots.
* **No overlap of an automation with itself.** A claim is refused ("overlap") while the
  automation has a `running` row whose owner is alive. A refused overlap does not consume
  the slot: the caller decides to try again later or to `mark_skipped` it.
* **An owner is a process, not a pid.** `Owner` is the pid, the process's start time and the
  host name. On this host it is alive while a process with that pid exists, is no zombie,
  and started at that time (within `START_SLACK_S`: Linux derives start times from a boot
  time that can read a second apart). A pid reused by a later process is therefore dead.
* **Interrupted runs are never replayed.** A `running` row whose owner is dead is marked
  `interrupted`, with the reason, by `recover()` (call it at start-up) and by any `claim`
  for the same automation. Its slot stays consumed: it is never run again automatically,
  the next slot runs normally, and the user can `run-now`. A run may have done part of its
  work (written files, sent messages) before it died, so replaying it blindly could do that
  twice; a person decides.
* **Other hosts are left alone.** When `.cairn/` is in a folder shared between machines,
  a process on another host cannot be checked from here: its `running` rows are never
  marked interrupted by this host and keep refusing overlap until that host finishes or
  recovers them.

The database is the record, not a cache: unlike the memory index it is never rebuilt or
deleted. Commits are synchronous (`synchronous = FULL`), so a claim survives a power cut.
A corrupt file, another program's database, or one from a newer Cairn raises
`RunStoreError` saying how to fix it (move the file aside); the file is left as it was.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal, cast, get_args

import psutil

from cairn.core.errors import CairnError
from cairn.infra.sqlite_db import BUSY_TIMEOUT_MS, connect, use_wal
from cairn.infra.state import STATE, make_folder

Trigger = Literal["schedule", "catch-up", "run-now"]
Status = Literal["running", "done", "failed", "paused", "needs-approval", "interrupted", "skipped"]
FinalStatus = Literal["done", "failed", "paused", "needs-approval", "interrupted"]

TRIGGERS: Final = frozenset(get_args(Trigger))
STATUSES: Final = frozenset(get_args(Status))
FINAL_STATUSES: Final = frozenset(get_args(FinalStatus))

DB_NAME = "runs.sqlite"
SCHEMA_NAME = "cairn-runs"  # the row that says a database is Cairn's run database
SCHEMA_VERSION = 2
START_SLACK_S = 2.0  # start times this close are the same process (see the module notes)

# Added after version 1; a version-1 file gets them when it is next opened.
_MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        2,
        (
            # What a scheduler learned of each automation: when it was first seen (slots
            # before then are owed nothing) and since when it has been paused.
            "CREATE TABLE automations("
            " name TEXT PRIMARY KEY,"
            " first_seen TEXT NOT NULL,"
            " paused_since TEXT) WITHOUT ROWID",
        ),
    ),
)

_SCHEMA = (
    "CREATE TABLE schema_version(name TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE runs("
    " id INTEGER PRIMARY KEY,"
    " automation TEXT NOT NULL,"
    " slot TEXT NOT NULL,"  # UTC ISO 8601 with microseconds: sorts as time
    " scheduled INTEGER NOT NULL,"  # the lane of slots: 1 schedule and catch-up, 0 run-now
    " trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch-up', 'run-now')),"
    " status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'paused',"
    " 'needs-approval', 'interrupted', 'skipped')),"
    " owner_pid INTEGER NOT NULL,"
    " owner_started REAL NOT NULL,"
    " owner_host TEXT NOT NULL,"
    " started_at TEXT NOT NULL,"
    " finished_at TEXT,"
    " cost_usd REAL NOT NULL DEFAULT 0,"
    " tokens INTEGER NOT NULL DEFAULT 0,"
    " trace TEXT,"
    " reason TEXT,"
    " output_path TEXT,"
    " CHECK (scheduled = (trigger != 'run-now')),"
    " UNIQUE (automation, scheduled, slot))",
    "CREATE INDEX runs_by_automation ON runs(automation, id)",
    "CREATE INDEX runs_running ON runs(automation) WHERE status = 'running'",
    *(sql for _, sqls in _MIGRATIONS for sql in sqls),
)
_INSERT = (
    "INSERT INTO runs(automation, slot, scheduled, trigger, status, owner_pid, owner_started,"
    " owner_host, started_at, finished_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_RunRow = tuple[  # SELECT * FROM runs
    int,
    str,
    str,
    int,
    str,
    str,
    int,
    float,
    str,
    str,
    str | None,
    float,
    int,
    str | None,
    str | None,
    str | None,
]


class RunStoreError(CairnError):
    """The run database cannot be used (corrupt, foreign, newer, or busy too long)."""


class RunNotFoundError(RunStoreError, LookupError):
    """No run has that id."""


class RunNotRunningError(RunStoreError):
    """The run is no longer running (finished already, or marked interrupted)."""


@dataclass(frozen=True, slots=True)
class Owner:
    """The process that runs a run: pid, its start time (seconds since the epoch, as
    `psutil.Process(pid).create_time()` gives it) and the host name."""

    pid: int
    started: float
    host: str

    @classmethod
    def current(cls) -> Owner:
        """This process (looked up once per process; a forked child looks again)."""
        pid = os.getpid()
        if pid not in _CURRENT:
            _CURRENT.clear()
            _CURRENT[pid] = cls.of(pid)
        return _CURRENT[pid]

    @classmethod
    def of(cls, pid: int) -> Owner:
        """A running process of this host; `psutil.NoSuchProcess` when there is none."""
        return cls(pid, psutil.Process(pid).create_time(), hostname())


_CURRENT: dict[int, Owner] = {}  # this process's owner, by pid (a fork looks again)


@functools.cache
def hostname() -> str:
    return socket.gethostname()


@dataclass(frozen=True, slots=True)
class Run:
    """One row: a run, or a skipped slot. Times are aware, in UTC."""

    id: int
    automation: str
    slot: datetime
    trigger: Trigger
    status: Status
    owner: Owner
    started_at: datetime  # when it was claimed (or skipped)
    finished_at: datetime | None  # None while running
    cost_usd: float
    tokens: int
    trace: str | None  # the trace id: `.cairn/traces/<trace>.jsonl`
    reason: str | None  # why it failed, paused, was interrupted or skipped
    output_path: str | None


OVERLAP_REASON = "the run for an earlier slot (run {run}) was still running"


@dataclass(frozen=True, slots=True)
class Decision:
    """What `RunStore.decide` records: slots to skip, each with its reason, and at most
    one slot to run now with its trigger (`schedule` or `catch-up`)."""

    skip: tuple[tuple[datetime, str], ...] = ()
    run: tuple[datetime, Trigger] | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A slot won by `claim`: the caller runs it, then calls `finish(claim.id, ...)`."""

    id: int
    automation: str
    slot: datetime
    trigger: Trigger
    owner: Owner
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """A claim that must not run. `taken`: the slot has a row already (`holder`), in any
    status. `overlap`: the automation is running (`holder`) under a live owner; the slot
    is not consumed."""

    automation: str
    slot: datetime
    trigger: Trigger
    reason: Literal["taken", "overlap"]
    holder: Run

    @property
    def message(self) -> str:
        when = self.slot.isoformat()
        if self.reason == "taken":
            return (
                f"{self.automation}: the slot {when} is taken (run {self.holder.id},"
                f" {self.holder.status}); a slot runs at most once"
            )
        owner = self.holder.owner
        return (
            f"{self.automation}: still running (run {self.holder.id}, process {owner.pid}"
            f" on {owner.host}); an automation never overlaps itself"
        )


@dataclass(frozen=True, slots=True)
class Decided:
    """What `RunStore.decide` did: the slot claimed to run now (or why not, or None when
    nothing was due) and the rows of the slots it recorded as skipped."""

    outcome: Claim | Refusal | None
    skipped: tuple[Run, ...] = ()


class RunStore:
    """The run database of one workspace. One connection, used under a lock, so threads
    may share a store; each process opens its own. Created on first use."""

    def __init__(
        self, root: str | os.PathLike[str], db_path: str | os.PathLike[str] | None = None
    ) -> None:
        self.root = Path(root)
        self.db_path = Path(db_path) if db_path else self.root / STATE / DB_NAME
        make_folder(self.db_path.parent)
        self._lock = threading.RLock()
        self._conn = self._connect()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writes ----------------------------------------------------------------------

    def claim(
        self,
        automation: str,
        slot: datetime,
        trigger: Trigger,
        owner: Owner | None = None,
        *,
        now: datetime | None = None,
    ) -> Claim | Refusal:
        """Take `(automation, slot)` for a run that starts now, or say why not.

        Atomic across processes. `running` rows of this automation whose owner is dead
        are marked interrupted first. For `run-now`, `slot` is the instant asked for (the
        current time, usually), moved on by a microsecond while it is taken.
        """
        _check_name(automation)
        _check_trigger(trigger)
        owner = owner or Owner.current()
        started = _utc(now) if now else _now()
        text = _text(slot)
        with self._write() as conn:
            if trigger != "run-now" and (holder := self._holder(automation, 1, text)):
                return Refusal(automation, _parse(text), trigger, "taken", holder)
            for running in self._running(automation):
                why = _death(running.owner)
                if why is None:
                    return Refusal(automation, _parse(text), trigger, "overlap", running)
                self._interrupt(running.id, why, started)
            if trigger == "run-now":
                text = self._free_instant(automation, slot)
            args = (automation, text, int(trigger != "run-now"), trigger, "running")
            cursor = conn.execute(
                _INSERT, (*args, owner.pid, owner.started, owner.host, _text(started), None, None)
            )
            assert cursor.lastrowid is not None
            return Claim(cursor.lastrowid, automation, _parse(text), trigger, owner, started)

    def mark_skipped(
        self,
        automation: str,
        slot: datetime,
        trigger: Trigger,
        reason: str,
        owner: Owner | None = None,
        *,
        now: datetime | None = None,
    ) -> Run | Refusal:
        """Record that a slot is skipped (overlap, a catch-up policy, a paused automation):
        a row, so the slot can never run later. Refused when the slot is taken."""
        _check_name(automation)
        _check_trigger(trigger)
        owner = owner or Owner.current()
        at = _text(now or _now())
        text = _text(slot)
        with self._write() as conn:
            if trigger == "run-now":
                text = self._free_instant(automation, slot)
            elif holder := self._holder(automation, 1, text):
                return Refusal(automation, _parse(text), trigger, "taken", holder)
            args = (automation, text, int(trigger != "run-now"), trigger, "skipped")
            cursor = conn.execute(
                _INSERT, (*args, owner.pid, owner.started, owner.host, at, at, reason)
            )
            assert cursor.lastrowid is not None
            return self._get(cursor.lastrowid)

    def decide(
        self,
        automation: str,
        plan: Callable[[datetime | None], Decision],
        owner: Owner | None = None,
        *,
        now: datetime | None = None,
    ) -> Decided:
        """Decide the automation's due slots in one transaction: `plan` gets the latest
        recorded slot (read inside the transaction, so two processes deciding at once
        see each other's rows), and says which slots to skip and which one to run.

        The skips are recorded and the run is claimed together: another process that
        decides next sees the claim and plans from it. While the automation runs under a
        live owner nothing is run: a `schedule` slot is then recorded as skipped (with
        the skips), a `catch-up` is left for a later decision; the `Refusal` says so.
        Returns the `Claim`, the `Refusal`, or None when there was nothing to run, with
        the rows of the slots it skipped."""
        _check_name(automation)
        owner = owner or Owner.current()
        started = _utc(now) if now else _now()
        at = _text(started)
        with self._write() as conn:
            sql = "SELECT max(slot) FROM runs WHERE automation = ? AND scheduled = 1"
            row = conn.execute(sql, (automation,)).fetchone()
            decision = plan(_parse(row[0]) if row and row[0] else None)
            busy: Run | None = None
            if decision.run is not None:
                for running in self._running(automation):
                    why = _death(running.owner)
                    if why is None:
                        busy = running
                        break
                    self._interrupt(running.id, why, started)
            skips: list[tuple[datetime, str, Trigger]] = [
                (slot, reason, "catch-up") for slot, reason in decision.skip
            ]
            if busy is not None and decision.run is not None:
                slot, trigger = decision.run
                if trigger != "schedule":  # decided again once the automation is free
                    return Decided(Refusal(automation, _utc(slot), trigger, "overlap", busy))
                skips.append((slot, OVERLAP_REASON.format(run=busy.id), "schedule"))
            skipped: list[Run] = []
            for slot, reason, kind in skips:
                if self._holder(automation, 1, _text(slot)) is None:
                    args = (automation, _text(slot), 1, kind, "skipped")
                    cursor = conn.execute(
                        _INSERT, (*args, owner.pid, owner.started, owner.host, at, at, reason)
                    )
                    assert cursor.lastrowid is not None
                    skipped.append(self._get(cursor.lastrowid))
            if decision.run is None:
                return Decided(None, tuple(skipped))
            slot, trigger = decision.run
            if busy is not None:
                return Decided(
                    Refusal(automation, _utc(slot), trigger, "overlap", busy), tuple(skipped)
                )
            if holder := self._holder(automation, 1, _text(slot)):
                return Decided(
                    Refusal(automation, _utc(slot), trigger, "taken", holder), tuple(skipped)
                )
            args = (automation, _text(slot), 1, trigger, "running")
            cursor = conn.execute(
                _INSERT, (*args, owner.pid, owner.started, owner.host, at, None, None)
            )
            assert cursor.lastrowid is not None
            claim = Claim(cursor.lastrowid, automation, _utc(slot), trigger, owner, started)
            return Decided(claim, tuple(skipped))

    def finish(
        self,
        run_id: int,
        status: FinalStatus,
        *,
        cost_usd: float,
        tokens: int,
        trace: str | None,
        reason: str | None = None,
        output_path: str | os.PathLike[str] | None = None,
        now: datetime | None = None,
    ) -> Run:
        """Record how a running run ended; returns the row. `RunNotRunningError` when it
        is not running any more (finished twice, or marked interrupted meanwhile)."""
        if status not in FINAL_STATUSES:
            raise ValueError(
                f"finish status must be one of {sorted(FINAL_STATUSES)}, not {status!r}"
            )
        if cost_usd < 0 or tokens < 0:
            raise ValueError("cost_usd and tokens cannot be negative")
        output = os.fspath(output_path) if output_path is not None else None
        with self._write() as conn:
            run = self._get(run_id)
            if run.status != "running":
                why = f": {run.reason}" if run.reason else ""
                raise RunNotRunningError(
                    f"run {run_id} of {run.automation} is {run.status}{why}; it cannot be"
                    f" finished as {status}"
                )
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, cost_usd = ?, tokens = ?,"
                " trace = ?, reason = ?, output_path = ? WHERE id = ?",
                (
                    status,
                    _text(now or _now()),
                    float(cost_usd),
                    int(tokens),
                    trace,
                    reason,
                    output,
                    run_id,
                ),
            )
            return self._get(run_id)

    def recover(self, now: datetime | None = None) -> list[Run]:
        """Mark `interrupted` every running row of this host whose owner is dead; returns
        them. Rows of other hosts are left alone. Never replays anything."""
        at = now or _now()
        with self._lock:
            dead = [(run, why) for run in self._running(None) if (why := _death(run.owner))]
            if not dead:
                return []
            with self._write():
                done = [run.id for run, why in dead if self._interrupt(run.id, why, at)]
                return [self._get(run_id) for run_id in done]

    def first_seen(self, automation: str, now: datetime | None = None) -> datetime:
        """When a scheduler first saw `automation` (recorded now if never): slots before
        it are owed nothing, so a new file does not catch up on its past."""
        _check_name(automation)
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO automations(name, first_seen) VALUES (?, ?)",
                (automation, _text(now or _now())),
            )
            sql = "SELECT first_seen FROM automations WHERE name = ?"
            return _parse(conn.execute(sql, (automation,)).fetchone()[0])

    def note_paused(self, automation: str, now: datetime | None = None) -> None:
        """The automation is paused (`enabled: false`) as of `now`, if not already."""
        _check_name(automation)
        at = _text(now or _now())
        with self._write() as conn:
            conn.execute(
                "INSERT INTO automations(name, first_seen, paused_since) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET paused_since ="
                " coalesce(automations.paused_since, excluded.paused_since)",
                (automation, at, at),
            )

    def note_resumed(self, automation: str) -> datetime | None:
        """The automation runs again; returns since when it was paused (None if it was
        not noted as paused): the slots in between are skipped, not caught up."""
        _check_name(automation)
        with self._write() as conn:
            sql = "SELECT paused_since FROM automations WHERE name = ?"
            row = conn.execute(sql, (automation,)).fetchone()
            if row is None or row[0] is None:
                return None
            conn.execute("UPDATE automations SET paused_since = NULL WHERE name = ?", (automation,))
            return _parse(row[0])

    # -- reads -----------------------------------------------------------------------

    def get(self, run_id: int) -> Run:
        with self._lock:
            return self._get(run_id)

    def last_run(self, automation: str) -> Run | None:
        """The automation's latest row (the last claimed or skipped), any status."""
        with self._lock:
            sql = "SELECT * FROM runs WHERE automation = ? ORDER BY id DESC LIMIT 1"
            row = self._conn.execute(sql, (automation,)).fetchone()
        return _run(row) if row else None

    def last_slot(self, automation: str) -> datetime | None:
        """The latest scheduled slot recorded for the automation (run, skipped or
        interrupted): where a catch-up starts from. Run-now instants are not slots."""
        with self._lock:
            sql = "SELECT max(slot) FROM runs WHERE automation = ? AND scheduled = 1"
            row = self._conn.execute(sql, (automation,)).fetchone()
        return _parse(row[0]) if row and row[0] else None

    def history(self, automation: str | None = None, limit: int = 50) -> list[Run]:
        """The latest rows, newest first, of one automation or of all."""
        with self._lock:
            if automation is None:
                sql = "SELECT * FROM runs ORDER BY id DESC LIMIT ?"
                rows = self._conn.execute(sql, (limit,)).fetchall()
            else:
                sql = "SELECT * FROM runs WHERE automation = ? ORDER BY id DESC LIMIT ?"
                rows = self._conn.execute(sql, (automation, limit)).fetchall()
        return [_run(r) for r in rows]

    def running(self) -> list[Run]:
        """Every row marked running, oldest first, whatever its owner (`recover` first to
        clear those whose process died)."""
        with self._lock:
            return self._running(None)

    # -- internals -------------------------------------------------------------------

    def _get(self, run_id: int) -> Run:
        sql = "SELECT * FROM runs WHERE id = ?"
        row = self._conn.execute(sql, (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run with id {run_id} in {self.db_path}")
        return _run(row)

    def _holder(self, automation: str, scheduled: int, slot: str) -> Run | None:
        sql = "SELECT * FROM runs WHERE automation = ? AND scheduled = ? AND slot = ?"
        row = self._conn.execute(sql, (automation, scheduled, slot)).fetchone()
        return _run(row) if row else None

    def _running(self, automation: str | None) -> list[Run]:
        sql = "SELECT * FROM runs WHERE status = 'running'"
        if automation is None:
            rows = self._conn.execute(sql + " ORDER BY id").fetchall()
        else:
            args = (automation,)
            rows = self._conn.execute(sql + " AND automation = ? ORDER BY id", args).fetchall()
        return [_run(r) for r in rows]

    def _interrupt(self, run_id: int, why: str, at: datetime) -> bool:
        reason = f"interrupted: {why}; not replayed (the slot stays used; run-now to run it)"
        cursor = self._conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?, reason = ?"
            " WHERE id = ? AND status = 'running'",
            (_text(at), reason, run_id),
        )
        return cursor.rowcount == 1

    def _free_instant(self, automation: str, slot: datetime) -> str:
        """The first run-now instant at or after `slot` that the automation has not used."""
        at = _utc(slot)
        while self._holder(automation, 0, _text(at)):
            at += timedelta(microseconds=1)
        return _text(at)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once: another process waits (up to the busy
        timeout) instead of failing, and every check inside sees the latest commit."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise self._busy(exc) from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self.db_path)
        try:
            found = self._version(conn)  # before anything writes: a foreign file stays as is
            use_wal(conn)  # readers never wait for a claim
            conn.execute("PRAGMA synchronous = FULL")  # a claim survives a power cut
            if found is None:
                conn.execute("BEGIN IMMEDIATE")
                if self._version(conn) is None:  # nobody created it meanwhile
                    for sql in _SCHEMA:
                        conn.execute(sql)
                    version = (SCHEMA_NAME, SCHEMA_VERSION)
                    conn.execute("INSERT INTO schema_version VALUES (?, ?)", version)
                conn.execute("COMMIT")
            elif found < SCHEMA_VERSION:
                self._migrate(conn)
        except sqlite3.OperationalError as exc:
            conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise self._busy(exc) from exc
            raise self._unusable(f"SQLite says: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._unusable(f"SQLite says: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring an older run database up to this version, in one transaction (another
        process may be doing the same: the version is read again inside it)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = self._version(conn) or SCHEMA_VERSION
            for version, sqls in _MIGRATIONS:
                if version > found:
                    for sql in sqls:
                        conn.execute(sql)
            conn.execute(
                "UPDATE schema_version SET version = ? WHERE name = ?",
                (max(found, SCHEMA_VERSION), SCHEMA_NAME),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _version(self, conn: sqlite3.Connection) -> int | None:
        """The schema version of Cairn's run database; None when the file is empty."""
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        row = None
        if {"schema_version", "runs"} <= tables:
            sql = "SELECT version FROM schema_version WHERE name = ?"
            row = conn.execute(sql, (SCHEMA_NAME,)).fetchone()
        if row is None:
            raise self._unusable("it is a SQLite database, but not Cairn's run database")
        if row[0] > SCHEMA_VERSION:
            raise self._unusable(
                f"it was written by a newer Cairn (schema {row[0]}; this one reads up to"
                f" {SCHEMA_VERSION})",
                newer=True,
            )
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise self._unusable(f"SQLite's integrity check failed: {check}")
        return int(row[0])

    def _unusable(self, why: str, *, newer: bool = False) -> RunStoreError:
        first = "Update Cairn to use it, or" if newer else "Cairn leaves the file as it is;"
        return RunStoreError(
            f"{self.db_path} cannot be used as the automation run database: {why}. {first}"
            f" move it aside (for example to {self.db_path}.broken, with its -wal and -shm"
            " files if any) while Cairn is closed, and a new, empty run history is created"
            " on next use. The slots recorded in the old file are then forgotten, so a"
            " catch-up may run a recent slot again."
        )

    def _busy(self, exc: sqlite3.OperationalError) -> RunStoreError:
        return RunStoreError(
            f"{self.db_path} stayed locked for {BUSY_TIMEOUT_MS / 1000:g} s ({exc}): another"
            " process holds a write on it. Try again; if it persists, close the other"
            " Cairn processes (`cairn serve`, the app)."
        )


def _death(owner: Owner) -> str | None:
    """Why the owner is dead, or None when it is alive or cannot be checked from here."""
    if owner.host != hostname():
        return None  # another machine sharing the folder: not ours to judge
    try:
        process = psutil.Process(owner.pid)
        with process.oneshot():
            started = process.create_time()
            status = process.status()
    except psutil.NoSuchProcess:  # ZombieProcess too (a zombie has ended)
        return f"process {owner.pid} on {owner.host} has ended"
    except psutil.AccessDenied:
        return None  # it exists; assume it is still the owner
    if abs(started - owner.started) > START_SLACK_S:
        return f"process {owner.pid} on {owner.host} has ended (its pid now names another process)"
    if status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
        return f"process {owner.pid} on {owner.host} has ended"
    return None


def _run(row: _RunRow) -> Run:
    (run_id, automation, slot, _, trigger, status, pid, started, host, at, finished, cost,
     tokens, trace, reason, output) = row  # fmt: skip
    return Run(
        run_id,
        automation,
        _parse(slot),
        cast(Trigger, trigger),
        cast(Status, status),
        Owner(pid, started, host),
        _parse(at),
        _parse(finished) if finished else None,
        cost,
        tokens,
        trace,
        reason,
        output,
    )


def _check_name(automation: str) -> None:
    if not automation or not isinstance(automation, str):
        raise ValueError("an automation name must be a non-empty string")


def _check_trigger(trigger: str) -> None:
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {sorted(TRIGGERS)}, not {trigger!r}")


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone: give an aware datetime")
    return moment.astimezone(UTC)


def _text(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 text (microseconds, +00:00), so text order is time order."""
    return _utc(moment).isoformat(timespec="microseconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)
