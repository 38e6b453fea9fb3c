"""Models: the ones agents.md names, a GGUF added by file dialog, a recommended one pulled
with progress, and a one-line try."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.views.settings.common import Jobs, Report, push_button, said, text_label
from cairn.core.engine import CancelToken
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.schema import AgentsPolicy


class ModelsPanel(QWidget):
    """The models agents.md names; add a GGUF file, pull one, try one with a prompt."""

    policy_written = Signal(object)  # (sha256 before, sha256 after) of agents.md
    pull_progress = Signal(object, object)  # bytes on disk, total (past a C++ int's range)
    answered = Signal(str)  # the summary line of a finished try

    def __init__(
        self,
        root: Path,
        workspace: Callable[[], Workspace | None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from cairn.infra.model_catalogue import CATALOGUE
        from cairn.infra.model_try import DEFAULT_PROMPT

        self.root = root
        self.workspace = workspace
        self.jobs = Jobs(self)
        self.pulling: EventWorker | None = None
        self.trying: EventWorker | None = None
        self._usage: Any = None  # the last try's token count and cost
        self._chosen = ""  # the model answering it

        self.models = QTreeWidget()
        self.models.setAccessibleName("Configured models")
        self.models.setHeaderLabels(["Name", "Engine", "File or model id", "Context"])
        self.models.setRootIsDecorated(False)
        self.add_button = push_button("Add a GGUF file…", self.choose_gguf)
        self.message = text_label("Models message")

        self.catalogue = QComboBox()
        self.catalogue.setAccessibleName("Recommended model")
        for entry in CATALOGUE:
            self.catalogue.addItem(f"{entry.name} — {entry.title}: {entry.good_for}", entry.name)
        self.hub_file = QLineEdit()
        self.hub_file.setAccessibleName("Hub file to pull")
        self.hub_file.setPlaceholderText("or a GGUF file on the Hub: REPO/FILE.gguf")
        self.pull_button = push_button("Pull", self.pull, "Pull model")
        self.cancel_pull_button = push_button("Cancel", self.cancel_pull, "Cancel pull")
        self.cancel_pull_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Pull progress")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.pull_status = text_label("Pull status")

        self.try_model_box = QComboBox()
        self.try_model_box.setAccessibleName("Model to try")
        self.prompt = QLineEdit(DEFAULT_PROMPT)
        self.prompt.setAccessibleName("Prompt")
        self.prompt.returnPressed.connect(self.try_model)
        self.try_button = push_button("Try", self.try_model, "Try model")
        self.cancel_try_button = push_button("Cancel", self.cancel_try, "Cancel try")
        self.cancel_try_button.setEnabled(False)
        self.answer = QPlainTextEdit()
        self.answer.setAccessibleName("Answer")
        self.answer.setReadOnly(True)
        self.answer.setMaximumHeight(110)
        self.summary = text_label("Answer summary")

        pull_box = QGroupBox("Pull a model")
        pull = QGridLayout(pull_box)
        pull.addWidget(self.catalogue, 0, 0, 1, 2)
        pull.addWidget(self.hub_file, 1, 0, 1, 2)
        pull.addWidget(self.progress, 2, 0)
        row = QHBoxLayout()
        row.addWidget(self.pull_button)
        row.addWidget(self.cancel_pull_button)
        pull.addLayout(row, 2, 1)
        pull.addWidget(self.pull_status, 3, 0, 1, 2)
        try_box = QGroupBox("Try a model")
        tries = QGridLayout(try_box)
        tries.addWidget(self.try_model_box, 0, 0)
        tries.addWidget(self.prompt, 0, 1)
        row = QHBoxLayout()
        row.addWidget(self.try_button)
        row.addWidget(self.cancel_try_button)
        tries.addLayout(row, 0, 2)
        tries.addWidget(self.answer, 1, 0, 1, 3)
        tries.addWidget(self.summary, 2, 0, 1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.models, 1)
        top = QHBoxLayout()
        top.addWidget(self.add_button)
        top.addWidget(self.message, 1)
        layout.addLayout(top)
        layout.addWidget(pull_box)
        layout.addWidget(try_box)

    def show_policy(self, policy: AgentsPolicy | None) -> None:
        self.models.clear()
        chosen = self.try_model_box.currentText()
        self.try_model_box.clear()
        for name, spec in (policy.models if policy else {}).items():
            target = spec.path if spec.engine == "local" else spec.model
            context = f"{spec.context:,}" if spec.context else "-"
            item = QTreeWidgetItem([name, spec.engine, target or "", context])
            self.models.addTopLevelItem(item)
            self.try_model_box.addItem(name)
        for column in range(3):
            self.models.resizeColumnToContents(column)
        if chosen:
            self.try_model_box.setCurrentText(chosen)

    # adding a file ----------------------------------------------------------------------------

    def choose_gguf(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Add a GGUF model", str(Path.home()), "GGUF models (*.gguf)"
        )
        if chosen:
            self.add_gguf(Path(chosen))

    def add_gguf(self, path: Path) -> EventWorker:
        """Name the file in agents.md (what the file dialog's choice feeds)."""
        from cairn.infra.model_pull import add_local_model

        self.message.setText(f"Reading {path.name}…")
        self.add_button.setEnabled(False)

        def work(cancel: CancelToken, report: Report) -> list[object]:
            return [add_local_model(self.root, path)]

        return self.jobs.start(work, self._added, self._add_done)

    def _added(self, result: Any) -> None:
        verb = f"Added {result.name} to" if result.added else f"{result.name} is already in"
        self.message.setText(" ".join([f"{verb} {result.policy_file.name}.", *result.notes]))
        if result.added:
            self.policy_written.emit(result.policy_hashes)
        self.try_model_box.setCurrentText(result.name)

    def _add_done(self, error: str | None) -> None:
        self.add_button.setEnabled(True)
        if error:
            self.message.setText(f"Not added: {said(error)}")

    # pulling ----------------------------------------------------------------------------------

    def pull(self, spec: str | None = None) -> EventWorker | None:
        from cairn.infra.model_pull import PullCancelled, pull

        spec = spec or self.hub_file.text().strip() or self.catalogue.currentData()
        if not spec or self.pulling is not None:
            return None
        self.progress.setRange(0, 0)  # busy until the Hub says the size
        self.progress.show()
        self.pull_status.setText(f"Asking the Hub about {spec}…")
        self.pull_button.setEnabled(False)
        self.cancel_pull_button.setEnabled(True)

        def work(cancel: CancelToken, report: Report) -> list[object]:
            def progress(done: int, total: int) -> None:
                if cancel.cancelled:
                    raise PullCancelled("stopped; the next pull of it continues where it stopped")
                report(("progress", done, total))

            def log(line: str) -> None:
                report(("log", line))

            return [pull(spec, self.root, log=log, progress=progress)]

        self.pulling = self.jobs.start(work, self._pull_item, self._pull_done)
        return self.pulling

    def cancel_pull(self) -> None:
        if self.pulling is not None:
            self.pulling.cancel()
            self.pull_status.setText("Stopping the pull…")

    def _pull_item(self, item: Any) -> None:
        from cairn.infra.model_pull import human_bytes

        if isinstance(item, tuple) and item[0] == "progress":
            _, done, total = item
            scale = max(1, total // 1_000_000)  # a QProgressBar counts in ints
            self.progress.setRange(0, max(1, total // scale))
            self.progress.setValue(done // scale)
            self.progress.setFormat(f"{human_bytes(done)} of {human_bytes(total)}")
            self.pull_progress.emit(done, total)
        elif isinstance(item, tuple) and item[0] == "log":
            self.pull_status.setText(str(item[1]))
        else:  # the PullResult
            how = "added to" if item.added else "already in"
            where = item.policy_file.name if item.policy_file else "no agents.md"
            self.pull_status.setText(
                f"{item.name}: {item.path.name}, sha256 checked; {how} {where}. "
                + " ".join(item.notes)
            )
            if item.added and item.policy_hashes:
                self.policy_written.emit(item.policy_hashes)
            self.try_model_box.setCurrentText(item.name)

    def _pull_done(self, error: str | None) -> None:
        self.pulling = None
        self.pull_button.setEnabled(True)
        self.cancel_pull_button.setEnabled(False)
        self.progress.hide()
        if error:
            self.pull_status.setText(f"Not pulled: {said(error)}")

    # trying -----------------------------------------------------------------------------------

    def try_model(self, name: str | None = None, prompt: str | None = None) -> EventWorker | None:
        from cairn.infra.model_try import try_model

        name = name or self.try_model_box.currentText()
        prompt = (prompt or self.prompt.text()).strip()
        workspace = self.workspace()  # None: read from disk on the worker
        if not name or not prompt or self.trying is not None:
            return None
        self.answer.clear()
        self.summary.setText(f"Asking {name}…")
        self.try_button.setEnabled(False)
        self.cancel_try_button.setEnabled(True)
        self._usage, self._chosen = None, name

        def work(cancel: CancelToken, report: Report) -> Iterable[object]:
            return try_model(self.root, workspace, name, prompt, cancel)

        self.trying = self.jobs.start(work, self._try_item, self._try_done)
        return self.trying

    def cancel_try(self) -> None:
        if self.trying is not None:
            self.trying.cancel()

    def _try_item(self, event: object) -> None:
        from cairn.core.engine import TextDelta, Usage
        from cairn.core.routing.dispatch import FellBack, Routed

        if isinstance(event, TextDelta):
            # At the end, wherever the person clicked into the answer meanwhile.
            cursor = self.answer.textCursor()
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(event.text)
        elif isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Routed) and event.decision.chosen:
            self._chosen = event.decision.chosen
            self.summary.setText(f"{self._chosen} is answering…")
        elif isinstance(event, FellBack):
            self.answer.appendPlainText(f"[{event.model} failed: {event.message}; next model]")

    def _try_done(self, error: str | None) -> None:
        self.trying = None
        self.try_button.setEnabled(True)
        self.cancel_try_button.setEnabled(False)
        if error:
            self.summary.setText(f"{self._chosen} could not answer: {said(error)}")
            return
        usage = self._usage
        if usage is None:
            line = f"{self._chosen}: stopped before an answer"
        else:
            cost = "cost unknown" if usage.cost_usd is None else f"${usage.cost_usd:.6f}"
            line = (
                f"{self._chosen}: {usage.input_tokens} tokens in, {usage.output_tokens} out, {cost}"
            )
        self.summary.setText(line)
        self.answered.emit(line)

    def shutdown(self) -> None:
        self.jobs.shutdown()
