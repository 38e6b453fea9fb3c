"""One action waiting for a person: what exactly would happen, with Approve and Deny.

The same card serves a queued approval (the Automations view) and a task waiting at the
keyboard (the Tasks view): a title, the tool and file, why it was asked, the full
arguments and a preview of the change. The card only asks; whoever shows it performs the
answer (`approved` / `denied`) and says how it went.

Everything on it was written by a model or read from a file anyone could edit, so every
label is plain text: markup in a reason or a path is shown, never rendered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cairn.app.theme import text_colour

BOX_LINES = 8  # the arguments and the preview show this many lines before scrolling


def plain_label(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAccessibleName(name)
    return label


def _box(text: str, name: str) -> QPlainTextEdit:
    box = QPlainTextEdit(text)
    box.setReadOnly(True)
    box.setAccessibleName(name)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    lines = min(max(text.count("\n") + 1, 2), BOX_LINES)
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 14)
    return box


class ApprovalCard(QFrame):
    """The card. `approved`, `denied` and `always_allowed` say which button was pressed;
    `decided` shows the outcome and disables the buttons."""

    approved = Signal()
    denied = Signal()
    always_allowed = Signal()

    def __init__(
        self,
        title: str,
        *,
        tool: str,
        path: str | None,
        arguments: Mapping[str, Any],
        preview: str,
        reason: str,
        where: str = "",
        details: str = "",
        warning: str | None = None,
        answerable: bool = True,
        can_always_allow: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        """`where`: the space (and its scope) the file lands in; `details`: a line of
        context (who asked, when it expires); `warning`: why approving would be refused
        as things stand, shown prominently; `answerable`: False for a card re-read from a
        trace, which shows what was asked without buttons."""
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("approval")
        self.setStyleSheet(
            "QFrame#approval { border: 1px solid palette(highlight); border-radius: 6px; }"
        )
        self.setAccessibleName(f"Approval: {title}")
        self.title = plain_label(title, "Approval title")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.target = plain_label(f"{tool} · {path or 'no file'}", "Tool and file")
        self.where = plain_label(f"Lands in: {where}", "Where it lands")
        # The router's reasons come joined by "; "; a scope crossing is pulled out and
        # shown on its own line, since it is what a person most needs to see.
        reasons = [part for part in reason.split("; ") if part]
        crossing = [part.removeprefix("scope: ") for part in reasons if part.startswith("scope:")]
        self.scope = plain_label(f"Crosses scope: {crossing[0] if crossing else ''}", "Scope")
        self.scope.setStyleSheet("color: palette(highlight); font-weight: bold")
        rest = "; ".join(part for part in reasons if not part.startswith("scope:"))
        self.reason = plain_label(f"Why it asks: {rest or '—'}", "Why it asks")
        self.details = plain_label(details, "Details")
        self.warning = plain_label(warning or "", "Warning")
        self.warning.setStyleSheet(f"color: {text_colour('error').name()};")
        shown = json.dumps(dict(arguments), indent=2, ensure_ascii=False, default=str)
        self.arguments = _box(shown, "Arguments")
        self.preview = _box(preview or "(no preview)", "Preview of the change")
        self.state = plain_label("", "Decision")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        for widget in (self.title, self.target, self.where, self.scope, self.reason):
            layout.addWidget(widget)
        layout.addWidget(self.details)
        layout.addWidget(self.warning)
        layout.addWidget(plain_label("Arguments (secrets redacted):", "Arguments heading"))
        layout.addWidget(self.arguments)
        layout.addWidget(plain_label("What would change:", "Change heading"))
        layout.addWidget(self.preview)
        layout.addWidget(self.state)
        # Only once they have a parent: showing a parentless label opens it as a window.
        self.where.setVisible(bool(where))
        self.scope.setVisible(bool(crossing))
        self.details.setVisible(bool(details))
        self.warning.setVisible(bool(warning))

        self.buttons: list[QPushButton] = []
        if answerable:
            self.approve_button = self._button("Approve", f"Approve: {title}", self.approved)
            self.deny_button = self._button("Deny", f"Deny: {title}", self.denied)
            if can_always_allow:
                self.always_button = self._button(
                    "Always allow this rule", "Always allow this rule", self.always_allowed
                )
                self.always_button.setToolTip(
                    "Add an allow rule for this tool and path to agents.md, then approve"
                )
            row = QHBoxLayout()
            row.addStretch(1)
            for button in self.buttons:
                row.addWidget(button)
            layout.addLayout(row)

    def _button(self, text: str, name: str, signal: Any) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(lambda _checked=False: signal.emit())
        self.buttons.append(button)
        return button

    def set_busy(self, busy: bool) -> None:
        """While an answer is being carried out, the card cannot be answered again."""
        for button in self.buttons:
            button.setEnabled(not busy)

    def decided(self, approved: bool, by: str, note: str = "") -> None:
        """Show the answer for good: the buttons go, the outcome stays readable."""
        extra = f" · {note}" if note else ""
        self.state.setText(f"{'Approved' if approved else 'Denied'} ({by}){extra}")
        self.set_busy(True)
