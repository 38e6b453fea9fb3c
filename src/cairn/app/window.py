"""The main window: a list of views on the left, the chosen view on the right.

Each view is a `QWidget` built with the shared `AppContext`; it shows its own "loading"
state until `context.loaded`. The window owns what is common to all of them: the menu
and its shortcuts (routed to the current view when it offers the action), the status
bar, the tray icon and its notifications, and the window's remembered state.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QStackedWidget,
    QSystemTrayIcon,
    QWidget,
)

from cairn.app.context import AppContext
from cairn.app.icon import cairn_icon

log = logging.getLogger(__name__)

VIEWS: tuple[tuple[str, str, str], ...] = (
    # (label, module, class): imported when the window is built.
    ("Tasks", "cairn.app.views.tasks", "TasksView"),
    ("Workspace", "cairn.app.views.workspace", "WorkspaceView"),
    ("Memory", "cairn.app.views.memory", "MemoryView"),
    ("Automations", "cairn.app.views.automations", "AutomationsView"),
    ("Connectors", "cairn.app.views.connectors", "ConnectorsView"),
    ("Impact", "cairn.app.views.impact", "ImpactView"),
    ("Settings", "cairn.app.views.settings", "SettingsView"),
)
"""The views in the order the navigation shows them."""

SHORTCUTS: tuple[tuple[str, str, QKeySequence.StandardKey | str, str], ...] = (
    # (menu text, view method, key, view that offers it)
    ("&New task", "new_task", QKeySequence.StandardKey.New, "Tasks"),
    ("&Quick open…", "quick_open", "Ctrl+P", "Workspace"),
    ("&Search…", "search", QKeySequence.StandardKey.Find, ""),
    ("S&top", "stop", "Ctrl+.", ""),
    ("Se&ttings", "settings", QKeySequence.StandardKey.Preferences, "Settings"),
)


def settings() -> QSettings:
    return QSettings("Cairn", "Cairn")


class MainWindow(QMainWindow):
    shut_down = Signal()  # closed for real (not hidden to the tray): the app may quit

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.setWindowTitle(f"Cairn — {context.root.name}")
        self.setWindowIcon(cairn_icon())
        self.nav = QListWidget()
        self.nav.setAccessibleName("Views")
        self.nav.setFixedWidth(160)
        self.stack = QStackedWidget()
        self.views: dict[str, QWidget] = {}
        for label, module, name in VIEWS:
            view = getattr(importlib.import_module(module), name)(context)
            view.setAccessibleName(f"{label} view")
            self.views[label] = view
            self.nav.addItem(label)
            self.stack.addWidget(view)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        body = QWidget()
        layout = QHBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(body)
        self._status = QLabel(f"Loading {context.root} …")
        self._status.setTextFormat(Qt.TextFormat.PlainText)
        self._status.setAccessibleName("Status")
        self.statusBar().addWidget(self._status, 1)
        self._build_menu()
        self.tray = self._build_tray()
        context.loaded.connect(self._on_loaded)
        context.scheduler_changed.connect(self._on_loaded)  # it starts after the load
        context.load_failed.connect(self._load_failed)
        context.notifier.notice.connect(self.show_notice)
        self._restore()

    # -- views --------------------------------------------------------------------------

    def show_view(self, label: str) -> QWidget:
        index = list(self.views).index(label)
        self.nav.setCurrentRow(index)
        return self.views[label]

    def current_view(self) -> QWidget | None:
        return self.stack.currentWidget()

    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&Cairn")
        for text, method, key, home in SHORTCUTS:
            action = QAction(text, self)
            action.setShortcut(QKeySequence(key))
            action.triggered.connect(self._route(method, home))
            menu.addAction(action)
            self.addAction(action)
        menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.quit)
        menu.addAction(quit_action)
        menu_views = self.menuBar().addMenu("&View")
        for number, label in enumerate(self.views, 1):
            action = QAction(label, self)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.triggered.connect(lambda _=False, label=label: self.show_view(label))
            menu_views.addAction(action)

    def _route(self, method: str, home: str) -> Callable[[], None]:
        def run() -> None:
            view = self.current_view()
            if not hasattr(view, method) and home in self.views:
                view = self.show_view(home)
            handler = getattr(view, method, None)
            if callable(handler):
                handler()

        return run

    # -- status, tray, notifications ----------------------------------------------------

    def _load_failed(self, why: str) -> None:
        self._status.setText(f"Could not load: {why}")

    def _on_loaded(self) -> None:
        workspace = self.context.model.workspace if self.context.model else None
        count = len(workspace.automations) if workspace else 0
        if self.context.scheduler is not None:
            running = "automations run in this window"
        elif self.context.run_automations:
            running = "automations starting…"
        else:
            running = "automations off"
        self._status.setText(f"{self.context.root} · {count} automation(s) · {running}")

    def _build_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None  # offscreen, or a desktop without a tray: notices go to the status bar
        tray = QSystemTrayIcon(cairn_icon(), self)
        tray.setToolTip(f"Cairn — {self.context.root.name}")
        tray.activated.connect(lambda _reason: self.bring_to_front())
        tray.show()
        return tray

    def show_notice(self, title: str, body: str, urgency: str = "info") -> None:
        if self.tray is not None:
            icon = {
                "info": QSystemTrayIcon.MessageIcon.Information,
                "attention": QSystemTrayIcon.MessageIcon.Warning,
                "failure": QSystemTrayIcon.MessageIcon.Critical,
            }.get(urgency, QSystemTrayIcon.MessageIcon.Information)
            self.tray.showMessage(title, body, icon)
        self.statusBar().showMessage(f"{title}: {body}", 15_000)

    def bring_to_front(self) -> None:
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    # -- state and closing ----------------------------------------------------------------

    def _restore(self) -> None:
        stored = settings().value("window/geometry")
        if isinstance(stored, QByteArray) and not stored.isEmpty():
            self.restoreGeometry(stored)
        else:
            self.resize(1200, 780)
        row = str(settings().value("window/view", 0))
        if row.isdigit() and int(row) < self.nav.count():  # a damaged setting is ignored
            self.nav.setCurrentRow(int(row))

    def keeps_running_when_closed(self) -> bool:
        value = settings().value("automations/keep_running_when_closed", False)
        return self.tray is not None and str(value).lower() in ("true", "1")

    def closeEvent(self, event: QCloseEvent) -> None:
        settings().setValue("window/geometry", self.saveGeometry())
        settings().setValue("window/view", self.nav.currentRow())
        quitting = getattr(self, "_quitting", False)
        if not quitting and self.keeps_running_when_closed() and self.context.scheduler:
            event.ignore()  # hidden: the tray keeps the automations running
            self.hide()
            return
        self.shutdown()
        event.accept()

    def quit(self) -> None:
        """Quit for real: automations stop with the window."""
        self._quitting = True
        self.close()

    def shutdown(self) -> None:
        if getattr(self, "_shut", False):
            return
        self._shut = True
        try:
            for view in self.views.values():
                closing = getattr(view, "shutdown", None)
                if callable(closing):
                    try:
                        closing()
                    except Exception:  # one view's failure must not keep the app alive
                        log.exception("the %s view did not shut down cleanly", view)
            self.context.close()
        finally:
            # Whatever failed above, the process ends: the window may already be hidden
            # and the app does not quit when its last window closes.
            if self.tray is not None:
                self.tray.hide()
            self.shut_down.emit()
