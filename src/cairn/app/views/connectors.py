"""Connectors view: the MCP servers agents.md names, their state, their tools with the
rule each call meets, and a test call — what `cairn connectors` shows.

Listing reads agents.md only. Show tools and Test start the server on a worker (it can
take seconds), through the app's shared hub, the one its tasks and automations use, so a
server started here is the one they call. A connector still turned off is tried on a
hub of its own, closed afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.context import AppContext
from cairn.app.views.approval_card import plain_label
from cairn.app.views.tables import cell, table
from cairn.core.engine import CancelToken

COLUMNS = ("Name", "Scope", "Transport", "Spaces", "State")
TOOL_COLUMNS = ("Tool", "Kind", "Rule now", "Description")


class ConnectorsView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._workers: set[EventWorker] = set()
        self.names: list[str] = []

        self.banner = plain_label("Loading the workspace …", "Connectors status")
        self.table = table(COLUMNS, "Connectors", single_row=True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.tools_button = self._button(
            "Show tools", "Start it and list its tools", self.show_tools
        )
        self.test_button = self._button("Test", "Start it and call a read-only tool", self.test)
        self.message = plain_label("", "Connectors message")
        self.tools = table(TOOL_COLUMNS, "Connector tools")
        self.result = QPlainTextEdit()
        self.result.setAccessibleName("Test call result")
        self.result.setReadOnly(True)

        top = QWidget()
        column = QVBoxLayout(top)
        column.addWidget(self.banner)
        column.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.tools_button)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        column.addLayout(buttons)
        column.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.tools)
        split.addWidget(self.result)
        split.setSizes([260, 300, 160])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        context.loaded.connect(self.refresh)
        context.changed.connect(self._changed)
        self._update_buttons()
        if context.ready:
            self.refresh()

    def _button(self, text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(tip)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _specs(self) -> dict[str, Any]:
        model = self.context.model
        agents = model.workspace.agents if model else None
        return dict(agents.policy.connectors) if agents else {}

    def _changed(self, _events: object) -> None:
        self.refresh()

    def refresh(self) -> None:
        """The connectors as agents.md names them, with what this window's hub knows."""
        from cairn.runtime import running_hub

        specs = self._specs()
        hub = running_hub(self.context.root)
        self.names = list(specs)
        self.table.setRowCount(len(specs))
        for row, (name, spec) in enumerate(specs.items()):
            status = hub.status(name) if hub is not None else None
            state = "turned off" if not spec.enabled else status.state if status else "not started"
            detail = status.detail if status else ""
            cells = (
                cell(name, spec.description),
                cell(spec.scope),
                cell(
                    "http" if spec.url else "stdio",
                    spec.url or " ".join([spec.command or "", *spec.args]),
                ),
                cell(", ".join(spec.spaces) or "every space"),
                cell(f"{state} · {detail}" if detail else state, detail or None),
            )
            for index, made in enumerate(cells):
                self.table.setItem(row, index, made)
        self.banner.setText(
            f"{len(specs)} connector(s) in agents.md; a server starts when a task first needs it."
            if specs
            else "No connectors in agents.md: docs/connectors.md says how to add one."
        )
        self._update_buttons()

    def selected(self) -> str | None:
        rows = {item.row() for item in self.table.selectedItems()}
        return self.names[rows.pop()] if len(rows) == 1 and self.names else None

    def select(self, name: str) -> None:
        if name in self.names:
            self.table.selectRow(self.names.index(name))

    def _update_buttons(self) -> None:
        chosen = self.selected() is not None
        busy = bool(self._workers)
        self.tools_button.setEnabled(chosen and not busy)
        self.test_button.setEnabled(chosen and not busy)

    # -- starting a server ------------------------------------------------------------------

    def show_tools(self) -> None:
        name = self.selected()
        if name is not None:
            self._run(name, "tools")

    def test(self) -> None:
        name = self.selected()
        if name is not None:
            self._run(name, "test")

    def _run(self, name: str, what: str) -> None:
        from cairn.runtime import connector_hub

        model = self.context.model
        agents = model.workspace.agents if model else None
        if agents is None:
            return
        spec = agents.policy.connectors[name]
        root, rules = self.context.root, agents.policy.permissions
        shared = connector_hub(root, agents.policy) if spec.enabled else None
        self.message.setText(f"Starting {name} …")

        def produce(cancel: CancelToken) -> Iterable[object]:
            from cairn.connectors.hub import ConnectorHub
            from cairn.connectors.tools import tool_rows, try_call

            hub = shared or ConnectorHub(root, {name: spec.model_copy(update={"enabled": True})})
            try:
                if what == "tools":
                    return [("tools", tool_rows(hub, name, rules))]
                return [("test", try_call(hub, name, rules=rules))]
            finally:
                if shared is None:
                    hub.close()

        worker = EventWorker(produce, self)
        worker.item.connect(lambda item: self._show(name, item))
        worker.finished.connect(lambda error: self._done(worker, name, error))
        self._workers.add(worker)
        worker.start()
        self._update_buttons()

    def _show(self, name: str, item: object) -> None:
        kind, value = cast(tuple[str, Any], item)
        if kind == "tools":
            self.tools.setRowCount(len(value))
            for row, tool in enumerate(value):
                cells = (
                    cell(tool["tool"]),
                    cell("read-only" if tool["read_only"] else "acts outside"),
                    cell(tool["rule"], tool["rule"]),
                    cell(" ".join(str(tool["description"]).split()), tool["description"]),
                )
                for index, made in enumerate(cells):
                    self.tools.setItem(row, index, made)
            self.message.setText(f"{name}: {len(value)} tool(s)")
        else:
            tool, result = value
            mark = "✘ failed" if result.is_error else "✔"
            self.message.setText(f"{mark} {name}.{tool}")
            self.result.setPlainText(result.text[:5000])

    def _done(self, worker: EventWorker, name: str, error: object) -> None:
        self._workers.discard(worker)
        worker.wait()
        worker.deleteLater()
        if error is not None:
            self.message.setText(f"{name}: {str(error).split(': ', 1)[-1]}")
        self.refresh()

    def shutdown(self) -> None:
        for worker in list(self._workers):
            worker.wait()
        self._workers.clear()
