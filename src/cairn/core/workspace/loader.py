"""Load a workspace folder into a `Workspace` and keep it current, one file at a time.

`WorkspaceModel` caches one `ParsedFile` per model file. A refresh re-reads only the
paths it is given (files or folders), re-parses a file only when its bytes changed, and
re-assembles the immutable `Workspace` from the cache: cross-file checks run on every
assembly, parsing does not.

Every refresh, write or delete that changes something is also announced to the model's
subscribers as one batch of typed events (`EntityAdded`, `EntityChanged`, `EntityRemoved`,
`DiagnosticsChanged`); see `WorkspaceModel.subscribe`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import replace

from cairn.core.errors import CairnError
from cairn.core.ports import FileStore
from cairn.core.workspace.assembly import assemble, no_gc_pauses, precedence
from cairn.core.workspace.diagnostics import strictly
from cairn.core.workspace.documents import MAX_FILE_BYTES
from cairn.core.workspace.entities import (
    Workspace,
)
from cairn.core.workspace.events import (
    Change,
    ChangeKind,
    DiagnosticsChanged,
    EntityAdded,
    EntityChanged,
    EntityEvent,
    EntityKind,
    EntityRemoved,
    Origin,
    Subscription,
    WorkspaceEvent,
    WorkspaceListener,
    WorkspaceUpdate,
    diff,
    events_for,
)
from cairn.core.workspace.ignore import GITIGNORE, IgnoreRules
from cairn.core.workspace.layouts import LAYERS, POLICY_FILES, TOOL_FOLDERS, classify
from cairn.core.workspace.layouts import may_hold_model_files as may_hold
from cairn.core.workspace.parsing import ParsedFile, parse_file, unreadable

__all__ = [
    "Change",
    "ChangeKind",
    "DiagnosticsChanged",
    "EntityAdded",
    "EntityChanged",
    "EntityEvent",
    "EntityKind",
    "EntityRemoved",
    "Origin",
    "Subscription",
    "WorkspaceEvent",
    "WorkspaceListener",
    "WorkspaceModel",
    "WorkspaceUpdate",
]

log = logging.getLogger(__name__)


class WorkspaceModel:
    """The live workspace: load once, then refresh paths as they change. Thread-safe.

    Subscribers hear about every change that `refresh`, `write` and `delete` make (not
    about `load`, which starts over: load first, then subscribe).
    """

    def __init__(self, store: FileStore, *, strict: bool = False) -> None:
        """`strict`: report every difference from Cairn's own format (another tool's
        layout, an inferred name) as an error, as `cairn check --strict` does."""
        self._store = store
        self._strict = strict
        self._lock = threading.RLock()
        self._parsed: dict[str, ParsedFile] = {}
        self._resources: set[str] = set()  # files in skill folders (their bundles)
        self._order: list[str] | None = None  # parsed paths by precedence; None: re-sort
        self._ignore = IgnoreRules(store)
        self._workspace = assemble({}, ())
        # Replaced, never mutated, under _subscribers_lock: delivery iterates a snapshot.
        self._subscriptions: tuple[Subscription, ...] = ()
        self._subscribers_lock = threading.Lock()
        self._undelivered: deque[tuple[WorkspaceEvent, ...]] = deque()
        self._delivering = False

    def subscribe(self, listener: WorkspaceListener) -> Subscription:
        """Call `listener` with the events of each change to the model, from now on.

        A listener gets one tuple per refresh, write or delete that changed something:
        the file and object events in order, then `DiagnosticsChanged` if diagnostics
        moved. It runs on the thread that made the change, while the model is locked:
        batches arrive in order and `event.workspace` is current, but a slow listener
        holds up the model, so hand heavy work to another thread. A listener that raises
        is logged and skipped; the others and the model carry on. Subscribing and
        unsubscribing are safe from any thread, also during a delivery.
        """
        subscription = Subscription(listener, self._remove)
        with self._subscribers_lock:
            self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop a subscription: its listener gets no batch that starts after this returns."""
        subscription.unsubscribe()

    def _remove(self, subscription: Subscription) -> None:
        with self._subscribers_lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    def _emit(self, update: WorkspaceUpdate, before: Workspace, origin: Origin) -> None:
        # Called with self._lock held, so one thread delivers at a time. A listener that
        # changes the model from inside its call queues that batch behind the current one,
        # so every listener sees the batches in the order they happened.
        if not self._subscriptions:
            return
        self._undelivered.append(events_for(update, before, origin))
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._undelivered:
                events = self._undelivered.popleft()
                for subscription in self._subscriptions:  # a snapshot: the tuple is immutable
                    if not subscription.active:
                        continue
                    try:
                        subscription.listener(events)
                    except Exception:
                        log.exception("workspace listener %r failed", subscription.listener)
        finally:
            self._delivering = False

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @property
    def store(self) -> FileStore:
        return self._store

    def load(self) -> Workspace:
        """Read the whole workspace from scratch."""
        with self._lock, no_gc_pauses():
            self._parsed.clear()
            self._resources.clear()
            self._ignore = IgnoreRules(self._store)
            for path in sorted(self._discover("")):
                role = classify(path)
                if role is not None and role.kind == "resource":
                    self._resources.add(path)
                else:
                    self._read(path)
            self._order = None
            self._workspace = self._assemble()
            return self._workspace

    def _assemble(self) -> Workspace:
        workspace = assemble(
            self._parsed, self._resources, self._ordered(), dict(self._ignore.skipped)
        )
        if self._strict:
            workspace = replace(
                workspace, diagnostics=tuple(strictly(d) for d in workspace.diagnostics)
            )
        return workspace

    def refresh(self, paths: Iterable[str], origin: Origin = "external") -> WorkspaceUpdate:
        """Bring the given files or folders up to date (added, changed, deleted or moved).

        A non-empty update is also delivered to the subscribers before this returns.
        """
        with self._lock:
            candidates: set[str] = set()
            for raw_path in paths:
                path = raw_path.strip("/")
                if path.rpartition("/")[2] == GITIGNORE:
                    # New rules: what they now exclude or let in is found by a new walk.
                    self._ignore.forget(path.rpartition("/")[0])
                    path = path.rpartition("/")[0]
                candidates.add(path)
                prefix = f"{path}/" if path else ""
                candidates.update(p for p in self._parsed if p.startswith(prefix))
                candidates.update(p for p in self._resources if p.startswith(prefix))
                if self._store.is_dir(path):
                    candidates.update(self._discover(path))
            file_changes = [
                change for path in sorted(candidates) if (change := self._update(path, origin))
            ]
            if not file_changes:
                return WorkspaceUpdate(self._workspace, ())
            if any(change.kind != "modified" for change in file_changes):
                self._order = None
            old = self._workspace
            self._workspace = self._assemble()
            entity_changes = diff(old, self._workspace, origin)
            update = WorkspaceUpdate(self._workspace, (*file_changes, *entity_changes))
            self._emit(update, old, origin)
            return update

    def write(self, path: str, text: str, base_hash: str | None) -> WorkspaceUpdate:
        """Write a file atomically (refused on conflict) and fold it into the model at once.

        Because the model already holds the new content, the watcher's later event for
        this write finds nothing changed: Cairn's own writes are not echoed back.
        """
        with self._lock:
            self._store.write(path, text.encode("utf-8"), base_hash=base_hash)
            return self.refresh([path], origin="cairn")

    def delete(self, path: str, base_hash: str) -> WorkspaceUpdate:
        """Delete a file (refused if it changed since `base_hash`) and fold that in at once."""
        with self._lock:
            self._store.delete(path, base_hash=base_hash)
            return self.refresh([path], origin="cairn")

    def _ordered(self) -> list[str]:
        if self._order is None:
            self._order = sorted(self._parsed, key=precedence)
        return self._order

    def _discover(self, within: str) -> set[str]:
        """Model files under `within`, scanning only folders that can hold them and
        leaving out dependencies, virtual environments and what `.gitignore` excludes
        (counted by reason in `self._ignore.skipped` when the walk starts at the root)."""
        found: set[str] = set()
        ignore = self._ignore
        if not within:
            ignore.skipped.clear()

        def relevant(path: str) -> bool:
            return (
                not within
                or path == within
                or path.startswith(within + "/")
                or within.startswith(path + "/")
            )

        def visit(folder: str) -> None:
            files, folders = self._store.scan(folder, hidden=True)
            ignore.seen(folder, files)
            files = [name for name in files if not name.startswith(".")]
            folders = [name for name in folders if not name.startswith(".")]
            if folder and (reason := ignore.folder_reason(folder, files)):
                ignore.skipped[reason] += 1
                return
            for name in files:
                path = f"{folder}/{name}" if folder else name
                if relevant(path) and classify(path) is not None and not self._ignored(path):
                    found.add(path)
            for name in folders:
                sub = f"{folder}/{name}" if folder else name
                if relevant(sub) and may_hold(sub):
                    visit(sub)

        visit("")
        for tool_folder in TOOL_FOLDERS:  # hidden, so the root's scan leaves them out
            if relevant(tool_folder) and self._store.is_dir(tool_folder):
                visit(tool_folder)
        return found

    def _ignored(self, path: str) -> bool:
        if path in POLICY_FILES or path in LAYERS:
            return False  # the user's own instructions, often kept out of git on purpose
        return self._ignore.ignored(path)

    def _update(self, path: str, origin: Origin) -> Change | None:
        role = classify(path)
        if role is None:
            return None
        if role.kind == "resource":
            exists = self._exists(path) and not self._ignored(path)
            if exists == (path in self._resources):
                return None
            (self._resources.add if exists else self._resources.discard)(path)
            return Change("added" if exists else "removed", "file", path, path, origin)
        before = self._parsed.get(path)
        if self._ignored(path) or not self._read(path):
            if before is None:
                return None
            del self._parsed[path]
            return Change("removed", "file", path, path, origin)
        after = self._parsed[path]
        if before is None:
            return Change("added", "file", path, path, origin)
        if before.content_hash == after.content_hash and before.diagnostics == after.diagnostics:
            # Same bytes (or still unreadable for the same reason): nothing to report.
            self._parsed[path] = before  # unchanged bytes: keep the old objects
            return None
        return Change("modified", "file", path, path, origin)

    def _exists(self, path: str) -> bool:
        folder, _, name = path.rpartition("/")
        try:
            return name in self._store.scan(folder)[0]
        except (OSError, CairnError):
            return False

    def _read(self, path: str) -> bool:
        """Parse `path` into the cache; False when it no longer exists."""
        role = classify(path)
        assert role is not None
        try:
            raw = self._store.read(path, MAX_FILE_BYTES)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False
        except (OSError, CairnError) as exc:
            self._parsed[path] = unreadable(path, role, str(exc))
            return True
        self._parsed[path] = parse_file(path, role, raw)
        return True
