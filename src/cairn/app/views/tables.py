"""Read-only tables as the Automations and Connectors views show them."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem


def table(columns: Sequence[str], name: str, *, single_row: bool = False) -> QTableWidget:
    """Columns sized to their contents, the last one stretched, no row numbers;
    `single_row`: a click chooses one whole row."""
    found = QTableWidget(0, len(columns))
    found.setAccessibleName(name)
    found.setHorizontalHeaderLabels(list(columns))
    found.verticalHeader().hide()
    if single_row:
        found.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        found.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    header = found.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return found


def cell(text: str, tip: str | None = None) -> QTableWidgetItem:
    """A cell to read and select, not to edit."""
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if tip:
        item.setToolTip(tip)
    return item
