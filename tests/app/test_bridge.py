"""The worker bridge: a generator on its own thread, its items as signals on the UI thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from pytestqt.qtbot import QtBot

from cairn.app.bridge import EventWorker
from cairn.core.engine import CancelToken


def test_items_arrive_in_order_on_the_ui_thread(qtbot: QtBot) -> None:
    seen: list[tuple[object, bool]] = []
    ui = threading.get_ident()
    worker_threads: list[int] = []

    def produce(cancel: CancelToken) -> Iterator[int]:
        worker_threads.append(threading.get_ident())
        yield from range(5)

    worker = EventWorker(produce)
    worker.item.connect(lambda item: seen.append((item, threading.get_ident() == ui)))
    with qtbot.waitSignal(worker.finished, timeout=5000) as done:
        worker.start()
    assert done.args == [None]
    assert seen == [(n, True) for n in range(5)]
    assert worker_threads and worker_threads[0] != ui
    assert worker.wait()


def test_a_failure_is_a_message_not_a_crash(qtbot: QtBot) -> None:
    def produce(cancel: CancelToken) -> Iterator[int]:
        yield 1
        raise ValueError("the model file is missing")

    worker = EventWorker(produce)
    with qtbot.waitSignal(worker.finished, timeout=5000) as done:
        worker.start()
    assert done.args == ["ValueError: the model file is missing"]
    assert worker.wait()


def test_cancel_reaches_the_producer_and_the_thread_is_joined(qtbot: QtBot) -> None:
    started = threading.Event()

    def produce(cancel: CancelToken) -> Iterator[str]:
        started.set()
        while not cancel.cancelled:
            time.sleep(0.01)
        yield "stopped"

    worker = EventWorker(produce)
    items: list[object] = []
    worker.item.connect(items.append)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
        assert started.wait(5)
        worker.cancel()
    assert items == ["stopped"]
    assert worker.wait(5000)


def test_a_job_that_ignores_cancel_is_let_go_not_destroyed(qtbot: QtBot) -> None:
    """A model load cannot be interrupted: `wait` gives up after its timeout, and deleting
    the worker then must not take the running thread with it (Qt would abort)."""
    from cairn.app import bridge

    release = threading.Event()

    def produce(cancel: CancelToken) -> Iterator[str]:
        release.wait(10)  # deaf to cancel, like a model load
        yield "loaded"

    worker = EventWorker(produce)
    worker.start()
    assert not worker.wait(100)
    assert len(bridge._STRAGGLERS) == 1
    worker.deleteLater()
    del worker
    qtbot.wait(50)  # the deletion happens; the thread lives on
    release.set()
    qtbot.waitUntil(lambda: not bridge._STRAGGLERS, timeout=5000)
