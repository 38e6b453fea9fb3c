"""The pieces the settings panels share: buttons and labels, and `Jobs`, which runs
their slow work (the Hub, a model, the keychain) on workers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.core.engine import CancelToken

Report = Callable[[object], None]
Work = Callable[[CancelToken, Report], Iterable[object]]
KEEP_RUNNING_KEY = "automations/keep_running_when_closed"


def push_button(text: str, slot: Callable[[], object], name: str | None = None) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name or text.rstrip("…"))
    button.clicked.connect(lambda _=False: slot())
    return button


def text_label(name: str, text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # errors and findings quote files and models
    label.setAccessibleName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class Jobs:
    """A widget's background jobs. `report` lets a blocking core call (a pull) send items
    while it runs: a signal emitted from the worker thread reaches the UI thread queued,
    in order, before the job's `finished`."""

    def __init__(self, owner: QWidget) -> None:
        self.owner = owner
        self.workers: list[EventWorker] = []

    def start(
        self,
        work: Work,
        on_item: Callable[[object], None],
        on_done: Callable[[str | None], None],
    ) -> EventWorker:
        worker: EventWorker

        def produce(cancel: CancelToken) -> Iterable[object]:
            return work(cancel, worker.item.emit)

        worker = EventWorker(produce, self.owner)
        worker.item.connect(on_item)
        worker.finished.connect(lambda error: on_done(None if error is None else str(error)))
        for done in [w for w in self.workers if not w.running]:
            done.wait()  # its thread has ended or is ending: joined, then let go
            done.deleteLater()
        self.workers = [w for w in self.workers if w.running] + [worker]
        worker.start()
        return worker

    def shutdown(self) -> None:
        for worker in self.workers:
            worker.wait()
        self.workers = []


def said(error: str) -> str:
    """A worker's "Type: message" as the message alone, for the core's own errors."""
    kind, sep, message = error.partition(": ")
    return message if sep and kind.endswith(("Error", "Cancelled", "Paused", "Stopped")) else error
