"""The workspace as Cairn understands it: instructions, spaces with their scope, skills,
operators and automations, each row opening its file.

The Files tab beside it shows the folder as it is on disk; this outline shows what the
workspace model made of it, so a person sees at a glance which space is private, which
skill belongs to which space, which automation is paused and which file has a problem.
Rows are computed by `outline_rows` (plain data, tested without a window) and drawn by
`WorkspaceOutline`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from cairn.app.theme import badge_colour
from cairn.core.workspace.entities import Operator, Skill, Space, Workspace

# What each scope means for the content, in the words docs/spaces.md uses.
SCOPE_HELP = {
    "private": "private: only you; its content is sensitive and stays on local models",
    "team": "team: shared with your team; may go to cloud models the policy allows",
    "company": "company: shared with the whole company",
}


@dataclass
class OutlineRow:
    """One row: its label, an optional badge (scope, state, problems), the file it opens."""

    label: str
    badge: str = ""
    badge_kind: str = ""  # a key of theme.BADGES (drawn as a badge), or "" for plain text
    path: str | None = None
    tip: str = ""
    children: list[OutlineRow] = field(default_factory=list)


def _problems(workspace: Workspace) -> tuple[Counter[str], Counter[str]]:
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    for diagnostic in workspace.diagnostics:
        (errors if diagnostic.severity == "error" else warnings)[diagnostic.path] += 1
    return errors, warnings


def _flag(row: OutlineRow, errors: Counter[str], warnings: Counter[str]) -> OutlineRow:
    """A row whose file has problems says how many, in place of a quieter badge."""
    if row.path and errors[row.path]:
        row.badge, row.badge_kind = f"{errors[row.path]} error(s)", "error"
    elif row.path and warnings[row.path] and not row.badge:
        row.badge, row.badge_kind = f"{warnings[row.path]} warning(s)", "warning"
    return row


def _skill_row(skill: Skill) -> OutlineRow:
    label = skill.title or skill.name
    return OutlineRow(label, path=skill.path, tip=skill.description)


def _operator_row(operator: Operator) -> OutlineRow:
    label = operator.title or operator.name
    return OutlineRow(label, path=operator.path, tip=operator.description)


def _space_row(space: Space, workspace: Workspace) -> OutlineRow:
    badge = space.scope + (" · sensitive" if space.meta.sensitive else "")
    tip = SCOPE_HELP[space.scope]
    if space.meta.description:
        tip = f"{space.meta.description}\n{tip}"
    row = OutlineRow(space.title or space.name, badge, space.scope, space.path, tip)
    row.children.append(OutlineRow("readme", path=space.path, tip="the space's readme"))
    if space.skills:
        row.children.append(
            OutlineRow("Skills", children=[_skill_row(s) for s in space.skills.values()])
        )
    if space.operators:
        row.children.append(
            OutlineRow("Operators", children=[_operator_row(o) for o in space.operators.values()])
        )
    automations = [
        OutlineRow(a.name, path=a.path, tip=a.meta.schedule)
        for a in workspace.automations.values()
        if a.meta.space == space.name
    ]
    if automations:
        row.children.append(OutlineRow("Automations", children=automations))
    return row


def outline_rows(workspace: Workspace) -> list[OutlineRow]:
    """The outline's top-level rows, in the order a person reads a workspace."""
    errors, warnings = _problems(workspace)
    rows: list[OutlineRow] = []
    instructions = OutlineRow("Instructions")
    if workspace.agents is not None:
        instructions.children.append(
            OutlineRow(workspace.agents.path, path=workspace.agents.path, tip="the policy file")
        )
    for layer in workspace.layers:
        instructions.children.append(
            OutlineRow(layer.path, path=layer.path, tip="an instruction layer")
        )
    rows.append(instructions)
    spaces = OutlineRow("Spaces", children=[_space_row(s, workspace) for s in _by_name(workspace)])
    rows.append(spaces)
    rows.append(OutlineRow("Skills", children=[_skill_row(s) for s in workspace.skills.values()]))
    rows.append(
        OutlineRow("Operators", children=[_operator_row(o) for o in workspace.operators.values()])
    )
    automations = OutlineRow("Automations")
    for automation in workspace.automations.values():
        badge, kind = ("", "") if automation.enabled else ("paused", "paused")
        where = f" · space {automation.meta.space}" if automation.meta.space else ""
        automations.children.append(
            OutlineRow(
                automation.name,
                badge,
                kind,
                automation.path,
                f"{automation.meta.schedule} ({automation.meta.timezone}){where}",
            )
        )
    rows.append(automations)
    # A file too broken to load has no row of its own: list it, so the outline never
    # hides a problem.
    shown = {path for row in rows for path in _paths(row)}
    broken = sorted(path for path in errors if path not in shown)
    if broken:
        messages = {d.path: d.message for d in workspace.diagnostics if d.severity == "error"}
        rows.append(
            OutlineRow(
                "Not loaded",
                children=[OutlineRow(path, path=path, tip=messages[path]) for path in broken],
            )
        )
    for top in rows:
        top.badge = str(len(top.children)) if top.children else "none"
        _walk_flags(top, errors, warnings)
    return rows


