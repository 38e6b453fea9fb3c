"""What every view shares: the workspace folder, its live model, the embedded scheduler.

`AppContext.start()` loads the workspace on a worker thread (the window is already up),
then keeps the model current with a `WorkspaceWatcher` and, unless told not to, starts
the automation scheduler inside the app (the same object `cairn serve` runs). Model
changes and the scheduler's notices arrive from other threads; they are re-emitted as
signals, which Qt delivers on the UI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from cairn.app.bridge import EventWorker
from cairn.core.engine import CancelToken
from cairn.core.ports import Urgency

if TYPE_CHECKING:
    from cairn.core.workspace.events import Subscription
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.watcher import WorkspaceWatcher
    from cairn.scheduler import AutomationScheduler


class SignalNotifier(QObject):
    """The `Notifier` port as a signal: the scheduler's notices reach the tray."""

    notice = Signal(str, str, str)  # title, body, urgency

    def notify(self, title: str, body: str, *, urgency: Urgency = "info") -> None:
        self.notice.emit(title, body, urgency)


class AppContext(QObject):
    loaded = Signal()  # the workspace model is ready (`model.workspace` may be read)
    load_failed = Signal(str)
    changed = Signal(object)  # a batch of workspace events, on the UI thread
    scheduler_changed = Signal()  # the scheduler started or stopped
    run_progress = Signal(str, str)  # automation, a line on what its run is doing now
    paths_changed = Signal(list)  # workspace-relative paths changed on disk, model or not

    def __init__(self, root: Path, *, run_automations: bool = True) -> None:
        super().__init__()
        self.root = root.resolve()
        self.run_automations = run_automations
        self.notifier = SignalNotifier()
        self.model: WorkspaceModel | None = None
        self.scheduler: AutomationScheduler | None = None
        self._watcher: WorkspaceWatcher | None = None
        self._subscription: Subscription | None = None
        self._loader: EventWorker | None = None
        self._starter: EventWorker | None = None
        self._unclaimed: AutomationScheduler | None = None
        self._closed = False

    @property
    def ready(self) -> bool:
        return self.model is not None

    def start(self) -> None:
        """Load the workspace off the UI thread; `loaded` (or `load_failed`) follows."""
        self._loader = EventWorker(self._load, self)
        self._loader.finished.connect(self._loaded)
        self._loader.start()

    def _load(self, cancel: CancelToken) -> list[object]:
        # The heavy imports happen here, on the worker: the window is already shown.
        from cairn.core.workspace.loader import WorkspaceModel
        from cairn.infra.files import LocalFileStore

        model = WorkspaceModel(LocalFileStore(self.root))
        model.load()
        self.model = model
        return []

    def _loaded(self, error: object) -> None:
        if self._closed:
            return  # the window closed while loading: start nothing
        if error is not None or self.model is None:
            self.load_failed.emit(str(error or "the workspace could not be read"))
            return
        from cairn.infra.watcher import WorkspaceWatcher

        self._subscription = self.model.subscribe(self.changed.emit)
        watcher = WorkspaceWatcher(self.model, self.root, on_paths=self._paths_seen)
        try:
            watcher.start()
        except OSError as exc:  # no inotify watches left, a folder the OS will not watch
            watcher.stop()
            self.notifier.notify(
                "Edits made outside Cairn will not show live",
                f"the workspace folder cannot be watched ({exc}); the app works, and "
                "re-reads a file when you open it. On Linux, raising "
                "fs.inotify.max_user_watches fixes this.",
                urgency="failure",
            )
        else:
            self._watcher = watcher
        if self.run_automations:
            self.start_scheduler()
        self.loaded.emit()

    def _paths_seen(self, paths: list[str]) -> None:
        # From the watcher's thread; the signal is delivered on the UI thread.
        if not self._closed:
            self.paths_changed.emit(list(paths))

    def start_scheduler(self) -> None:
        """Start the embedded scheduler on a worker: opening the run database and deciding
        missed slots are disk work. A failure is a notice; the window goes on without it."""
        if self.scheduler is not None or self.model is None or self._starter is not None:
            return
        model = self.model

        def start(cancel: CancelToken) -> list[object]:
            from cairn.scheduler import AutomationScheduler

            scheduler = AutomationScheduler(
                self.root, notifier=self.notifier, model=model, on_event=self.report_progress
            )
            try:
                scheduler.start()
            except BaseException:
                scheduler.stop(interrupt=True, timeout=5)
                raise
            self._unclaimed = scheduler  # until the UI thread takes it (or close stops it)
            return [scheduler]

        def started(item: object) -> None:
            from cairn.scheduler import AutomationScheduler

            if isinstance(item, AutomationScheduler):
                self._unclaimed = None
                if self._closed:
                    item.stop(interrupt=True, timeout=10)
                    return
                self.scheduler = item
                self.scheduler_changed.emit()

        def done(error: object) -> None:
            self._starter = None
            if error is not None:
                self.notifier.notify("Automations are not running", f"{error}", urgency="failure")

        self._starter = EventWorker(start, self)
        self._starter.item.connect(started)
        self._starter.finished.connect(done)
        self._starter.start()

    def report_progress(self, name: str, event: object) -> None:
        """A run's task event, from its run thread: a readable line (secrets redacted)
        reaches the views as `run_progress`."""
        from cairn.infra.redaction import REDACTOR
        from cairn.scheduler.progress import progress_line

        line = progress_line(event)
        if line is not None and not self._closed:
            self.run_progress.emit(name, REDACTOR.redact(line))

    def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop(interrupt=True, timeout=10)
            self.scheduler = None
            self.scheduler_changed.emit()

    def close(self) -> None:
        """Stop everything this context started, joining its threads."""
        self._closed = True
        if self._loader is not None:
            self._loader.wait()
        if self._starter is not None:
            self._starter.wait()
        if self._unclaimed is not None:  # started, but the window closed before taking it
            self._unclaimed.stop(interrupt=True, timeout=10)
            self._unclaimed = None
        self.stop_scheduler()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        import sys

        if "cairn.connectors.hub" in sys.modules:  # servers this window's tasks started
            from cairn.runtime import close_connectors

            close_connectors()
        if self._subscription is not None:
            self._subscription.unsubscribe()
            self._subscription = None
