"""Opening Cairn's SQLite files (`.cairn/runs.sqlite`, `.cairn/memory.sqlite`) the same
way: shared by threads, autocommit (transactions are explicit), waiting for a busy file
rather than failing, and write-ahead logging so readers never wait for a writer."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_MS = 5000


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection for any thread of this process (callers hold their own lock), with
    explicit transactions and the busy timeout."""
    conn = sqlite3.connect(
        path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except BaseException:
        conn.close()
        raise
    return conn


def use_wal(conn: sqlite3.Connection) -> None:
    """Switch to write-ahead logging (kept in the file: set once). Switching needs the
    database to itself, and SQLite answers "locked" at once, without waiting, while
    processes that opened a new file together all try: so wait here, within the usual
    busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
