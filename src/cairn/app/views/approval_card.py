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
    approved = Signal()
    denied = Signal()

    def __init__(
        self,
        title: str,
        *,
        tool: str,
        path: str | None,
        arguments: Mapping[str, Any],
        preview: str,
        reason: str,
        details: str = "",
        warning: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """`details`: a line of context (who asked, when it expires); `warning`: why
        approving would be refused as things stand, shown prominently."""
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"Approval: {title}")
        self.title = plain_label(title, "Approval title")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.target = plain_label(f"{tool} · {path or 'no file'}", "Tool and file")
        self.reason = plain_label(f"Why it was asked: {reason or '—'}", "Why it was asked")
        self.details = plain_label(details, "Details")
        self.details.setVisible(bool(details))
        self.warning = plain_label(warning or "", "Warning")
        self.warning.setStyleSheet("color: #b3261e;")
        self.warning.setVisible(bool(warning))
        shown = json.dumps(dict(arguments), indent=2, ensure_ascii=False, default=str)
        self.arguments = _box(shown, "Arguments")
        self.preview = _box(preview or "(no preview)", "Preview of the change")

        self.approve_button = QPushButton("Approve")
        self.approve_button.setAccessibleName(f"Approve: {title}")
        self.approve_button.clicked.connect(self.approved)
        self.deny_button = QPushButton("Deny")
        self.deny_button.setAccessibleName(f"Deny: {title}")
        self.deny_button.clicked.connect(self.denied)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.target)
        layout.addWidget(self.reason)
        layout.addWidget(self.details)
        layout.addWidget(self.warning)
        layout.addWidget(plain_label("Arguments (secrets redacted):", "Arguments heading"))
        layout.addWidget(self.arguments)
        layout.addWidget(plain_label("What would change:", "Change heading"))
        layout.addWidget(self.preview)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.deny_button)
        buttons.addWidget(self.approve_button)
        layout.addLayout(buttons)

    def set_busy(self, busy: bool) -> None:
        """While an answer is being carried out, the card cannot be answered again."""
        self.approve_button.setEnabled(not busy)
        self.deny_button.setEnabled(not busy)
