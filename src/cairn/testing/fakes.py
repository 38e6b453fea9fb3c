"""Fakes for the core's ports (`cairn.core.ports`), shipped so tests need no monkeypatching.

Each keeps the contract of the port it stands in for: `MemoryFileStore` confines paths,
hides dot-files and refuses a write whose base hash is stale exactly as `LocalFileStore`
does, so the real loader, tools and memory writer run on it unchanged. The chat engine's
fake is `cairn.testing.scripted_engine.ScriptedEngine`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cairn.core.errors import PathOutsideWorkspaceError, WriteConflictError
from cairn.core.ports import SpendRecord, Urgency
from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.names import path_parts


def _clean(path: str) -> str:
    return "/".join(path_parts(path))


class MemoryFileStore:
    """A `FileStore` over a dict of workspace-relative paths to bytes; links are `links`."""

    def __init__(
        self,
        files: Mapping[str, str | bytes] | None = None,
        links: Mapping[str, str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.files: dict[str, bytes] = {
            _clean(k): v.encode("utf-8") if isinstance(v, str) else v
            for k, v in (files or {}).items()
        }
        self.links = {_clean(k): _clean(v) for k, v in (links or {}).items()}

    def real_path(self, path: str) -> str:
        real = _clean(path)
        for _ in range(40):  # a loop of links ends, like the OS's ELOOP
            parts = real.split("/")
            for n in range(len(parts), 0, -1):
                head = "/".join(parts[:n])
                if head in self.links:
                    real = "/".join([self.links[head], *parts[n:]]).strip("/")
                    break
            else:
                return real
        raise PathOutsideWorkspaceError(f"'{path}' is a loop of links")

    def scan(self, folder: str, *, hidden: bool = False) -> tuple[list[str], list[str]]:
        base = self.real_path(folder) if folder else ""
        prefix = f"{base}/" if base else ""
        files: set[str] = set()
        folders: set[str] = set()
        with self._lock:
            names = list(self.files)
        for path in names:
            if not path.startswith(prefix):
                continue
            first, _, rest = path[len(prefix) :].partition("/")
            if first.startswith(".") and not hidden:
                continue
            (folders if rest else files).add(first)
        return sorted(files), sorted(folders)

    def is_dir(self, path: str) -> bool:
        base = self.real_path(path) if path else ""
        with self._lock:
            return not base or any(p.startswith(f"{base}/") for p in self.files)

    def read(self, path: str, limit: int) -> bytes:
        real = self.real_path(path)
        with self._lock:
            if real not in self.files:
                raise FileNotFoundError(path)
            return self.files[real][: limit + 1]

    def _unchanged(self, path: str, real: str, base_hash: str | None) -> None:
        """Refuse a change based on content the file no longer has (call under the lock)."""
        current = self.files.get(real)
        actual = content_hash(current) if current is not None else None
        if actual != base_hash:
            raise WriteConflictError(path, base_hash, actual)

    def write(self, path: str, data: bytes, *, base_hash: str | None) -> str:
        real = self.real_path(path)
        with self._lock:
            self._unchanged(path, real, base_hash)
            self.files[real] = bytes(data)
        return content_hash(data)

    def delete(self, path: str, *, base_hash: str) -> None:
        real = self.real_path(path)
        with self._lock:
            self._unchanged(path, real, base_hash)
            del self.files[real]


class ListLedger:
    """A `SpendLedger` kept in a list."""

    def __init__(self, records: Iterable[SpendRecord] = ()) -> None:
        self.items: list[SpendRecord] = list(records)

    def append(self, record: SpendRecord) -> None:
        self.items.append(record)

    def records(self) -> list[SpendRecord]:
        return list(self.items)


class ManualClock:
    """A `Clock` that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ListJournal:
    """A `Journal` that keeps the events it is given."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.closed = False

    def record(self, event: object) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed = True


@dataclass(frozen=True, slots=True)
class Notice:
    title: str
    body: str
    urgency: Urgency


class ListNotifier:
    """A `Notifier` that keeps what it was asked to show."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, title: str, body: str, *, urgency: Urgency = "info") -> None:
        self.notices.append(Notice(title, body, urgency))
