"""The memory index: SQLite FTS5 over topic files and archive notes, ranked with BM25.

What is indexed (see docs/memory.md): each space's `memory/topics/<t>.md` (tier "topic")
and every other markdown file under its `memory/` (tier "archive"), the workspace's root
`MEMORY.md` (tier "topic") and root `memory/**` (tier "archive", but never the staged
memories in `memory/pending/`). Root memory belongs to the owner: its rows have the space
"" (the empty string). Cairn's own formats become one row per memory line or archive note;
free-form notes written by hand or by another tool become one row per bullet item or
paragraph.

The markdown files are the memory; this index is a disposable cache that makes recall
fast. Everything in it comes from the files: `rebuild` reads them all, `update` follows
the watcher one file at a time, and `repair` checks the index against the disk at start-up,
so a crash, a hand edit while Cairn was closed, or a deleted or corrupt database never
leaves recall stale. It lives in `cairn.infra` because it does IO.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from cairn.core.memory.items import Tier, read_line
from cairn.core.memory.notes import free_notes
from cairn.core.routing.marks import ROOT_MEMORY, ROOT_NOTES, STAGED
from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash, parse_document
from cairn.infra.sqlite_db import connect, use_wal
from cairn.infra.state import make_folder

Row = tuple[str, str, str, str, str, str, float, str]  # id space path tier date source value text
Walked = Iterator[tuple[str, list[str], os.DirEntry[str]]]

SCHEMA_VERSION = 2  # 2: root memory and free-form notes
PENDING = STAGED.strip("/").split("/")[-1]  # memory/pending/: staged, not memory yet
_RACY_NS = 2_000_000_000  # an mtime this close to "now" could hide a same-size edit to come
_MAX_TERMS = 32  # bounds the cost of a pasted paragraph used as a query
_RANK_BUDGET = 8_000  # notes ranked per query at most: BM25 costs ~1 µs a note
_NOFOLLOW, _BINARY = getattr(os, "O_NOFOLLOW", 0), getattr(os, "O_BINARY", 0)
_STOP = frozenset(
    """a an and are as at be by can could did do does for from had has have how i in is it its
    me my of on or our so that the their there this to was we were what when where which who
    whom why will with would you your""".split()  # noqa: SIM905 (a word list reads better)
)
_TERM = re.compile(r"[^\W_]+")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
# `key: plain-scalar` or `key: "simple quoted text"` (what Cairn writes: every text quoted)
_PLAIN = re.compile(r'([A-Za-z_]\w*): (?:"([^"\\\n]*)"|(\w[\w./+-]*(?::[\w./+-]+)*))')
_YAML_WORDS = frozenset(("null", "~", "true", "false", "yes", "no", "on", "off", "y", "n"))
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Free-form markdown (CommonMark's block shapes, read loosely: notes, not documents)

_SCHEMA = (
    "CREATE TABLE files(path TEXT PRIMARY KEY, hash TEXT NOT NULL, mtime_ns INTEGER NOT NULL,"
    " size INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE items(n INTEGER PRIMARY KEY, id TEXT NOT NULL, space TEXT NOT NULL,"
    " path TEXT NOT NULL, tier TEXT NOT NULL, date TEXT NOT NULL, source TEXT NOT NULL,"
    " value REAL NOT NULL)",
    "CREATE INDEX items_by_path ON items(path)",
    "CREATE INDEX items_by_id ON items(id)",
    "CREATE VIRTUAL TABLE items_text USING fts5(text, tokenize='porter unicode61')",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_DROP = tuple(f"DROP TABLE IF EXISTS {t}" for t in ("items_text", "items", "files"))
_ITEMS_OF = (
    "SELECT i.n, i.id, i.space, i.path, i.tier, i.date, i.source, i.value, t.text FROM items"
    " AS i JOIN items_text AS t ON t.rowid = i.n WHERE i.path = ?"
)
_COUNT = "SELECT count(*) FROM (SELECT 1 FROM items_text WHERE items_text MATCH ? LIMIT ?)"
_SEARCH = (
    "SELECT i.id, t.text, i.space, i.path, i.tier, i.date, i.source, i.value, t.rank FROM"
    " (SELECT rowid, text, rank FROM items_text WHERE items_text MATCH ? ORDER BY rank LIMIT ?)"
    " AS t JOIN items AS i ON i.n = t.rowid ORDER BY t.rank"
)
_SEARCH_IN = (  # the spaces come as one JSON array, so the SQL text never changes
    "SELECT i.id, t.text, i.space, i.path, i.tier, i.date, i.source, i.value, t.rank FROM"
    " items_text AS t JOIN items AS i ON i.n = t.rowid WHERE items_text MATCH ?"
    " AND i.space IN (SELECT value FROM json_each(?)) ORDER BY t.rank LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class MemoryHit:
    """One recalled item; `score` is the negated BM25 rank, so higher is better."""

    id: str
    text: str
    space: str
    path: str  # workspace-relative file the item lives in
    tier: Tier
    date: str
    source: str
    value: float
    score: float


class Retriever(Protocol):
    """Anything that recalls memory items for a query: the seam for semantic recall.

    `MemoryIndex` is the lexical (BM25) retriever. An embedding retriever can implement
    this later, and the recall step can then ask both and merge their rankings with
    reciprocal rank fusion (sum of 1 / (60 + rank) per item), which needs no calibration
    between BM25 scores and cosine similarities. `spaces=None` means every space.
    """

    def search(
        self, query: str, *, spaces: Collection[str] | None, limit: int
    ) -> list[MemoryHit]: ...


def query_terms(text: str) -> list[str]:
    """The words of free text worth searching for: lower-cased, once each, no stop words.

    Each is quoted in the FTS5 query, so `AND`, `NEAR(`, `*`, `-`, `:` and quotes in user
    text are plain words or nothing and can never raise a syntax error (letters and digits
    only: the tokenizer splits on `_`, which would make a quoted word a phrase). Stop words
    match most notes, cost time and add nothing to the ranking.
    """
    terms = dict.fromkeys(_TERM.findall(text.lower()))
    return [t for t in terms if t not in _STOP][:_MAX_TERMS]


def _kind(parts: list[str]) -> Tier | None:
    """The tier of a memory file, or None for any other path: root `MEMORY.md` (topic),
    root `memory/**/*.md` but `memory/pending/` (archive), `spaces/<s>/memory/topics/<t>.md`
    (topic) and any other `spaces/<s>/memory/**/*.md` (archive)."""
    if not parts or not parts[-1].endswith(".md") or any(p.startswith(".") for p in parts):
        return None
    if len(parts) == 1:
        return "topic" if parts[0] in ROOT_MEMORY else None
    if parts[0] == ROOT_NOTES:
        return None if len(parts) > 2 and parts[1] == PENDING else "archive"
    if len(parts) < 4 or parts[0] != "spaces" or parts[2] != "memory":
        return None
    return "topic" if parts[3] == "topics" and len(parts) == 5 else "archive"


def _may_contain(parts: list[str]) -> bool:
    """Whether a folder can hold memory files: walks skip everything else."""
    if any(p.startswith(".") for p in parts):
        return False
    if not parts:
        return True
    if parts[0] == ROOT_NOTES:
        return parts[1:2] != [PENDING]
    return parts[0] == "spaces" and (len(parts) <= 2 or parts[2] == "memory")


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _rows(rel: str, parts: list[str], data: bytes) -> list[Row]:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return []  # not text: nothing to recall (still tracked, so not read again)
    space = parts[1] if parts[0] == "spaces" else ""
    if space and parts[3] == "archive":
        row = _archive_row(rel, space, data, text)
        return [row] if row else []
    tier: Tier = _kind(parts) or "archive"
    rows: list[Row] = []
    in_fence = found_any = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        if in_fence or (found := read_line(line)) is None:
            continue
        found_any = True
        value = _float(found.attributes.get("v", "")) or 0.0
        if found.text:
            source = found.attributes.get("src", "")
            rows.append((found.id, space, rel, tier, found.date or "", source, value, found.text))
    if found_any:
        return rows  # Cairn's own format: one row per memory line, nothing else
    stem = parts[-1][:-3]
    date = stem[:10] if _DATE.match(stem) else ""
    return [
        (item_id, space, rel, tier, date, "", 0.0, note)
        for item_id, note in free_notes(rel, text, title=stem)
    ]


def _archive_row(path: str, space: str, data: bytes, text: str) -> Row | None:
    """Read the frontmatter by hand when every line is a plain `key: value` (the documented
    format, and many times faster than YAML); anything else goes to `parse_document`.

    The space is the folder's, not the frontmatter's: a note moved by hand belongs where
    it now is. A note without frontmatter takes its date and id from its file name.
    """
    fields: dict[str, str] | None = None
    end = text.find("\n---\n", 3) if text.startswith("---\n") and "\r" not in text else -1
    if end > 0:
        plain = [_PLAIN.fullmatch(line) for line in text[4:end].split("\n")]
        if all(m and (m[2] is not None or m[3].lower() not in _YAML_WORDS) for m in plain):
            fields = {m[1]: m[2] if m[2] is not None else m[3] for m in plain if m}
        body = text[end + 5 :]
    if fields is None or _float(fields.get("value", "0")) is None:
        doc, _ = parse_document(path, data)
        if doc is None:
            return None
        fields = {str(k): str(v) for k, v in doc.frontmatter.items() if v is not None}
        body = doc.body
    if not (body := body.strip()):
        return None
    stem = path.rsplit("/", 1)[-1][:-3]
    date = fields.get("date") or (stem[:10] if _DATE.match(stem) else "")
    value = _float(fields.get("value", "")) or 0.0
    item_id = fields.get("id") or stem.rsplit("-", 1)[-1]
    return (item_id, space, path, "archive", date, fields.get("source", ""), value, body)


def _stamp(mtime_ns: int, now_ns: int) -> int:
    """The mtime to remember: 0 when so recent that a same-size edit within the file
    system's timestamp granularity could follow unnoticed, so `repair` hashes it again."""
    return 0 if mtime_ns > now_ns - _RACY_NS else mtime_ns


