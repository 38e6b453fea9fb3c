"""The worker bridge: a core generator runs on its own thread, its events arrive as signals.

`EventWorker(produce)` calls `produce(cancel)` on a `QThread` when started; `produce`
returns an iterable of events (a task's event stream, a load, a model pull), and every
item is emitted as `item` on the UI thread. `cancel()` sets the `CancelToken` handed to
`produce`, so Stop reaches the engine at its next token. `finished` is emitted last, with
None or the error's message: a failure in the worker is a message, never a crash of the
window. The thread is owned here and joined in `wait()`, so a test (or the window
closing) can prove no thread is left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import ClassVar

from PySide6.QtCore import QObject, QThread, Signal

from cairn.core.engine import CancelToken

Produce = Callable[[CancelToken], Iterable[object]]
log = logging.getLogger(__name__)
_STRAGGLERS: set[tuple[QThread, QObject]] = set()  # threads that outlived their worker


class _Runner(QObject):
    item = Signal(object)
    finished = Signal(object)  # None, or the error message

    def __init__(self, produce: Produce, cancel: CancelToken) -> None:
        super().__init__()
        self._produce = produce
        self._cancel = cancel

    def run(self) -> None:
        error: str | None = None
        try:
            for item in self._produce(self._cancel):
                self.item.emit(item)
        except Exception as exc:  # reported to the window, which stays up
            error = f"{type(exc).__name__}: {exc}"
        self.finished.emit(error)


class EventWorker(QObject):
    """One background job whose items arrive on the UI thread as `item` signals."""

    item = Signal(object)
    finished = Signal(object)  # None when it ended normally, else the error message
    running_now: ClassVar[set[EventWorker]] = set()
    """Workers started and not yet finished (screenshots wait until the window is idle)."""

    def __init__(self, produce: Produce, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancel_token = CancelToken()
        self._thread = QThread()
        self._thread.setObjectName("cairn-worker")
        self._runner = _Runner(produce, self.cancel_token)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.item.connect(self.item)
        self._runner.finished.connect(self._done)
        self.running = False

    def start(self) -> None:
        self.running = True
        EventWorker.running_now.add(self)
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Cancel and join the thread; True when it ended in time.

        A job that ignores its cancel for that long (a model load cannot be interrupted)
        is let go, not destroyed: Qt aborts the process when a running thread's object is
        deleted, so the thread and its job are kept until they end on their own."""
        self.cancel()
        self._thread.quit()
        if self._thread.wait(timeout_ms):
            # Joined: it is not running, whether or not its queued `finished` is still
            # to be delivered (it never is when the worker is deleted first).
            self.running = False
            EventWorker.running_now.discard(self)
            return True
        log.warning("a background job did not stop in %d ms; it is left to finish", timeout_ms)
        thread, runner = self._thread, self._runner
        EventWorker.running_now.discard(self)  # let go: the window no longer waits for it
        _STRAGGLERS.add((thread, runner))
        thread.finished.connect(lambda: _STRAGGLERS.discard((thread, runner)))
        return False

    def _done(self, error: object) -> None:
        self.running = False
        EventWorker.running_now.discard(self)
        self._thread.quit()
        self.finished.emit(error)
