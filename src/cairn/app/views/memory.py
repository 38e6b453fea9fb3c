"""Memory view: per space its three tiers (readme lines, topic files, archive), the staged
memories waiting for a decision, forgetting, and search over the memory index.

Every decision goes through the same core calls as `cairn memory`: `MemoryWriter`'s
approve and reject, `review.forget` (readme, topics, archive and index, no stale copy),
`MemoryIndex.search` and `rebuild`. Reading the files, touching the index and writing run
on `EventWorker`s; the UI thread only shows what they found. Each look repairs the index
against the files first (cheap: sizes and times), as the CLI does, and the app's watcher
asks for a look whenever a file changes on disk (a topic file is not a model file, so
the model's events alone would miss it): a hand edit shows at once, never stale.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.context import AppContext
from cairn.app.theme import badge_style
from cairn.core.engine import CancelToken
from cairn.core.errors import CairnError

if TYPE_CHECKING:
    from cairn.core.memory.items import MemoryItem
    from cairn.core.memory.review import SpaceMemory
    from cairn.core.memory.writer import MemoryWriter, Pending
    from cairn.infra.memory_index import MemoryHit, MemoryIndex

SEARCH_LIMIT = 50
MARKDOWN_NO_HTML = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value
    | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
)
ROOT_MEMORY = "your root memory"  # the index's space "": MEMORY.md and memory/ at the root
Selected = tuple[str, str, str | None]  # id, text, why it cannot be forgotten here (or None)


def _item(text: str, selected: Selected | None = None, tip: str = "") -> QListWidgetItem:
    item = QListWidgetItem(text)
    item.setData(Qt.ItemDataRole.UserRole, selected)
    item.setToolTip(tip)
    if selected is None:
        item.setFlags(Qt.ItemFlag.NoItemFlags)  # an empty-state line, not a memory
    return item


def _line(item: MemoryItem) -> QListWidgetItem:
    tip = f"value {item.value:.2f} · {item.source} · id {item.id}"
    return _item(f"{item.date.isoformat()}  {item.text}", (item.id, item.text, None), tip)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StagedCard(QFrame):
    """One staged memory: its text, why it was staged, where approving writes it, and the
    two decisions. The space can be changed before approving (a private one only, for a
    memory derived from sensitive content, as the writer requires)."""

    def __init__(self, view: MemoryView, staged: Pending) -> None:
        super().__init__()
        self.view, self.staged = view, staged
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"Staged memory: {_short(staged.text)}")
        text = QLabel(staged.text)
        text.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        text.setWordWrap(True)
        text.setAccessibleName("Staged memory text")
        self.why = QLabel(f"Why staged: {staged.reason or 'no reason given'}")
        self.why.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.why.setWordWrap(True)
        self.why.setAccessibleName("Why it was staged")
        self.where = QLabel()
        self.where.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.where.setWordWrap(True)
        self.where.setAccessibleName("Where it would go")
        self.space = QComboBox()
        self.space.setAccessibleName("Space to keep it in")
        workspace = view.workspace_spaces()
        allowed = [
            name
            for name, scope in workspace
            if not staged.sensitive or scope == "private"  # the writer's rule, shown up front
        ]
        if staged.space not in allowed:
            self.space.addItem("Choose a space…", None)
        for name in allowed:
            self.space.addItem(name, name)
        if staged.space in allowed:
            self.space.setCurrentIndex(self.space.findData(staged.space))
        self.space.currentIndexChanged.connect(self._update_where)
        self.approve_button = QPushButton("Approve")
        self.approve_button.setAccessibleName(f"Approve: {_short(staged.text, 40)}")
        self.approve_button.clicked.connect(
            lambda: self._answer(lambda: view.approve(staged.id, self.chosen()))
        )
        self.reject_button = QPushButton("Reject")
        self.reject_button.setAccessibleName(f"Reject: {_short(staged.text, 40)}")
        self.reject_button.clicked.connect(lambda: self._answer(lambda: view.reject(staged.id)))
        buttons = QHBoxLayout()
        buttons.addWidget(self.space, 1)
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.reject_button)
        column = QVBoxLayout(self)
        column.addWidget(text)
        column.addWidget(self.why)
        column.addWidget(self.where)
        column.addLayout(buttons)
        self._update_where()

    def _answer(self, act: Callable[[], None]) -> None:
        """One answer per card: a second click while the first is carried out (and
        before the refreshed list replaces this card) does nothing."""
        self.approve_button.setEnabled(False)
        self.reject_button.setEnabled(False)
        act()

    def chosen(self) -> str | None:
        data = self.space.currentData()
        return str(data) if data else None

    def _update_where(self) -> None:
        from cairn.core.memory.review import destination

        staged = self.staged
        facts = f"value {staged.value:.2f}, {staged.source}" + (
            ", from private content" if staged.sensitive else ""
        )
        model = self.view.context.model
        goes = destination(staged, model.workspace, self.chosen()) if model else None
        if goes is None:
            self.where.setText(f"Would go to: no space yet — choose one ({facts})")
        else:
            self.where.setText(f"Would go to: {goes[0]}, {goes[1]} tier ({facts})")
        self.approve_button.setEnabled(goes is not None)


class MemoryView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Memory")
        self.context = context
        self.index: MemoryIndex | None = None
        self.memory: SpaceMemory | None = None  # the tiers shown
        self.staged_cards: dict[str, StagedCard] = {}
        self.selected: Selected | None = None
        self._workers: list[EventWorker] = []
        self._refreshing = self._again = self._closed = False
        self._searches = 0  # newest search: an older one's late answer is dropped
        self._last_query = ""

        self.spaces = QComboBox()
        self.spaces.setAccessibleName("Space")
        self.spaces.currentIndexChanged.connect(self._space_chosen)
        self.badge = QLabel()
        self.badge.setAccessibleName("Scope")
        refresh = QPushButton("Refresh")
        refresh.setAccessibleName("Refresh memory")
        refresh.clicked.connect(self.refresh)
        self.reindex_button = QPushButton("Rebuild index")
        self.reindex_button.setAccessibleName("Rebuild the memory index")
        self.reindex_button.setToolTip(
            "Rebuild the search index from the files (cairn memory reindex)"
        )
        self.reindex_button.clicked.connect(self.reindex)
        header = QHBoxLayout()
        header.addWidget(QLabel("Space:"))
        header.addWidget(self.spaces, 1)
        header.addWidget(self.badge)
        header.addStretch(1)
        header.addWidget(refresh)
        header.addWidget(self.reindex_button)

        self.readme_list = self._list("Readme memory lines")
        self.topic_list = self._list("Topic files", select=False)
        self.topic_list.currentItemChanged.connect(self._open_topic)
        self.topic_lines = self._list("Topic memory lines")
        self.topic_text = QTextBrowser()
        self.topic_text.setAccessibleName("Topic file content")
        self.topic_text.setOpenLinks(False)  # a task link leads out of this view
        topic_split = QSplitter(Qt.Orientation.Vertical)
        topic_split.addWidget(self.topic_list)
        topic_split.addWidget(self.topic_lines)
        topic_split.addWidget(self.topic_text)
        self.archive_list = self._list("Archive entries")
        self.archive_list.currentItemChanged.connect(self._open_note)
        self.archive_text = QPlainTextEdit()
        self.archive_text.setReadOnly(True)
        self.archive_text.setAccessibleName("Archive note")
        self.archive_count = QLabel()
        self.archive_count.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.archive_count.setAccessibleName("Archive size")
        archive = QWidget()
        archive_column = QVBoxLayout(archive)
        archive_column.setContentsMargins(0, 0, 0, 0)
        archive_split = QSplitter(Qt.Orientation.Vertical)
        archive_split.addWidget(self.archive_list)
        archive_split.addWidget(self.archive_text)
        archive_column.addWidget(archive_split, 1)
        archive_column.addWidget(self.archive_count)
        self.tiers = QTabWidget()
        self.tiers.setAccessibleName("Memory tiers")
        self.tiers.addTab(self.readme_list, "Readme")
        self.tiers.addTab(topic_split, "Topics")
        self.tiers.addTab(archive, "Archive")
        self.tiers.currentChanged.connect(self._tier_shown)

        self.selected_label = QLabel("Select a memory to forget it.")
        self.selected_label.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.selected_label.setAccessibleName("Selected memory")
        self.selected_label.setWordWrap(True)
        self.forget_button = QPushButton("Forget…")
        self.forget_button.setAccessibleName("Forget the selected memory")
        self.forget_button.setEnabled(False)
        self.forget_button.clicked.connect(self._forget_selected)
        forget_row = QHBoxLayout()
        forget_row.addWidget(self.selected_label, 1)
        forget_row.addWidget(self.forget_button)
        tiers = QWidget()
        tiers_column = QVBoxLayout(tiers)
        tiers_column.setContentsMargins(0, 0, 0, 0)
        tiers_column.addWidget(self.tiers, 1)
        tiers_column.addLayout(forget_row)

        self.staged_title = QLabel("Staged")
        self.staged_title.setAccessibleName("Staged memories heading")
        self.staged_body = QWidget()
        self.staged_column = QVBoxLayout(self.staged_body)
        self.staged_column.addStretch(1)
        staged_scroll = QScrollArea()
        staged_scroll.setAccessibleName("Staged memories")
        staged_scroll.setWidgetResizable(True)
        staged_scroll.setWidget(self.staged_body)
        staged = QWidget()
        staged_layout = QVBoxLayout(staged)
        staged_layout.setContentsMargins(0, 0, 0, 0)
        staged_layout.addWidget(self.staged_title)
        staged_layout.addWidget(staged_scroll, 1)

        self.search_box = QLineEdit()
        self.search_box.setAccessibleName("Search memory")
        self.search_box.setPlaceholderText("Search topic files and the archive…")
        self.search_box.returnPressed.connect(self.search)
        self.every_space = QCheckBox("Every space")
        self.every_space.setAccessibleName("Search every space")
        search_button = QPushButton("Search")
        search_button.setAccessibleName("Search")
        search_button.clicked.connect(self.search)
        self.results = self._list("Search results")
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_box, 1)
        search_row.addWidget(self.every_space)
        search_row.addWidget(search_button)
        search = QWidget()
        search_column = QVBoxLayout(search)
        search_column.setContentsMargins(0, 0, 0, 0)
        search_column.addLayout(search_row)
        search_column.addWidget(self.results, 1)

        top = QSplitter()
        top.addWidget(tiers)
        top.addWidget(staged)
        top.setSizes([640, 420])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(top)
        body.addWidget(search)
        body.setSizes([520, 220])
        self.message = QLabel("Loading the workspace…")
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.message.setAccessibleName("Message")
        self.message.setWordWrap(True)
        self.content = QWidget()
        content = QVBoxLayout(self.content)
        content.setContentsMargins(0, 0, 0, 0)
        content.addLayout(header)
        content.addWidget(body, 1)
        self.content.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.content, 1)
        layout.addWidget(self.message)

        context.loaded.connect(self._loaded)
        context.load_failed.connect(self._load_failed)
        context.changed.connect(self._workspace_changed)
        context.paths_changed.connect(self._paths_changed)
        if context.ready:
            self._loaded()

    def _list(self, name: str, *, select: bool = True) -> QListWidget:
        widget = QListWidget()
        widget.setAccessibleName(name)
        widget.setWordWrap(True)
        if select:
            widget.currentItemChanged.connect(self._select)
        return widget

    # -- state -----------------------------------------------------------------------------

    def workspace_spaces(self) -> list[tuple[str, str]]:
        """(name, scope) of every space, by name."""
        model = self.context.model
        if model is None:
            return []
        return sorted((s.name, s.scope) for s in model.workspace.spaces.values())

    def current_space(self) -> str | None:
        data = self.spaces.currentData()
        return str(data) if data else None

    def select_space(self, name: str) -> None:
        self.spaces.setCurrentIndex(self.spaces.findData(name))

    def idle(self) -> bool:
        """No worker running and no refresh waiting (tests wait for this)."""
        return not self._workers and not self._again

    def _loaded(self) -> None:
        from cairn.infra.memory_index import MemoryIndex
        from cairn.runtime import space_folders

        model = self.context.model
        if model is None or self.index is not None:
            return
        # Opening is quick (a missing or old database is only marked for a rebuild); the
        # rebuild itself happens in the first refresh's `repair`, on a worker.
        try:
            self.index = MemoryIndex(
                self.context.root, space_folders=lambda: space_folders(model.workspace)
            )
        except (OSError, sqlite3.Error, CairnError) as exc:  # read-only .cairn/, held lock
            self.message.setText(
                f"The memory index cannot be opened ({exc}); it is tried again when the "
                "workspace changes, or use Rebuild index once the cause is fixed."
            )
            return
        self._fill_spaces()
        self.content.setEnabled(True)
        self.message.clear()
        self.refresh()

    def _fill_spaces(self) -> None:
        current = self.current_space()
        self.spaces.blockSignals(True)  # refilling is not choosing
        self.spaces.clear()
        for name, scope in self.workspace_spaces():
            self.spaces.addItem(f"{name}  ({scope})", name)
        found = self.spaces.findData(current) if current else -1
        self.spaces.setCurrentIndex(found if found >= 0 else 0)
        self.spaces.blockSignals(False)
        self._show_badge()

    def _show_badge(self) -> None:
        spaces = dict(self.workspace_spaces())
        scope = spaces.get(self.current_space() or "", "")
        self.badge.setText(scope)
        self.badge.setStyleSheet(badge_style(scope) if scope else "")

    def _space_chosen(self) -> None:
        self._show_badge()
        self._clear_tiers()
        self.refresh()
        if self._last_query and not self.every_space.isChecked():
            self.search(self._last_query)  # results follow the space, never another's

    def _load_failed(self, why: str) -> None:
        self.message.setText(f"Not loaded: {why}")

    def _workspace_changed(self, events: object) -> None:
        if self.index is None:
            self._loaded()  # it could not be opened before: try again
            return
        if {n for n, _ in self.workspace_spaces()} != {
            self.spaces.itemData(i) for i in range(self.spaces.count())
        }:
            self._fill_spaces()
        self.refresh()

    def _paths_changed(self, paths: list[str]) -> None:
        # Cairn's own state (traces, the index database) changes on every task: not memory.
        if self.index is not None and any(not p.startswith(".cairn/") for p in paths):
            self.refresh()

    # -- workers ----------------------------------------------------------------------------

    def _start(
        self,
        produce: Callable[[CancelToken], Iterable[object]],
        show: Callable[[object], None],
        done: Callable[[object], None] | None = None,
    ) -> None:
        worker = EventWorker(produce, self)
        worker.item.connect(show)
        worker.finished.connect(lambda error: self._finished(worker, error, done))
        self._workers.append(worker)
        worker.start()

    def _finished(
        self, worker: EventWorker, error: object, done: Callable[[object], None] | None
    ) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
            worker.wait()
            worker.deleteLater()
        if self._closed:
            return
        if error is not None:
            self.message.setText(str(error).split(": ", 1)[-1])
        if done is not None:
            done(error)

    def shutdown(self) -> None:
        """Cancel and join every worker, then close the index."""
        self._closed = True
        for worker in list(self._workers):
            worker.wait()
        self._workers.clear()
        if self.index is not None:
            self.index.close()
            self.index = None

    def _writer(self) -> MemoryWriter:
        """A writer per job: its list of changed files is its own, and the index follows
        every write, as in `cairn memory`."""
        from cairn.core.memory.writer import MemoryWriter

        assert self.context.model is not None and self.index is not None
        return MemoryWriter(self.context.model, on_change=self.index.update)

    # -- showing ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the staged memories and the chosen space's tiers again (coalesced: a
        refresh asked for while one runs happens once it ends)."""
        if self.index is None or self._closed or self.context.model is None:
            return
        if self._refreshing:
            self._again = True
            return
        from cairn.core.memory.review import space_memory

        self._refreshing = True
        model, index, space, writer = (
            self.context.model,
            self.index,
            self.current_space(),
            self._writer(),
        )

        def produce(cancel: CancelToken) -> Iterable[object]:
            index.repair()  # hand edits, and a new or broken database, before anything shows
            yield writer.pending()
            if space and space in model.workspace.spaces and not cancel.cancelled:
                yield space_memory(model, space)

        self._start(produce, self._show, self._refreshed)

    def _refreshed(self, error: object) -> None:
        self._refreshing = False
        if self._again:
            self._again = False
            self.refresh()

    def _show(self, found: object) -> None:
        from cairn.core.memory.review import SpaceMemory

        if self._closed:  # a late answer after shutdown
            return
        if isinstance(found, SpaceMemory):
            if found.space == self.current_space():  # not a late answer for another space
                self._show_tiers(found)
        elif isinstance(found, list):
            self._show_staged(found)

    def _clear_tiers(self) -> None:
        self.memory = None
        for widget in (self.readme_list, self.topic_list, self.topic_lines, self.archive_list):
            widget.clear()
        self.topic_text.clear()
        self.archive_text.clear()
        self.archive_count.clear()
        self._select(None)

    def _show_tiers(self, memory: SpaceMemory) -> None:
        topic = self.topic_list.currentItem()
        open_topic = topic.toolTip() if topic else None  # its path
        previous = self.selected[0] if self.selected else None
        self._clear_tiers()
        self.memory = memory
        for line in memory.readme:
            self.readme_list.addItem(_line(line))
        if not memory.readme:
            self.readme_list.addItem(_item("No memory lines in the readme yet."))
        for index, file in enumerate(memory.topics):
            count = len(file.items)
            entry = QListWidgetItem(f"{file.name}  ({count} line{'' if count == 1 else 's'})")
            entry.setData(Qt.ItemDataRole.UserRole, index)
            entry.setToolTip(file.path)
            self.topic_list.addItem(entry)
            if file.path == open_topic:
                self.topic_list.setCurrentItem(entry)
        if not memory.topics:
            self.topic_list.addItem(_item("No topic files yet."))
        for note in memory.archive:
            why = None if note.forgettable else f"written by hand or another tool: edit {note.path}"
            first = note.text.splitlines()[0]
            entry = _item(f"{note.date}  {first}", (note.id, note.text, why), note.path)
            entry.setData(Qt.ItemDataRole.UserRole + 1, note)
            self.archive_list.addItem(entry)
        if not memory.archive:
            self.archive_list.addItem(_item("Nothing archived yet."))
        shown = len(memory.archive)
        self.archive_count.setText(
            f"Showing the newest {shown} of {memory.archived} archive notes: search finds the rest."
            if memory.archived > shown
            else f"{memory.archived} archive note(s)."
        )
        self.tiers.setTabText(0, f"Readme ({len(memory.readme)})")
        self.tiers.setTabText(1, f"Topics ({len(memory.topics)})")
        self.tiers.setTabText(2, f"Archive ({memory.archived})")
        if previous:
            self._reselect(previous)

    def _reselect(self, item_id: str) -> None:
        """Keep the user's selection across a refresh (a watcher event, another decision)."""
        tab = [self.readme_list, self.topic_lines, self.archive_list][self.tiers.currentIndex()]
        for widget in (tab, self.results):
            for row in range(widget.count()):
                data = widget.item(row).data(Qt.ItemDataRole.UserRole)
                if isinstance(data, tuple) and data[0] == item_id:
                    widget.setCurrentRow(row)
                    self._select(widget.item(row))
                    return

    def _tier_shown(self, tab: int) -> None:
        # Forget acts on what is in front of the user: the shown tier's selected line.
        shown = [self.readme_list, self.topic_lines, self.archive_list][tab]
        self._select(shown.currentItem())

    def _open_topic(self, current: QListWidgetItem | None) -> None:
        self.topic_lines.clear()
        self.topic_text.clear()
        index = current.data(Qt.ItemDataRole.UserRole) if current else None
        if self.memory is None or not isinstance(index, int):
            return
        file = self.memory.topics[index]
        for line in file.items:
            self.topic_lines.addItem(_line(line))
        if not file.items:
            self.topic_lines.addItem(_item("No memory lines: a file kept by hand."))
        # Markdown without HTML: a comment or tag in a memory file is shown, never hidden.
        self.topic_text.document().setMarkdown(file.text, MARKDOWN_NO_HTML)

    def _open_note(self, current: QListWidgetItem | None) -> None:
        note = current.data(Qt.ItemDataRole.UserRole + 1) if current else None
        self.archive_text.setPlainText(
            f"{note.text}\n\n— {note.path} (value {note.value:.2f}, {note.source or 'unknown'})"
            if note
            else ""
        )

    def _show_staged(self, staged: list[Pending]) -> None:
        for card in self.staged_cards.values():
            card.deleteLater()
        self.staged_cards = {}
        for item in staged:
            card = StagedCard(self, item)
            self.staged_column.insertWidget(self.staged_column.count() - 1, card)
            self.staged_cards[item.id] = card
        self.staged_title.setText(
            f"Staged: {len(staged)} waiting for you" if staged else "Staged: nothing is waiting"
        )

    # -- deciding ---------------------------------------------------------------------------

    def approve(self, pending_id: str, space: str | None = None) -> None:
        """Keep a staged memory (in `space`, or where it was meant to go)."""
        if self.index is None:
            return
        writer = self._writer()
        self._start(lambda _: [writer.approve(pending_id, space)], self._kept, self._decided)

    def _kept(self, written: object) -> None:
        from cairn.core.memory.writer import Written

        if isinstance(written, Written):
            self.message.setText(
                f"Kept in {written.space} ({written.tier} tier): {', '.join(written.paths)}"
            )

    def reject(self, pending_id: str) -> None:
        """Drop a staged memory."""
        if self.index is None:
            return
        writer = self._writer()

        def produce(cancel: CancelToken) -> Iterable[object]:
            writer.reject(pending_id)
            yield f"Dropped {pending_id}."

        self._start(produce, lambda text: self.message.setText(str(text)), self._decided)

    def _decided(self, error: object) -> None:
        self.refresh()
        if self._last_query:
            self.search(self._last_query)  # results must not show what just changed

    def _select(self, current: QListWidgetItem | None) -> None:
        selected = current.data(Qt.ItemDataRole.UserRole) if current else None
        self.selected = selected if isinstance(selected, tuple) else None
        if self.selected is None:
            self.selected_label.setText("Select a memory to forget it.")
            self.forget_button.setEnabled(False)
            return
        _, text, why = self.selected
        self.selected_label.setText(f"Selected: {_short(text, 120)}" + (f" — {why}" if why else ""))
        self.forget_button.setEnabled(why is None)

    def _forget_selected(self) -> None:
        if self.selected is None:
            return
        item_id, text, _ = self.selected
        answer = QMessageBox.question(
            self,
            "Forget this memory?",
            f"“{_short(text, 200)}”\n\nIt will be removed from the readme, its topic file, the "
            "archive and the search index. This cannot be undone.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.forget(item_id)

    def forget(self, item_id: str) -> None:
        """Remove a memory everywhere, as `cairn memory forget` does."""
        if self.index is None:
            return
        from cairn.core.memory.review import forget

        writer, index = self._writer(), self.index

        def produce(cancel: CancelToken) -> Iterable[object]:
            paths = forget(writer, item_id, index.paths_of)
            yield f"Forgot {item_id}: removed from {', '.join(paths)}."

        self._start(produce, lambda text: self.message.setText(str(text)), self._decided)

    # -- the index --------------------------------------------------------------------------

    def search(self, query: str | None = None) -> None:
        """Search the memory index: in the chosen space, or every space when ticked."""
        if self.index is None:
            return
        query = (self.search_box.text() if query is None else query).strip()
        self._last_query = query
        self._searches += 1
        number, index = self._searches, self.index
        space = None if self.every_space.isChecked() else self.current_space() or ""
        if not query:
            self.results.clear()
            return

        def produce(cancel: CancelToken) -> Iterable[object]:
            index.repair()
            yield number, index.search(query, space=space, limit=SEARCH_LIMIT)

        self._start(produce, self._show_hits)

    def _show_hits(self, found: object) -> None:
        number, hits = cast("tuple[int, list[MemoryHit]]", found)
        if self._closed or number != self._searches:
            return
        self.results.clear()
        for hit in hits:
            self.results.addItem(self._hit(hit))
        if not hits:
            self.results.addItem(_item("No memory matches."))

    def _hit(self, hit: MemoryHit) -> QListWidgetItem:
        where = hit.space or ROOT_MEMORY
        text = f"{hit.text}\n    {where} · {hit.tier} · {hit.date or 'no date'} · {hit.path}"
        return _item(text, (hit.id, hit.text, None), f"id {hit.id}, score {hit.score:.2f}")

    def reindex(self) -> None:
        """Rebuild the index from the files (`cairn memory reindex`)."""
        if self.index is None:
            return
        index = self.index
        self.reindex_button.setEnabled(False)

        def produce(cancel: CancelToken) -> Iterable[object]:
            yield f"Indexed {index.rebuild():,} memory items from the files."

        def done(error: object) -> None:
            self.reindex_button.setEnabled(True)
            self._decided(error)

        self._start(produce, lambda text: self.message.setText(str(text)), done)
