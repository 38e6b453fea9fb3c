"""Live reload: watchdog events, debounced, folded into the workspace model.

Editors save in many ways (write in place, write a temporary file and rename it over
the original, delete and re-create). The watcher does not interpret event types: it
collects every path an event mentions (source and destination, and their folders for
folder events) and, once the burst has been quiet for `debounce` seconds, asks the model
to refresh those paths. The model compares content hashes, so a burst that ends with
the same bytes, or Cairn's own write, produces no update.

The watcher only keeps the model current; whoever wants to hear about the changes
subscribes to the model (`WorkspaceModel.subscribe`), which also announces Cairn's own
writes, once, marked `origin="cairn"`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from cairn.core.workspace.ignore import GITIGNORE
from cairn.core.workspace.layouts import TOOL_FOLDERS, classify, may_hold_model_files
from cairn.core.workspace.loader import WorkspaceModel

log = logging.getLogger(__name__)


def _not_the_stop_race(record: logging.LogRecord) -> bool:
    # watchdog's inotify thread logs this as an error when an event arrives while the
    # observer is stopping: nothing is lost (Cairn is shutting the watch down), but it
    # reached the user's terminal at every close of the app.
    return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_not_the_stop_race)


class WorkspaceWatcher:
    """Watch a workspace folder and refresh the model with what changed on disk.

    The model delivers the resulting events to its subscribers (on this watcher's flush
    thread); `on_paths` hears every changed path of a batch, model file or not.
    """

    def __init__(
        self,
        model: WorkspaceModel,
        root: str | os.PathLike[str],
        *,
        debounce: float = 0.15,
        max_delay: float = 2.0,
        on_paths: Callable[[list[str]], object] | None = None,
    ) -> None:
        self._model = model
        self._root = Path(root).resolve()
        # Every changed path of a batch, model file or not (the memory index follows
        # topic files and archive notes this way).
        self._on_paths = on_paths
        self._debounce = debounce
        self._max_delay = max_delay  # a steady stream of events still flushes this often
        self._pending: set[str] = set()
        self._first_event = 0.0
        self._last_event = 0.0
        self._wake = threading.Condition()
        self._stopping = False
        self._observer = Observer()
        self._flusher = threading.Thread(target=self._run, name="cairn-watch-flush", daemon=True)

    def start(self) -> None:
        handler = _Collector(self)
        self._observer.schedule(handler, str(self._root), recursive=True)
        self._observer.start()
        self._flusher.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._observer.stop()
        # A start that failed (no inotify watches left) leaves threads never started.
        if self._observer.is_alive():
            self._observer.join(timeout=5)
        if self._flusher.is_alive():
            self._flusher.join(timeout=5)

    def __enter__(self) -> WorkspaceWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def notice(self, absolute: str) -> None:
        relative = self._relative(absolute)
        if relative is None:
            return
        with self._wake:
            now = time.monotonic()
            if not self._pending:
                self._first_event = now
            self._last_event = now
            self._pending.add(relative)
            self._wake.notify_all()

    def _relative(self, absolute: str) -> str | None:
        # No symlink resolution: watchdog reports paths under the (resolved) root, and
        # resolving could fail on a symlink loop or point outside the workspace.
        rel = os.path.relpath(os.path.abspath(absolute), self._root).replace(os.sep, "/")
        if rel == ".":
            return ""
        if rel == ".." or rel.startswith("../"):
            return None
        first = rel.split("/", 1)[0]
        if first in (".cairn", ".git"):
            return None
        return rel

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                # Quiet period: wait until no event arrived for `debounce` seconds (or the
                # burst has lasted `max_delay`), then take everything collected.
                while True:
                    now = time.monotonic()
                    quiet = now - self._last_event
                    if quiet >= self._debounce or now - self._first_event >= self._max_delay:
                        break
                    self._wake.wait(self._debounce - quiet)
                    if self._stopping:
                        return
                batch, self._pending = self._pending, set()
            self._flush(batch)

    def _flush(self, batch: set[str]) -> None:
        # Hidden names (editors' temporary files, Cairn's own) never hold model content;
        # when one is renamed over a real file, the event names the real file too.
        paths = {p for p in batch if not _hidden(p)}
        if not paths:
            return
        if self._on_paths is not None:
            try:
                self._on_paths(sorted(paths))
            except Exception:
                log.exception("a path listener failed")
        try:
            self._model.refresh(sorted(paths))  # subscribers hear of it from the model
        except Exception:  # the watcher must outlive any one bad refresh
            log.exception("refreshing %s failed", sorted(paths))


def _hidden(path: str) -> bool:
    """Hidden, except what the model reads in the tool folders (`.claude/skills`, ...) and
    `.gitignore` files (their rules change what the model reads)."""
    parts = path.split("/")
    if parts[-1] == GITIGNORE and not any(p.startswith(".") for p in parts[:-1]):
        return False
    if parts[0] in TOOL_FOLDERS:
        return classify(path) is None and not may_hold_model_files(path)
    return any(part.startswith(".") for part in parts)


class _Collector(FileSystemEventHandler):
    def __init__(self, watcher: WorkspaceWatcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(raw) if raw else ""
            if path:
                self._watcher.notice(path)