def _is_broken(exc: sqlite3.DatabaseError) -> bool:
    """Corruption or a missing table (rebuild), not a busy or locked database (raise)."""
    return not isinstance(exc, sqlite3.OperationalError) or "no such" in str(exc)


class MemoryIndex:
    """The full-text index of one workspace's topic files and archive notes.

    One connection, shared by the watcher thread (which updates) and the loop (which
    searches), so every use holds the lock. WAL lets another process (the CLI) read
    while the app writes.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        db_path: str | os.PathLike[str] | None = None,
        *,
        space_folders: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        """`space_folders` gives the spaces kept outside `spaces/` (Rebel's, in any folder):
        folder -> space name, asked at each rebuild, update and repair."""
        self._space_folders = space_folders or dict
        self._folders: Mapping[str, str] = {}
        self.root = Path(root).resolve()
        self._prefix = str(self.root) + os.sep
        self.db_path = Path(db_path) if db_path else self.root / ".cairn" / "memory.sqlite"
        make_folder(self.db_path.parent)
        self._lock = threading.RLock()
        self._stale = False  # set when the database is new: repair() then rebuilds
        self._df: dict[str, int] = {}  # notes per query term, up to the budget
        try:
            self._conn = self._connect()
        except sqlite3.DatabaseError as exc:
            if not _is_broken(exc):
                raise
            self._conn = self._connect(reset=True)

    def _connect(self, *, reset: bool = False) -> sqlite3.Connection:
        if reset:  # unreadable: start again from the files
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        conn = connect(self.db_path)
        try:
            use_wal(conn)  # several processes may open a new index together
            conn.execute("PRAGMA synchronous = NORMAL")  # a cache may lose its last commit
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._stale = True  # new, or from another version of Cairn
                # One process makes the tables; another that opened the file meanwhile
                # finds them made when its turn comes, and leaves them.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                        for sql in (*_DROP, *_SCHEMA):
                            conn.execute(sql)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn

    def __enter__(self) -> MemoryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def rebuild(self) -> int:
        """Drop everything and index every memory file; returns the items indexed."""
        with self._lock:
            return self._rebuild()[0]

    def _rebuild(self) -> tuple[int, list[str]]:
        self._folders = self._space_folders()
        now = time.time_ns()
        files: list[tuple[str, str, int, int]] = []
        rows: list[Row] = []
        for rel, parts, _ in self._walk([]):
            if read := self._read(rel):
                files.append((rel, content_hash(read[0]), _stamp(read[1], now), read[2]))
                rows.extend(_rows(rel, parts, read[0]))
        with self._write() as conn:
            for sql in (*_DROP, *_SCHEMA):
                conn.execute(sql)
            conn.executemany("INSERT INTO files VALUES (?, ?, ?, ?)", files)
            self._insert(rows, 0)
        conn.execute("INSERT INTO items_text(items_text) VALUES ('optimize')")
        self._stale = False
        return len(rows), [f[0] for f in files]

    def update(self, paths: Iterable[str]) -> int:
        """Re-index the memory files at or under these workspace-relative paths (deleted,
        changed or new); other paths are ignored. Returns how many files changed."""
        with self._lock:
            self._folders = self._space_folders()
            targets: dict[str, list[str]] = {}
            for path in paths:
                parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
                if ".." in parts or path.startswith(("/", "\\")):
                    continue
                if _kind(self._logical(parts)):
                    targets["/".join(parts)] = self._logical(parts)
                elif self._walkable(parts):  # a folder: what is in it now, and what was
                    targets.update((rel, p) for rel, p, _ in self._walk(parts))
                    low = "/".join(parts) + "/" if parts else ""
                    high = low[:-1] + "0" if parts else "\U0010ffff"  # "0" follows "/"
                    sql = "SELECT path FROM files WHERE path >= ? AND path < ?"
                    for (rel,) in self._conn.execute(sql, (low, high)).fetchall():
                        targets[rel] = self._logical(rel.split("/"))
            return len(self._sync(targets))

    def repair(self) -> list[str]:
        """Bring the index in line with the disk at start-up; returns the paths repaired.

        Size and mtime decide which files to hash, the hash decides which to re-index.
        A missing, corrupt or other-version database is rebuilt from the files.
        """
        with self._lock:
            try:
                ok = self._conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
                sql = "SELECT path, mtime_ns, size FROM files"
                known = {r[0]: (r[1], r[2]) for r in self._conn.execute(sql)}
            except sqlite3.DatabaseError as exc:
                if not _is_broken(exc):
                    raise
                ok = False
            if not ok:
                self._conn.close()
                self._conn = self._connect(reset=True)
            if self._stale:
                return sorted(self._rebuild()[1])
            self._folders = self._space_folders()
            targets: dict[str, list[str]] = {}
            for rel, parts, entry in self._walk([]):
                with contextlib.suppress(OSError):  # gone since: handled as not on disk
                    info = entry.stat(follow_symlinks=False)
                    if known.pop(rel, None) != (info.st_mtime_ns, info.st_size):
                        targets[rel] = parts
            # On record, not on disk:
            targets.update((rel, self._logical(rel.split("/"))) for rel in known)
            return sorted(self._sync(targets))

    def search(
        self,
        query: str,
        *,
        space: str | None = None,
        spaces: Collection[str] | None = None,
        limit: int = 5,
    ) -> list[MemoryHit]:
        """The best `limit` items for free text, optionally only from `space` or `spaces`.

        Given both, `space` must also be in `spaces` (the spaces a task may see), so a
        filter can only narrow; an empty `spaces` matches nothing.
        """
        allowed = None if spaces is None else {spaces} if isinstance(spaces, str) else set(spaces)
        if space is not None:
            allowed = {space} & allowed if allowed is not None else {space}
        terms = query_terms(query)
        if not terms or limit <= 0 or allowed == set():
            return []
        with self._lock:
            match = " OR ".join(f'"{t}"' for t in self._affordable(terms))
            if allowed is None:
                rows = self._conn.execute(_SEARCH, (match, limit)).fetchall()
            else:
                args = (match, json.dumps(sorted(allowed)), limit)
                rows = self._conn.execute(_SEARCH_IN, args).fetchall()
        return [
            MemoryHit(r[0], r[1], r[2], r[3], cast(Tier, r[4]), r[5], r[6], r[7], -r[8])
            for r in rows
        ]

    def _affordable(self, terms: list[str]) -> list[str]:
        """The rarest terms whose notes together stay within `_RANK_BUDGET`.

        FTS5 computes BM25 for every note matching any term, reading each one's length, so
        a word found in a third of 100,000 notes costs ~30 ms. Such words weigh little in
        BM25 (low IDF) and are dropped when rarer ones are there; the rarest always stays.
        Counting stops at the budget and is cached until the index changes.
        """
        if len(terms) < 2:
            return terms
        if len(self._df) > 50_000:
            self._df.clear()
        for term in terms:
            if term not in self._df:
                args = (f'"{term}"', _RANK_BUDGET + 1)
                self._df[term] = self._conn.execute(_COUNT, args).fetchone()[0]
        kept: list[str] = []
        total = 0
        for term in sorted(terms, key=self._df.__getitem__):
            total += self._df[term]
            if kept and total > _RANK_BUDGET:
                break
            kept.append(term)
        return kept

    def paths_of(self, item_id: str) -> list[str]:
        """The files an item is indexed from (none when it is not in the index)."""
        with self._lock:
            sql = "SELECT DISTINCT path FROM items WHERE id = ? ORDER BY path"
            return [r[0] for r in self._conn.execute(sql, (item_id,))]

    def remove_item(self, item_id: str) -> int:
        """Take an item out of search now (`forget` edits its file too); returns rows removed."""
        with self._lock, self._write() as conn:
            ns = conn.execute("SELECT n FROM items WHERE id = ?", (item_id,)).fetchall()
            conn.executemany("DELETE FROM items_text WHERE rowid = ?", ns)
            conn.executemany("DELETE FROM items WHERE n = ?", ns)
            return len(ns)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once: another process waits instead of failing."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        self._df.clear()

    def _sync(self, targets: dict[str, list[str]]) -> list[str]:
        """Make the index match each file (present or gone); returns those that changed.

        Items still in the file as they were keep their rows: editing one line of a
        200-line topic file rewrites one row, not 400, so an update stays within a few ms.
        """
        now, changed = time.time_ns(), []
        with self._write() as conn:
            for rel, parts in targets.items():
                known = conn.execute("SELECT hash FROM files WHERE path = ?", (rel,)).fetchone()
                real = rel.split("/")[:-1]
                read = self._read(rel) if _kind(parts) and self._unlinked(real) else None
                digest = content_hash(read[0]) if read else None
                if read:
                    stamp = (rel, digest, _stamp(read[1], now), read[2])
                    conn.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", stamp)
                    if known and known[0] == digest:
                        continue
                elif known is None:
                    continue
                else:
                    conn.execute("DELETE FROM files WHERE path = ?", (rel,))
                changed.append(rel)
                old: dict[tuple[object, ...], list[int]] = {}
                for n, *row in conn.execute(_ITEMS_OF, (rel,)):
                    old.setdefault(tuple(row), []).append(n)
                fresh = []
                for row in _rows(rel, parts, read[0]) if read else []:
                    if old.get(row):
                        old[row].pop()  # unchanged: its row stays
                    else:
                        fresh.append(row)
                stale = [(n,) for ns in old.values() for n in ns]
                conn.executemany("DELETE FROM items_text WHERE rowid = ?", stale)
                conn.executemany("DELETE FROM items WHERE n = ?", stale)
                self._insert(fresh, conn.execute("SELECT max(n) FROM items").fetchone()[0] or 0)
        return changed

    def _insert(self, rows: list[Row], after: int) -> None:
        numbered = list(enumerate(rows, after + 1))
        sql = "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        self._conn.executemany(sql, [(n, *r[:7]) for n, r in numbered])
        sql = "INSERT INTO items_text(rowid, text) VALUES (?, ?)"
        self._conn.executemany(sql, [(n, r[7]) for n, r in numbered])

    def _walk(self, start: list[str]) -> Walked:
        """Memory files under a folder; hidden names and symbolic links are skipped, so
        temporary files are ignored and nothing outside the workspace is read."""
        stack = [start] if self._unlinked(start) else []
        while stack:
            folder = stack.pop()
            try:
                entries = os.scandir(self._prefix + "/".join(folder))
            except OSError:
                continue
            with entries:
                for entry in entries:
                    parts = [*folder, entry.name]
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=False) and self._walkable(parts):
                            stack.append(parts)
                        elif entry.is_file(follow_symlinks=False):
                            logical = self._logical(parts)
                            if _kind(logical):
                                yield "/".join(parts), logical, entry

    def _logical(self, parts: list[str]) -> list[str]:
        """A path in a space kept outside `spaces/` read as if it were in `spaces/<name>/`,
        so one set of rules classifies both; the innermost space folder wins."""
        for depth in range(len(parts), 0, -1):
            name = self._folders.get("/".join(parts[:depth]))
            if name is not None:
                return ["spaces", name, *parts[depth:]]
        return parts

    def _walkable(self, parts: list[str]) -> bool:
        """`_may_contain` for a real folder: also on the way to a space kept elsewhere."""
        if _may_contain(self._logical(parts)):
            return True
        prefix = "/".join(parts) + "/"
        return any(folder.startswith(prefix) for folder in self._folders)

    def _unlinked(self, folder: list[str]) -> bool:
        """Whether a folder is in the workspace with no symbolic link on the way: a path
        given to `update` may name one (the walk itself never follows a link)."""
        if not folder:
            return True
        path = self._prefix + "/".join(folder)
        return os.path.realpath(path) == os.path.normpath(path)

    def _read(self, rel: str) -> tuple[bytes, int, int] | None:
        """(bytes, mtime_ns, size) of a regular file, or None when it is gone or not one."""
        try:
            fd = os.open(self._prefix + rel, os.O_RDONLY | _NOFOLLOW | _BINARY)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                return None
            return handle.read(), info.st_mtime_ns, info.st_size
