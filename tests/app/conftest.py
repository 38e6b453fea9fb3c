"""The desktop app's tests run offscreen (no display needed), with settings kept in a
temporary folder so a developer's own window state is never read or written."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pytestqt.qtbot import QtBot

if TYPE_CHECKING:
    from cairn.app.views.settings import SettingsView
    from cairn.app.window import MainWindow

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def private_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield


@pytest.fixture(autouse=True)
def collect_on_the_ui_thread(qapp: object) -> Iterator[None]:
    """As the app does (`cairn.app.gc_guard`): cycles freed on the UI thread only."""
    import gc

    from cairn.app.gc_guard import UiThreadCollector

    collector = UiThreadCollector()
    yield
    collector.stop()
    gc.collect()  # here, on the UI thread, before the next test


def _ours(thread: threading.Thread) -> bool:
    """Threads the app starts: its workers, runs and watchers, APScheduler's, watchdog's."""
    return thread.name.startswith(("cairn", "APScheduler")) or type(thread).__module__.startswith(
        "watchdog"
    )


@pytest.fixture(autouse=True)
def nothing_left_behind(qapp: object) -> Iterator[None]:
    """A test that leaves a window shown, a worker running or one of the app's threads
    alive fails. (pytest-qt has closed the widgets the test registered by now; this runs
    last, after every other fixture's teardown.)"""
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    from cairn.app.bridge import EventWorker

    before = {thread.ident for thread in threading.enumerate()}
    yield
    deadline = time.monotonic() + 10  # a thread told to stop may take a moment to end
    while True:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        QCoreApplication.processEvents()
        threads = [t for t in threading.enumerate() if t.ident not in before and _ours(t)]
        shown = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        workers = list(EventWorker.running_now)
        if not (threads or shown or workers) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not workers, f"workers still running after the test: {workers}"
    assert not threads, f"threads left running: {[t.name for t in threads]}"
    assert not shown, f"windows left open: {[type(w).__name__ for w in shown]}"


@pytest.fixture
def window(qtbot: QtBot, app_workspace: Path) -> Iterator[MainWindow]:
    """The main window over the starter workspace, loaded, automations off."""
    from cairn.app.context import AppContext
    from cairn.app.window import MainWindow

    context = AppContext(app_workspace, run_automations=False)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(context.loaded, timeout=15_000):
        context.start()
    yield window
    window.shutdown()


@pytest.fixture
def settings_view(qtbot: QtBot, app_workspace: Path) -> Iterator[SettingsView]:
    """The Settings view over `app_workspace`, loaded, automations off."""
    from cairn.app.context import AppContext
    from cairn.app.views.settings import SettingsView

    context = AppContext(app_workspace, run_automations=False)
    view = SettingsView(context)
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(context.loaded, timeout=15_000):
        context.start()
    yield view
    view.shutdown()
    context.close()


@pytest.fixture
def app_workspace(starter: Path) -> Path:
    return starter
