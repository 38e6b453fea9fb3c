"""A guard on the Qt build the lock installs: PySide6-Essentials 6.12.0 (abi3) lost a
reference to None on every void call and to True on every signal emitted from a thread
under Python 3.11, and the app died with "deallocating None" within minutes of use."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from cairn.app.bridge import EventWorker
from cairn.core.engine import CancelToken

CALLS = 2000


def test_void_calls_keep_none_alive(qtbot: QtBot) -> None:
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        label.setText("x")
    assert before - sys.getrefcount(None) < CALLS // 10


def test_signals_from_a_worker_keep_true_alive(qtbot: QtBot) -> None:
    ui = threading.get_ident()
    on_ui = {"calls": 0}  # counted, not kept: a list of bools would hold references to True

    def produce(cancel: CancelToken) -> Iterator[str]:
        yield from ("word" for _ in range(CALLS))

    worker = EventWorker(produce)

    def count(_item: object) -> None:
        on_ui["calls"] += threading.get_ident() == ui

    worker.item.connect(count)
    before = sys.getrefcount(True)
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        worker.start()
    assert worker.wait()
    assert on_ui["calls"] == CALLS
    assert before - sys.getrefcount(True) < CALLS // 10
