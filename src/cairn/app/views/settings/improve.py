"""Improve: run the eval suite, run an improvement cycle, and decide on its proposals.

The same core as `cairn eval` / `cairn improve` (docs/improving.md): evals run on copies of
the workspace, a cycle only ever leaves proposals waiting, and nothing in the workspace
changes until a person presses Accept here (or runs `cairn improve accept`). Applied
changes are listed with Roll back, which restores the file's exact earlier bytes. Runs
take minutes on a small model: they go on a worker, report each case as it finishes,
and stop on Stop.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QPlainTextEdit,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.views.settings.common import Jobs, Report, push_button, said, text_label
from cairn.core.engine import CancelToken
from cairn.core.errors import CairnError


class ImprovePanel(QWidget):
    def __init__(self, root: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root = root
        self.jobs = Jobs(self)
        self.current: EventWorker | None = None
        self.eval_button = push_button("Run evals", self.run_evals)
        self.cycle_button = push_button("Look for improvements", self.run_cycle)
        self.stop_button = push_button("Stop", self.stop)
        self.stop_button.setEnabled(False)
        self.progress = text_label("Improve progress")
        self.message = text_label(
            "Improve message",
            "Evals run on copies of this workspace; a cycle proposes edits, tests them on "
            "held-out cases and keeps them here for you to decide. Nothing changes until "
            "you accept.",
        )
        self.proposals = QTreeWidget()
        self.proposals.setAccessibleName("Waiting proposals")
        self.proposals.setHeaderLabels(["Proposal", "Change", "Held-out", "Addresses"])
        self.proposals.setRootIsDecorated(False)
        self.proposals.currentItemChanged.connect(self._proposal_chosen)
        self.diff = QPlainTextEdit()
        self.diff.setAccessibleName("Proposal diff")
        self.diff.setReadOnly(True)
        self.diff.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.diff.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.accept_button = push_button("Accept", self.accept_chosen)
        self.reject_button = push_button("Reject", self.reject_chosen)
        self.applied = QTreeWidget()
        self.applied.setAccessibleName("Applied changes")
        self.applied.setHeaderLabels(["Change", "File", "Applied", "State"])
        self.applied.setRootIsDecorated(False)
        self.rollback_button = push_button("Roll back", self.rollback_chosen)

        runs = QHBoxLayout()
        for button in (self.eval_button, self.cycle_button, self.stop_button):
            runs.addWidget(button)
        runs.addStretch(1)
        waiting = QGroupBox("Waiting for you")
        waiting_layout = QVBoxLayout(waiting)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.proposals)
        split.addWidget(self.diff)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)  # the diff is what a person reads
        waiting_layout.addWidget(split, 1)
        decide = QHBoxLayout()
        decide.addWidget(self.accept_button)
        decide.addWidget(self.reject_button)
        decide.addStretch(1)
        waiting_layout.addLayout(decide)
        done = QGroupBox("Applied (harness changelog)")
        done_layout = QVBoxLayout(done)
        done_layout.addWidget(self.applied, 1)
        undo = QHBoxLayout()
        undo.addWidget(self.rollback_button)
        undo.addStretch(1)
        done_layout.addLayout(undo)
        layout = QVBoxLayout(self)
        layout.addLayout(runs)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(waiting, 2)
        layout.addWidget(done, 1)
        self.reload()

    # --- lists -------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the waiting proposals and applied changes (small files under `.cairn/`)."""
        from cairn.improve import changes

        self.proposals.clear()
        for pending in changes.list_pending(self.root):
            figures = pending.figures
            rates = " → ".join(
                f"{changes.rate(figures, key):.0%}" for key in ("before_rate", "after_rate")
            )
            item = QTreeWidgetItem(
                [pending.proposal.id, pending.proposal.summary, rates, pending.proposal.pattern]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, pending)
            self.proposals.addTopLevelItem(item)
        self.applied.clear()
        for record in reversed(changes.applied(self.root)):
            state = "rolled back" if record.get("rolled_back") else "applied"
            row = [str(record["id"]), str(record["path"]), str(record["applied"])[:16], state]
            entry = QTreeWidgetItem(row)
            entry.setData(0, Qt.ItemDataRole.UserRole, record["key"])
            self.applied.addTopLevelItem(entry)
        first = self.proposals.topLevelItem(0)
        for column in range(self.proposals.columnCount()):
            self.proposals.resizeColumnToContents(column)
        if first is not None:
            self.proposals.setCurrentItem(first)
        else:
            self.diff.setPlainText("")
        self._enable()

    def _proposal_chosen(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            self.diff.setPlainText("")
            return
        pending = item.data(0, Qt.ItemDataRole.UserRole)
        from cairn.improve.changes import describe

        self.diff.setPlainText(describe(self.root, pending))
        self._enable()

    def _enable(self) -> None:
        running = self.current is not None and self.current.running
        chosen = self.proposals.currentItem() is not None
        self.eval_button.setEnabled(not running)
        self.cycle_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.accept_button.setEnabled(chosen and not running)
        self.reject_button.setEnabled(chosen and not running)
        live = [self.applied.topLevelItem(i) for i in range(self.applied.topLevelItemCount())]
        self.rollback_button.setEnabled(
            not running and any(i is not None and i.text(3) == "applied" for i in live)
        )

    # --- runs --------------------------------------------------------------------------

    def run_evals(self) -> EventWorker:
        root = self.root

        def work(cancel: CancelToken, report: Report) -> list[object]:
            from cairn.improve.runner import run_cases, save
            from cairn.improve.suite import load_suite

            cases, problems = load_suite(root)
            for problem in problems:
                report(("progress", problem.format()))
            if not cases:
                raise CairnError("no eval case could be read: see evals/ and docs/improving.md")
            result = run_cases(
                root, cases, progress=lambda line: report(("progress", line)), cancel=cancel
            )
            save(root, result)
            return [("eval", result)]

        return self._start(work, "Running the eval suite…")

    def run_cycle(self) -> EventWorker:
        root = self.root

        def work(cancel: CancelToken, report: Report) -> list[object]:
            from cairn.improve.cycle import improve_cycle
            from cairn.improve.suite import load_suite

            cases, problems = load_suite(root)
            for problem in problems:
                report(("progress", problem.format()))
            progress = lambda line: report(("progress", line))  # noqa: E731
            return [("cycle", improve_cycle(root, cases, progress=progress, cancel=cancel))]

        return self._start(work, "Looking for improvements: evals first, then proposals…")

    def _start(self, work: Any, text: str) -> EventWorker:
        self.message.setText(text)
        self.progress.setText("")
        self.current = self.jobs.start(work, self._item, self._done)
        self._enable()
        return self.current

    def stop(self) -> None:
        if self.current is not None and self.current.running:
            self.current.cancel()
            self.message.setText("Stopping after the case that is running…")

    def _item(self, item: Any) -> None:
        kind, value = item
        if kind == "progress":
            self.progress.setText(str(value))
        elif kind == "eval":
            result = value
            passed = sum(r.passed for r in result.results)
            self.message.setText(
                f"Evals: {result.pass_rate:.0%} passed ({passed} of {len(result.results)} "
                f"runs) · {result.tokens:,} tokens · ${result.cost_usd:.4f} · "
                f"{result.seconds:.0f} s. `cairn eval` shows each check."
            )
        elif kind == "cycle":
            report = value
            note = f" {report.note}." if report.note else ""
            self.message.setText(
                f"{len(report.weaknesses)} weaknesses found, {len(report.candidates)} edits "
                f"tried, {len(report.kept)} kept for you.{note} Held-out pass rate "
                f"{report.held_out_before:.0%} → {report.held_out_best:.0%} · "
                f"{report.tokens:,} tokens · {report.seconds:.0f} s."
            )

    def _done(self, error: str | None) -> None:
        if error is not None:
            self.message.setText(f"Stopped: {said(error)}")
        self.current = None
        self.reload()

    # --- decisions ---------------------------------------------------------------------

    def _chosen(self) -> Any:
        item = self.proposals.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def accept_chosen(self) -> None:
        from cairn.improve import changes

        pending = self._chosen()
        if pending is None:
            return
        try:
            record = changes.accept(self.root, pending.proposal.id)
        except (CairnError, OSError) as exc:
            self.message.setText(str(exc))
        else:
            self.message.setText(
                f"Applied {record['id']} to {record['path']}. Roll back below if it does not "
                "serve you."
            )
        self.reload()

    def reject_chosen(self) -> None:
        from cairn.improve import changes

        pending = self._chosen()
        if pending is None:
            return
        try:
            changes.reject(self.root, pending.proposal.id)
        except (CairnError, OSError) as exc:
            self.message.setText(str(exc))
        else:
            self.message.setText(f"Set {pending.proposal.id} aside; nothing changed.")
        self.reload()

    def rollback_chosen(self) -> None:
        from cairn.improve import changes

        item = self.applied.currentItem()
        if item is None or item.text(3) != "applied":
            self.message.setText("Choose an applied change to roll back.")
            return
        try:
            record = changes.rollback(self.root, item.data(0, Qt.ItemDataRole.UserRole))
        except (CairnError, OSError) as exc:
            self.message.setText(str(exc))
        else:
            self.message.setText(f"Rolled back {record['id']}: {record['path']} is as it was.")
        self.reload()

    def shutdown(self) -> None:
        self.stop()
        self.jobs.shutdown()