def _paths(row: OutlineRow) -> list[str]:
    return ([row.path] if row.path else []) + [p for c in row.children for p in _paths(c)]


def _by_name(workspace: Workspace) -> list[Space]:
    return [workspace.spaces[name] for name in sorted(workspace.spaces)]


def _walk_flags(row: OutlineRow, errors: Counter[str], warnings: Counter[str]) -> None:
    for child in row.children:
        # A space row keeps its scope badge; its readme row, which names the same file,
        # carries the file's problems.
        if child.badge_kind not in SCOPE_HELP:
            _flag(child, errors, warnings)
        _walk_flags(child, errors, warnings)


class WorkspaceOutline(QTreeWidget):
    """The outline tree. `open_requested(path)` when a row with a file is chosen."""

    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Workspace outline")
        self.setColumnCount(2)
        self.setHeaderHidden(True)
        self.setUniformRowHeights(True)
        self.itemActivated.connect(self._chosen)
        self.itemClicked.connect(self._chosen)

    def show_workspace(self, workspace: Workspace) -> None:
        """Redraw from the model, keeping which groups were open and the chosen row."""
        expanded = {self._key(item) for item in self._items() if item.isExpanded()}
        first = self.topLevelItemCount() == 0
        current = self.currentItem()
        chosen = self._key(current) if current is not None else None
        self.clear()
        for row in outline_rows(workspace):
            self.addTopLevelItem(self._item(row))
        for item in self._items():
            key = self._key(item)
            if (first and item.parent() is None) or key in expanded:
                item.setExpanded(True)
            if key == chosen:
                self.setCurrentItem(item)
        self.resizeColumnToContents(1)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, self.header().ResizeMode.Stretch)

    def _item(self, row: OutlineRow) -> QTreeWidgetItem:
        item = QTreeWidgetItem([row.label, row.badge])
        item.setData(0, Qt.ItemDataRole.UserRole, row.path)
        if row.tip:
            item.setToolTip(0, row.tip)
            item.setToolTip(1, row.tip)
        if row.badge_kind:
            item.setBackground(1, QBrush(badge_colour(row.badge_kind)))
            item.setForeground(1, QBrush(QColor("white")))
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for child in row.children:
            item.addChild(self._item(child))
        return item

    def _items(self) -> list[QTreeWidgetItem]:
        found: list[QTreeWidgetItem] = []
        stack = [self.topLevelItem(i) for i in range(self.topLevelItemCount())]
        while stack:
            item = stack.pop()
            if item is not None:
                found.append(item)
                stack.extend(item.child(i) for i in range(item.childCount()))
        return found

    @staticmethod
    def _key(item: QTreeWidgetItem) -> tuple[str, ...]:
        parts: list[str] = []
        current: QTreeWidgetItem | None = item
        while current is not None:
            parts.append(current.text(0))
            current = current.parent()
        return tuple(reversed(parts))

    def _chosen(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        path = item.data(0, Qt.ItemDataRole.UserRole)
        if path:
            self.open_requested.emit(path)

    def row(self, label: str) -> QTreeWidgetItem | None:
        """The first row with this label (for tests and keyboard navigation)."""
        return next((item for item in self._items() if item.text(0) == label), None)
