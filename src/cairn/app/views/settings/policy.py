"""Budgets and routing roles, written to agents.md value by value."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cairn.app.context import AppContext
from cairn.app.views.settings.common import push_button, text_label

UNROUTED = "(not routed)"  # a kind left to the default role


class PolicyForms(QWidget):
    """Budgets and routing roles, written to agents.md value by value."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from cairn.core.workspace.policy_edit import BUDGET_FIELDS, BUDGET_SCOPES

        self.context = context
        self.path: str | None = None  # the policy file, workspace-relative
        self.base_text = ""  # its text (no BOM) when the forms were filled
        self.base_hash: str | None = None
        self.bom = ""
        self._expected: set[str] = set()  # hashes of this view's own writes in flight
        self.edited: set[str] = set()  # the forms with unsaved edits: budgets, routing
        self._filling = False

        self.limits: dict[tuple[str, str], QLineEdit] = {}
        budgets = QGroupBox("Budgets (empty: no limit)")
        grid = QGridLayout(budgets)
        for column, field in enumerate(("", *BUDGET_FIELDS)):
            grid.addWidget(QLabel({"usd": "USD"}.get(field, field.capitalize())), 0, column)
        for row, scope in enumerate(BUDGET_SCOPES, 1):
            grid.addWidget(QLabel(scope.replace("_", " ").capitalize()), row, 0)
            for column, field in enumerate(BUDGET_FIELDS, 1):
                edit = QLineEdit()
                edit.setAccessibleName(f"{scope} {field} limit")
                edit.setPlaceholderText("no limit")
                edit.textEdited.connect(lambda _text: self._edited("budgets"))
                self.limits[scope, field] = edit
                grid.addWidget(edit, row, column)
        self.warn_at = QLineEdit()
        self.warn_at.setAccessibleName("Warn at")
        self.warn_at.setPlaceholderText("0.8")
        self.warn_at.textEdited.connect(lambda _text: self._edited("budgets"))
        grid.addWidget(QLabel("Warn at (share of a budget)"), len(BUDGET_SCOPES) + 1, 0, 1, 2)
        grid.addWidget(self.warn_at, len(BUDGET_SCOPES) + 1, 2)
        self.save_budgets_button = push_button("Save budgets", self.save_budgets)

        self.roles = QTableWidget(0, 2)
        self.roles.setAccessibleName("Roles")
        self.roles.setHorizontalHeaderLabels(["Role", "Models, first choice first"])
        self.roles.horizontalHeader().setStretchLastSection(True)
        self.roles.verticalHeader().hide()
        self.roles.itemChanged.connect(self._roles_edited)
        self.routing = QTableWidget(0, 2)
        self.routing.setAccessibleName("Routing")
        self.routing.setHorizontalHeaderLabels(["Step kind", "Role"])
        self.routing.horizontalHeader().setStretchLastSection(True)
        self.routing.verticalHeader().hide()
        self.save_routing_button = push_button("Save roles and routing", self.save_routing)
        add_role = push_button("Add role", self.add_role)
        remove_role = push_button("Remove role", self.remove_role)

        self.conflict = QWidget()
        self.conflict.setAccessibleName("Changed on disk")
        bar = QHBoxLayout(self.conflict)
        self.conflict_text = text_label("Conflict")
        bar.addWidget(self.conflict_text, 1)
        bar.addWidget(push_button("Reload", self.reload, "Reload settings"))
        self.conflict.hide()
        self.message = text_label("Settings message")

        routing_box = QGroupBox("Roles and routing")
        box = QVBoxLayout(routing_box)
        box.addWidget(self.roles, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(add_role)
        buttons.addWidget(remove_role)
        buttons.addStretch(1)
        box.addLayout(buttons)
        box.addWidget(self.routing, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.conflict)
        layout.addWidget(budgets)
        layout.addWidget(self.save_budgets_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(routing_box, 1)
        layout.addWidget(self.save_routing_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.message)

    # reading ----------------------------------------------------------------------------------

    def _read(self) -> tuple[str, bytes] | None:
        from cairn.infra.model_pull import policy_file

        found = policy_file(self.context.root)
        if found is None:
            return None
        return found.relative_to(self.context.root).as_posix(), found.read_bytes()

    def reload(self) -> None:
        """Fill the forms from the policy file as it is now, dropping unsaved edits."""
        from cairn.core.workspace.documents import content_hash
        from cairn.core.workspace.edit import EditError
        from cairn.core.workspace.policy_edit import policy_settings

        self.conflict.hide()
        read = self._read()
        if read is None:
            self.path = None
            self.setEnabled(False)
            self.message.setText("This workspace has no agents.md to hold budgets and roles.")
            return
        self.path, raw = read
        self.bom = "\ufeff" if raw.startswith(b"\xef\xbb\xbf") else ""
        self.base_text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
        self.base_hash = content_hash(raw)
        try:
            settings = policy_settings(self.base_text)
        except EditError as exc:
            self.setEnabled(False)
            self.message.setText(f"{self.path} cannot be edited here: {exc}")
            return
        self.setEnabled(True)
        self._filling = True
        for (scope, field), edit in self.limits.items():
            edit.setText(_number(settings.budgets[scope][field]))
        self.warn_at.setText(_number(settings.warn_at))
        self.roles.setRowCount(0)
        for name, models in settings.roles.items():
            self._add_role_row(name, ", ".join(models))
        self._fill_routing(settings.routing)
        self._filling = False
        self.edited.clear()

    def _fill_routing(self, routing: Mapping[str, str]) -> None:
        from cairn.core.workspace.policy_edit import STEP_KINDS

        roles = self._role_names()
        self.routing.setRowCount(0)
        for kind in dict.fromkeys([*STEP_KINDS, *routing]):
            row = self.routing.rowCount()
            self.routing.insertRow(row)
            item = QTableWidgetItem(kind)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.routing.setItem(row, 0, item)
            box = QComboBox()
            box.setAccessibleName(f"Role for {kind}")
            box.addItems([UNROUTED, *roles])
            chosen = routing.get(kind)
            if chosen and chosen not in roles:
                box.addItem(chosen)  # what the file says, even if the role is gone
            box.setCurrentText(chosen or UNROUTED)
            box.currentIndexChanged.connect(lambda _index: self._edited("routing"))
            self.routing.setCellWidget(row, 1, box)

    def _add_role_row(self, name: str, models: str) -> None:
        row = self.roles.rowCount()
        self.roles.insertRow(row)
        self.roles.setItem(row, 0, QTableWidgetItem(name))
        self.roles.setItem(row, 1, QTableWidgetItem(models))

    def _role_names(self) -> list[str]:
        names = (self.roles.item(row, 0) for row in range(self.roles.rowCount()))
        return [item.text().strip() for item in names if item and item.text().strip()]

    def routes(self) -> dict[str, str]:
        chosen: dict[str, str] = {}
        for row in range(self.routing.rowCount()):
            kind, box = self.routing.item(row, 0), self.routing.cellWidget(row, 1)
            if kind and isinstance(box, QComboBox) and box.currentText() != UNROUTED:
                chosen[kind.text()] = box.currentText()
        return chosen

    # editing ----------------------------------------------------------------------------------

    def _edited(self, form: str) -> None:
        if not self._filling:
            self.edited.add(form)

    def _roles_edited(self) -> None:
        if self._filling:
            return
        self.edited.add("routing")
        self._filling = True  # the combos follow the role names; that is not an edit
        self._fill_routing(self.routes())
        self._filling = False

    def add_role(self) -> None:
        self._add_role_row("", "")
        item = self.roles.item(self.roles.rowCount() - 1, 0)
        if item is not None:
            self.roles.editItem(item)

    def remove_role(self) -> None:
        row = self.roles.currentRow()
        if row >= 0:
            self.roles.removeRow(row)
            self._roles_edited()

    def save_budgets(self) -> bool:
        from cairn.core.workspace.policy_edit import edit_policy

        limits: dict[str, dict[str, float | int | None]] = {}
        try:
            for (scope, field), edit in self.limits.items():
                limits.setdefault(scope, {})[field] = _parse(edit.text(), field)
            warn_at = _parse(self.warn_at.text(), "warn at")
        except ValueError as exc:
            self.message.setText(f"Not saved: {exc}")
            return False
        return self._save(
            lambda text: edit_policy(text, budgets=limits, warn_at=warn_at), "budgets", "budgets"
        )

    def save_routing(self) -> bool:
        from cairn.core.workspace.policy_edit import edit_policy

        roles: dict[str, list[str]] = {}
        for row in range(self.roles.rowCount()):
            name_item, models_item = self.roles.item(row, 0), self.roles.item(row, 1)
            name = name_item.text().strip() if name_item else ""
            models = [
                m
                for m in (models_item.text() if models_item else "").replace(",", " ").split()
                if m
            ]
            if not name and not models:
                continue
            if not name:
                self.message.setText("Not saved: a role in the list has no name.")
                return False
            roles[name] = models
        routes = self.routes()
        return self._save(
            lambda text: edit_policy(text, roles=roles, routing=routes),
            "routing",
            "roles and routing",
        )

    def _save(self, edit: Callable[[str], str], form: str, what: str) -> bool:
        from cairn.core.errors import CairnError, WriteConflictError
        from cairn.core.workspace.documents import content_hash

        if self.path is None or self.context.model is None:
            return False
        try:
            edited = edit(self.base_text)
        except CairnError as exc:
            self.message.setText(f"Not saved: {exc}")
            return False
        if edited == self.base_text:
            self.edited.discard(form)
            self.message.setText(f"No change to the {what}.")
            return True
        data = (self.bom + edited).encode("utf-8")
        self._expected.add(content_hash(data))
        try:
            self.context.model.write(self.path, self.bom + edited, base_hash=self.base_hash)
        except WriteConflictError:
            self._show_conflict()
            return False
        except (OSError, CairnError) as exc:  # read-only, outside the workspace, full disk
            self.message.setText(f"Not saved: {exc}")
            return False
        finally:
            self._expected.discard(content_hash(data))
        self.base_text, self.base_hash = edited, content_hash(data)
        self.edited.discard(form)
        self.conflict.hide()
        self.message.setText(f"Saved the {what} to {self.path}; the rest of it is as it was.")
        return True

    def _show_conflict(self) -> None:
        self.conflict_text.setText(
            f"{self.path} changed on disk since these settings were shown, so they were not "
            "saved. Reload to see the file as it is now (your edits here are dropped)."
        )
        self.conflict.show()

    # the file changing ------------------------------------------------------------------------

    def on_disk_changed(self) -> None:
        """The workspace changed: follow the file, unless that would drop unsaved edits."""
        from cairn.core.workspace.documents import content_hash

        read = self._read()
        now = content_hash(read[1]) if read else None
        if now is not None and (now == self.base_hash or now in self._expected):
            return
        if self.edited:
            self._show_conflict()
        else:
            self.reload()

    def rebase(self, hashes: tuple[str, str] | None) -> None:
        """A model this view added went into the file: the forms' edits still apply."""
        from cairn.core.workspace.documents import content_hash

        read = self._read()
        if not hashes or read is None or hashes[0] != self.base_hash:
            return
        if content_hash(read[1]) != hashes[1]:
            return  # changed again since, by someone else: that is a real conflict
        if not self.edited:
            self.reload()
            return
        self.base_text = read[1].decode("utf-8", errors="replace").removeprefix("\ufeff")
        self.base_hash = hashes[1]
        self.conflict.hide()


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parse(text: str, field: str) -> float | int | None:
    text = text.strip().replace("_", "")
    if not text:
        return None
    try:
        if field == "tokens":
            return int(text)
        number = float(text.replace(",", "."))
        return int(number) if number.is_integer() and "." not in text else number  # 90, not 90.0
    except ValueError:
        kind = "a whole number" if field == "tokens" else "a number"
        raise ValueError(f"{field} must be {kind}, not {text!r}") from None
