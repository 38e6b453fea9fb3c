"""Tasks view: ask for a task, watch it run, answer what it asks, re-open past tasks.

The composer picks a space, skill and operator and runs the request with the same runner
`cairn run` builds (`cairn.runtime.build_runner`, approvals asked), on an `EventWorker`: the
loop and the model calls never touch the UI thread. Its events arrive here one by one and
are drawn by a `Transcript` from their trace records, while the worker writes the same
trace file the CLI does; the past-tasks list reads those files, and re-opening one draws it
read-only in a second transcript. Approval, plan and question cards answer the request
objects the loop thread is waiting on. Stop cancels the run's token (the engine stops at
its next token) and denies any request still waiting, so the loop ends at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.context import AppContext
from cairn.app.views.task_widgets import Transcript
from cairn.core.engine import CancelToken
from cairn.core.tasks.approvals import ApprovalRequest

NONE = "—"  # the pickers' "no choice" entry
_MARKS = {
    "finished": "✔",
    "failed": "✘",
    "cancelled": "■",
    "stopped": "✘",
    "running": "…",
    "unfinished": "?",
}


class TasksView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.worker: EventWorker | None = None  # the running task
        self._reader: EventWorker | None = None  # a past task or the list being read
        self._lister: EventWorker | None = None
        self._list_again = False

        # -- composer -------------------------------------------------------------------------
        self.space = self._picker("Space")
        self.space.currentIndexChanged.connect(self._fill_skills)
        self.skill = self._picker("Skill")
        self.operator = self._picker("Operator")
        self.request = QPlainTextEdit()
        self.request.setAccessibleName("Task request")
        self.request.setPlaceholderText("What should Cairn do? (Ctrl+Enter runs it)")
        self.request.setFixedHeight(80)
        self.run_button = QPushButton("Run")
        self.run_button.setAccessibleName("Run task")
        self.run_button.clicked.connect(self.run_task)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop task")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.status = QLabel("Loading the workspace …")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.status.setAccessibleName("Task status")
        self.status.setWordWrap(True)
        for key in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.run_task)

        # -- output: the running (or last) task, and a re-opened past one ---------------------
        self.live = Transcript(
            "Task output", allow_always=self._allow_always, change=self._change, where=self._where
        )
        # No "lands in" for a past task: the workspace's spaces are today's, not the task's.
        self.past = Transcript("Past task output")
        self.output = QStackedWidget()
        self.output.addWidget(self.live)
        self.output.addWidget(self.past)
        self.back_button = QPushButton("Back to the current task")
        self.back_button.setAccessibleName("Back to the current task")
        self.back_button.clicked.connect(self.show_current)
        self.back_button.hide()
        self.viewing = QLabel("")
        self.viewing.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.viewing.setAccessibleName("Shown task")

        # -- past tasks -------------------------------------------------------------------------
        self.filter = QLineEdit()
        self.filter.setAccessibleName("Search past tasks")
        self.filter.setPlaceholderText("Search past tasks")
        self.filter.textChanged.connect(self._apply_filter)
        self.history = QListWidget()
        self.history.setAccessibleName("Past tasks")
        self.history.setWordWrap(True)
        self.history.itemActivated.connect(self._open_item)
        self.history.itemClicked.connect(self._open_item)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh past tasks")
        self.refresh_button.clicked.connect(self.refresh_history)

        self._layout()
        self._set_enabled(False)
        if context.ready:
            self._loaded()
        context.loaded.connect(self._loaded)
        context.load_failed.connect(self._load_failed)
        context.changed.connect(self._workspace_changed)

    def _picker(self, name: str) -> QComboBox:
        box = QComboBox()
        box.setAccessibleName(name)
        box.setMinimumWidth(140)
        return box

    def _layout(self) -> None:
        pickers = QHBoxLayout()
        for label, box in (
            ("Space", self.space),
            ("Skill", self.skill),
            ("Operator", self.operator),
        ):
            pickers.addWidget(QLabel(label))
            pickers.addWidget(box)
        pickers.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        top = QHBoxLayout()
        top.addWidget(self.viewing, 1)
        top.addWidget(self.back_button)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.output, 1)
        column.addLayout(pickers)
        column.addWidget(self.request)
        column.addLayout(buttons)
        left = QWidget()
        side = QVBoxLayout(left)
        side.setContentsMargins(0, 0, 0, 0)
        heading = QHBoxLayout()
        caption = QLabel("Past tasks")
        caption.setAccessibleName("Past tasks heading")
        heading.addWidget(caption, 1)
        heading.addWidget(self.refresh_button)
        side.addLayout(heading)
        side.addWidget(self.filter)
        side.addWidget(self.history, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([280, 820])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

    # -- the workspace ---------------------------------------------------------------------

    def _loaded(self) -> None:
        self._fill_spaces()
        self._set_enabled(True)
        self.status.setText("Ready")
        self.refresh_history()

    def _load_failed(self, why: str) -> None:
        self.status.setText(f"The workspace could not be read: {why}")

    def _workspace_changed(self, events: object) -> None:
        self._fill_spaces()

    def _fill_spaces(self) -> None:
        if self.context.model is None:
            return
        names = sorted(self.context.model.workspace.spaces)
        self._refill(self.space, names)
        self._fill_skills()

    def _fill_skills(self) -> None:
        if self.context.model is None:
            return
        workspace = self.context.model.workspace
        space = self._choice(self.space)
        self._refill(self.skill, sorted(workspace.skills_for(space)))
        self._refill(self.operator, sorted(workspace.operators_for(space)))

    @staticmethod
    def _refill(box: QComboBox, names: list[str]) -> None:
        chosen = box.currentText()
        box.blockSignals(True)
        box.clear()
        box.addItems([NONE, *names])
        box.setCurrentIndex(max(box.findText(chosen), 0))
        box.blockSignals(False)

    @staticmethod
    def _choice(box: QComboBox) -> str | None:
        text = box.currentText()
        return None if not text or text == NONE else text

    def _set_enabled(self, ready: bool) -> None:
        running = self.worker is not None
        for widget in (self.space, self.skill, self.operator, self.request):
            widget.setEnabled(ready and not running)
        self.run_button.setEnabled(ready and not running)
        self.stop_button.setEnabled(running)

    # -- running a task --------------------------------------------------------------------

    def new_task(self) -> None:
        """Ctrl+N: an empty composer, focused (the last task's output stays until Run)."""
        self.request.clear()
        self.show_current()
        self.request.setFocus()

    def search(self) -> None:
        """Ctrl+F: search the past tasks."""
        self.filter.setFocus()
        self.filter.selectAll()

    def run_task(self) -> bool:
        """Run what the composer says; False when there is nothing to run (or one runs)."""
        text = self.request.toPlainText().strip()
        model = self.context.model
        if not text or model is None or self.worker is not None:
            return False
        from cairn.core.tasks.options import TaskOptions

        options = TaskOptions(
            space=self._choice(self.space),
            skill=self._choice(self.skill),
            operator=self._choice(self.operator),
            approvals="ask",
        )
        root = self.context.root

        def produce(cancel: CancelToken) -> Iterator[object]:
            # On the worker thread: building the runner opens the memory index and may
            # load models; the trace is written as `cairn run` writes it.
            from cairn.infra.trace import TraceWriter
            from cairn.runtime import build_runner

            runner, _ = build_runner(model, root)
            with TraceWriter(root, runner.task) as trace:
                trace.open()
                for event in runner.run(text, options, cancel):
                    trace.record(event)
                    yield event

        self.live.clear()
        self.show_current()
        self.worker = EventWorker(produce, self)
        self.worker.item.connect(self._live_event)
        self.worker.finished.connect(self._task_done)
        self._set_enabled(True)
        self.status.setText("Running …")
        self.worker.start()
        return True

    def _live_event(self, event: object) -> None:
        from cairn.infra.redaction import REDACTOR
        from cairn.infra.trace import event_data

        record = event_data(event)  # streamed text too: {"event": "text_delta", "text": …}
        if record is None:
            return
        # Shown as a re-opened trace shows it: secrets redacted (a key a model read from a
        # file, in a tool's arguments or its result). The request object stays whole for
        # the card that answers it.
        record = REDACTOR.redact_data(record)
        self.live.show_event(record, event)
        name = record["event"]
        if name == "task_started" and self.output.currentWidget() is self.live:
            self.viewing.setText(f"Task {self.live.task}")
        if name in ("approval_needed", "plan_approval_needed"):
            self.status.setText("Waiting for your decision")
        elif name == "question_asked":
            self.status.setText("The agent asks you something")
        elif name in ("approval_decided", "step_started", "tool_result"):
            self.status.setText("Running …")

    def _task_done(self, error: object) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        if error is not None:  # the runner could not be built, or the loop broke
            self.live.show_event({"event": "failed", "message": str(error)})
        self.live.release("the task ended")
        self.status.setText(
            {
                "finished": "Done",
                "failed": "Failed",
                "cancelled": "Cancelled",
            }.get(self.live.status, self.live.status.capitalize() or "Ended")
        )
        self._set_enabled(self.context.ready)
        self.refresh_history()

    def stop(self) -> None:
        """Stop the running task now: the engine at its next token, any waiting card denied."""
        if self.worker is None:
            return
        self.worker.cancel()
        self.live.release("cancelled")
        self.status.setText("Stopping …")
        self.stop_button.setEnabled(False)

    # -- what the cards need ------------------------------------------------------------

    def _allow_always(self, request: ApprovalRequest) -> str:
        from cairn.core.tasks.allow_rule import always_allow

        if self.context.model is None:
            raise RuntimeError("the workspace is not loaded")
        stamp = datetime.now().astimezone().date().isoformat()
        added = always_allow(
            self.context.model, request.tool, request.path, comment=f"always allowed {stamp}"
        )
        return added.describe()

    def _change(self, request: ApprovalRequest) -> list[str]:
        from cairn.core.tasks.change import pending_change

        if self.context.model is None:
            return []
        return pending_change(self.context.model, request.tool, request.path, request.arguments)

    def _where(self, path: str | None) -> str:
        space = self.context.model.workspace.space_at(path) if self.context.model and path else None
        if space is None:
            return "outside every space"
        return f"space '{space.name}' ({space.scope} scope)"

    # -- past tasks ------------------------------------------------------------------------

    def refresh_history(self) -> None:
        if self._lister is not None:
            self._list_again = True  # a task ended while the list was being read
            return
        self._list_again = False
        from cairn.infra.trace import list_traces

        root = self.context.root
        self._history_items: list[object] = []
        self._lister = EventWorker(lambda cancel: list_traces(root), self)
        self._lister.item.connect(self._history_items.append)
        self._lister.finished.connect(self._history_read)
        self._lister.start()

    def _history_read(self, error: object) -> None:
        from cairn.infra.trace import TraceSummary

        lister, self._lister = self._lister, None
        if lister is not None:
            lister.wait()
            lister.deleteLater()
        summaries = [s for s in self._history_items if isinstance(s, TraceSummary)]
        summaries.sort(key=lambda s: (s.started, s.task), reverse=True)  # newest first
        self.history.clear()
        for summary in summaries:
            cost = f" · ${summary.cost_usd:.4f}" if summary.cost_usd is not None else ""
            when = summary.started[:16].replace("T", " ")
            first = next((line for line in summary.request.splitlines() if line.strip()), "")
            title = first if len(first) <= 80 else f"{first[:79]}…"
            item = QListWidgetItem(
                f"{_MARKS.get(summary.status, '?')} {summary.status}{cost} · {when}\n"
                f"{title or summary.task}"
            )
            item.setData(Qt.ItemDataRole.UserRole, str(summary.path))
            # The whole request (searched by the filter too), then the task's id.
            item.setToolTip(f"{summary.request}\n\n{summary.task}".strip())
            self.history.addItem(item)
        if error is not None:
            self.history.addItem(f"Could not read the traces: {error}")
        elif not summaries:
            self.history.addItem("No past tasks yet: each task you run is listed here.")
        self._apply_filter()
        if self._list_again:
            self.refresh_history()

    def _apply_filter(self) -> None:
        words = self.filter.text().lower().split()
        for row in range(self.history.count()):
            item = self.history.item(row)
            text = f"{item.text()} {item.toolTip()}".lower()
            item.setHidden(not all(word in text for word in words))

    def _open_item(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.open_trace(Path(str(path)))

    def open_trace(self, path: Path) -> None:
        """Re-open a past task: its trace drawn read-only in the same widgets."""
        from cairn.infra.trace import read_trace

        previous, self._reader = self._reader, None
        if previous is not None:
            # Its queued records must not land in the trace opened now.
            previous.item.disconnect()
            previous.finished.disconnect()
            previous.wait()
            previous.deleteLater()
        self.past.clear()
        self.output.setCurrentWidget(self.past)
        self.viewing.setText(f"Past task {path.stem} (read-only)")
        self.back_button.show()
        reader = EventWorker(lambda cancel: read_trace(path), self)
        reader.item.connect(self.past.show_event)
        reader.finished.connect(lambda error: self._trace_read(reader, error))
        self._reader = reader
        reader.start()

    def _trace_read(self, reader: EventWorker, error: object) -> None:
        if self._reader is reader:
            self._reader = None
        reader.wait()
        reader.deleteLater()
        if error is not None:
            self.past.show_event(
                {"event": "failed", "message": f"the trace cannot be read: {error}"}
            )

    def show_current(self) -> None:
        self.output.setCurrentWidget(self.live)
        self.viewing.setText(f"Task {self.live.task}" if self.live.task else "")
        self.back_button.hide()

    # -- closing ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the running task and join every worker (the window is closing)."""
        if self.worker is not None:
            self.worker.cancel()
            self.live.release("the window closed")
        for worker in (self.worker, self._reader, self._lister):
            if worker is not None:
                worker.wait()
