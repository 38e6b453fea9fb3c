"""Workspace view: the workspace's outline (spaces with their scope, skills, operators,
automations) and its files, a markdown editor with a rendered preview, and the
diagnostics list.

Saves go through the workspace model's writer (atomic, refused when the file changed on
disk since it was opened). A change made in another editor shows at once when this
editor has no unsaved edits, and as a bar with the choices (reload, keep mine as a copy,
compare) when it has. Clicking a diagnostic opens its file at its line.
"""

from __future__ import annotations

import difflib
from pathlib import Path, PurePosixPath

from PySide6.QtCore import QDir, QFileSystemWatcher, QModelIndex, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QFileSystemModel,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from cairn.app.context import AppContext
from cairn.app.views.outline import WorkspaceOutline

MAX_OPEN_BYTES = 4 * 1024 * 1024


class WorkspaceView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.path: str | None = None  # the open file, workspace-relative
        self.base_hash: str | None = None  # what the open file held when it was read
        self._loading = False
        self._crlf = False  # the open file ends its lines with CRLF: saves keep it
        self._saving: str | None = None  # the hash being written by `save`, while it runs

        self.files = QFileSystemModel(self)
        self.files.setFilter(QDir.Filter.AllDirs | QDir.Filter.Files | QDir.Filter.NoDotAndDotDot)
        self.files.setRootPath(str(context.root))
        self.tree = QTreeView()
        self.tree.setAccessibleName("Workspace files")
        self.tree.setModel(self.files)
        self.tree.setRootIndex(self.files.index(str(context.root)))
        for hidden in (1, 2, 3):  # size, type, date
            self.tree.hideColumn(hidden)
        self.tree.setHeaderHidden(True)
        self.tree.activated.connect(self._open_index)
        self.tree.clicked.connect(self._open_index)
        self.outline = WorkspaceOutline()
        self.outline.open_requested.connect(self.open)
        self.browse = QTabWidget()
        self.browse.setAccessibleName("Browse the workspace")
        self.browse.addTab(self.outline, "Outline")
        self.browse.addTab(self.tree, "Files")

        self.diagnostics = QListWidget()
        self.diagnostics.setAccessibleName("Diagnostics")
        self.diagnostics.itemActivated.connect(self._open_diagnostic)
        self.diagnostics.itemClicked.connect(self._open_diagnostic)

        self.title = QLabel("Open a file from the tree")
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.title.setAccessibleName("Open file")
        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("Editor")
        self.editor.textChanged.connect(self._edited)
        self.preview = QTextBrowser()
        self.preview.setAccessibleName("Preview")
        self.preview.setOpenExternalLinks(False)
        self.preview.setOpenLinks(False)  # a link would replace the preview with its target
        self.tabs = QTabWidget()
        self.tabs.addTab(self.editor, "Edit")
        self.tabs.addTab(self.preview, "Preview")
        self.tabs.currentChanged.connect(self._render)
        self.save_button = QPushButton("Save")
        self.save_button.setAccessibleName("Save file")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)

        self.conflict = QWidget()
        self.conflict.setAccessibleName("Changed on disk")
        bar = QHBoxLayout(self.conflict)
        self.conflict_text = QLabel()
        self.conflict_text.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        bar.addWidget(self.conflict_text, 1)
        for text, slot in (
            ("Reload", self.reload),
            ("Keep mine as a copy", self.keep_copy),
            ("Compare", self.compare),
        ):
            button = QPushButton(text)
            button.setAccessibleName(text)
            button.clicked.connect(slot)
            bar.addWidget(button)
        self.conflict.hide()
        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.message.setAccessibleName("Message")
        self.message.setWordWrap(True)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.browse)
        left.addWidget(self.diagnostics)
        left.setSizes([500, 160])
        right = QWidget()
        column = QVBoxLayout(right)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.save_button)
        column.addLayout(header)
        column.addWidget(self.conflict)
        column.addWidget(self.tabs, 1)
        column.addWidget(self.message)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([320, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        # The open file is watched on its own: most files (notes, drafts) are not part of
        # the workspace model, so the model's events do not cover them.
        self._open_watch = QFileSystemWatcher(self)
        self._open_watch.fileChanged.connect(lambda _path: self._disk_changed())
        context.loaded.connect(self._show_model)
        context.changed.connect(self._workspace_changed)

    # -- opening and saving ---------------------------------------------------------------

    def _open_index(self, index: QModelIndex) -> None:
        if not self.files.isDir(index):
            self.open(Path(self.files.filePath(index)).relative_to(self.context.root).as_posix())

    def open(self, path: str, line: int | None = None, *, discard: bool = False) -> bool:
        """Open a workspace-relative file; False (with a message) when it cannot be, or
        when the open file has unsaved edits the person chose to keep. `discard`: the
        edits may go (Reload, or after they were kept as a copy)."""
        if path == self.path and not discard and self.modified():
            self._go_to(line)  # the same file, edits and all: only move to the line
            return True
        if not discard and self.modified() and not self._may_leave():
            return False
        data = self._read(path)
        if data is None:
            return False
        from cairn.core.workspace.documents import content_hash

        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Saving would have to replace the bytes that are not UTF-8: show, never save.
            text = data.decode("utf-8", errors="replace")
            self.message.setText(f"{path} is not UTF-8 text: shown read-only")
            writable = False
        else:
            writable = True
        self.path, self.base_hash = path, content_hash(data)
        # CRLF only when every line ending is one: a mixed file is saved with LF.
        self._crlf = b"\r\n" in data and data.count(b"\n") == data.count(b"\r\n")
        self._watch(path)
        self._loading = True
        self.editor.setPlainText(text)
        self.editor.setReadOnly(not writable)
        self._loading = False
        self.title.setText(path)
        self.save_button.setEnabled(False)
        self.conflict.hide()
        if writable:
            self.message.clear()
        self._render()
        self._go_to(line)
        return True

    def _go_to(self, line: int | None) -> None:
        if line is not None:
            block = self.editor.document().findBlockByNumber(max(line - 1, 0))
            self.editor.setTextCursor(QTextCursor(block))
            self.editor.centerCursor()
            self.tabs.setCurrentWidget(self.editor)

    def _may_leave(self) -> bool:
        """The open file has unsaved edits: save them, drop them, or stay (the default)."""
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Unsaved edits",
            f"{self.path} has edits that are not saved.",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Cancel,
        )
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    def _read(self, path: str) -> bytes | None:
        target = (self.context.root / path).resolve()
        if not target.is_relative_to(self.context.root):
            self.message.setText(f"{path} leads outside the workspace")
            return None
        try:
            data = target.read_bytes()
        except OSError as exc:
            self.message.setText(f"{path}: {exc.strerror or exc}")
            return None
        if len(data) > MAX_OPEN_BYTES or b"\0" in data[:4096]:
            self.message.setText(f"{path} is not a text file Cairn edits")
            return None
        return data

    def modified(self) -> bool:
        return self.editor.document().isModified()

    def save(self) -> bool:
        """Write the editor's text, refused (and nothing lost) if the file changed."""
        if self.path is None or self.context.model is None:
            return False
        from cairn.core.errors import WriteConflictError
        from cairn.core.workspace.documents import content_hash

        if self.editor.isReadOnly():
            return False
        text = self.text()
        # The write notifies the model's subscribers at once, this view among them: the
        # file on disk then holds exactly this, which is not a change made elsewhere.
        self._saving = content_hash(text.encode("utf-8"))
        try:
            self.context.model.write(self.path, text, base_hash=self.base_hash)
        except WriteConflictError:
            self._show_conflict()
            return False
        except Exception as exc:  # a read-only folder, a full disk: said, nothing lost
            self.message.setText(f"Not saved: {exc}")
            return False
        finally:
            self._saving = None
        self.base_hash = content_hash(text.encode("utf-8"))
        self.editor.document().setModified(False)
        self.save_button.setEnabled(False)
        self.conflict.hide()
        self.message.setText(f"Saved {self.path}")
        return True

    def text(self) -> str:
        """The editor's text as the file should hold it: the raw text (toPlainText would
        turn non-breaking spaces into spaces) with the file's own line endings."""
        # Paragraph and line separators (Enter, Shift+Enter) are line breaks in the file.
        raw = self.editor.document().toRawText().replace("\u2029", "\n").replace("\u2028", "\n")
        return raw.replace("\n", "\r\n") if self._crlf else raw

    def reload(self) -> None:
        if self.path is not None:
            self.open(self.path, discard=True)

    def keep_copy(self) -> None:
        """Keep my edits in a new file beside the original; load the disk's version."""
        if self.path is None or self.context.model is None:
            return
        original = PurePosixPath(self.path)
        copy = str(original.with_name(f"{original.stem} (my copy){original.suffix}"))
        loaded = self.path in self.context.model.workspace.files
        if loaded:
            # A copy of an automation, a skill or a readme would load as a second one
            # (and run on the same schedule): kept as text Cairn does not read.
            copy += ".txt"
        text = self.text()
        try:
            self.context.model.write(copy, text, base_hash=None)
        except Exception as exc:
            self.message.setText(f"Could not keep a copy: {exc}")
            return
        self.open(self.path, discard=True)
        why = " (.txt, so Cairn does not load it as a second one)" if loaded else ""
        self.message.setText(f"Your version is kept as {copy}{why}")

    def compare(self) -> None:
        if self.path is None:
            return
        data = self._read(self.path) or b""
        disk = data.decode("utf-8", errors="replace").splitlines()
        mine = self.editor.toPlainText().splitlines()
        diff = "\n".join(difflib.unified_diff(disk, mine, "on disk", "your edits", lineterm=""))
        self.tabs.setCurrentWidget(self.preview)  # first: showing the tab renders the preview
        self.preview.setPlainText(diff or "No differences.")

    def quick_open(self) -> None:
        """Ctrl+P: open a file by typing part of its name."""
        if self.context.model is None:
            return
        names = sorted(self.context.model.workspace.files)
        chosen, ok = QInputDialog.getItem(self, "Quick open", "File:", names, 0, True)
        if ok and chosen:
            self.open(chosen)

    # -- reacting ---------------------------------------------------------------------------

    def _edited(self) -> None:
        if not self._loading:
            self.save_button.setEnabled(True)

    def _render(self) -> None:
        if self.tabs.currentWidget() is self.preview:
            self.preview.setMarkdown(self.editor.toPlainText())

    def _show_conflict(self) -> None:
        self.conflict_text.setText(
            f"{self.path} changed on disk since you opened it. Your edits are still here."
        )
        self.conflict.show()

    def _watch(self, path: str) -> None:
        watched = self._open_watch.files()
        if watched:
            self._open_watch.removePaths(watched)
        self._open_watch.addPath(str(self.context.root / path))

    def _workspace_changed(self, events: object) -> None:
        self._show_model()
        self._disk_changed()

    def _show_model(self) -> None:
        if self.context.model is None:
            return
        self.outline.show_workspace(self.context.model.workspace)
        self._show_diagnostics()

    def _disk_changed(self) -> None:
        if self.path is None:
            return
        self._watch(self.path)  # an editor that saves by renaming drops the watch
        data = self._read(self.path)
        if data is None:
            return
        from cairn.core.workspace.documents import content_hash

        if content_hash(data) in (self.base_hash, self._saving):
            return
        if self.modified():
            self._show_conflict()
        else:
            self.open(self.path)

    def _show_diagnostics(self) -> None:
        if self.context.model is None:
            return
        self.diagnostics.clear()
        for diagnostic in self.context.model.workspace.diagnostics:
            item = QListWidgetItem(
                f"{diagnostic.severity}: {diagnostic.location}: {diagnostic.message}"
            )
            item.setData(Qt.ItemDataRole.UserRole, (diagnostic.path, diagnostic.line))
            item.setToolTip(diagnostic.fix)
            self.diagnostics.addItem(item)
        if not self.diagnostics.count():
            self.diagnostics.addItem("No problems found.")

    def _open_diagnostic(self, item: QListWidgetItem) -> None:
        where = item.data(Qt.ItemDataRole.UserRole)
        if where:
            path, line = where
            self.open(path, line)
