"""Automations view: each automation with its schedule, state, next and last run; Run now,
Pause, Resume and its run history; and the approvals its runs queued, as cards.

Everything here calls the code `cairn automations` and `cairn approvals` call
(`cairn.scheduler.control`, `cairn.scheduler.approvals`). Run now goes to the embedded
scheduler when the app runs automations (so it shares its run pool and its notices), and
otherwise runs on a worker thread exactly as `cairn automations run` does. The table is
re-read on workspace changes, when a run ends, and every few seconds (cheap reads of the
model, the run database and the queue folder), so runs of a `cairn serve` next to the app
show up too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.context import AppContext
from cairn.app.views.approval_card import ApprovalCard, plain_label
from cairn.app.views.tables import cell, table
from cairn.core.engine import CancelToken
from cairn.core.errors import CairnError

if TYPE_CHECKING:
    from cairn.infra.runs import Refusal, Run, RunStore
    from cairn.scheduler.approvals import Decision, PendingApproval
    from cairn.scheduler.control import AutomationRow

REFRESH_MS = 5_000
HISTORY_LIMIT = 50
COLUMNS = ("Name", "Schedule", "State", "Next run", "Last run", "Last cost", "Catch-up")
HISTORY_COLUMNS = ("When", "Trigger", "Status", "Tokens", "Cost", "Trace", "Reason")


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "—"


def _state(row: AutomationRow) -> str:
    if not row.enabled:
        return "paused"
    if row.problem:
        return f"held: {row.problem}"
    return "running" if row.running else "enabled"


def _stoppable(scheduler: object, name: str) -> bool:
    """The embedded scheduler runs `name` now (a run of another process cannot be
    stopped from this window)."""
    states = getattr(scheduler, "states", None)
    return states is not None and any(s.name == name and s.running for s in states())


def _outcome(result: Run | Refusal) -> str:
    from cairn.infra.runs import Refusal
    from cairn.scheduler.control import trace_path

    if isinstance(result, Refusal):
        return f"Not run: {result.message}"
    mark = "✔" if result.status == "done" else "✘"
    parts = [
        f"{mark} {result.automation}: {result.status}",
        f"{result.tokens:,} tokens",
        f"${result.cost_usd:.6f}",
        f"run {result.id}",
    ]
    if result.trace:
        parts.append(f"trace: {trace_path(result)}")
    return " · ".join(parts) + (f"\n{result.reason}" if result.reason else "")


@dataclass(frozen=True)
class _Snapshot:
    """What one refresh read, off the UI thread."""

    rows: list[AutomationRow]
    history: tuple[str, list[Run]] | None  # the shown automation's runs
    pending: list[PendingApproval]
    expired: list[Any]  # approvals set aside as expired by this read


class AutomationsView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.rows: dict[str, AutomationRow] = {}
        self.history_of: str | None = None  # the automation whose runs are listed
        self._history_shown: tuple[str, list[Run]] | None = None
        self.cards: dict[str, tuple[PendingApproval, ApprovalCard]] = {}
        self._store: RunStore | None = None
        self._store_lock = threading.Lock()
        self._refreshing: EventWorker | None = None  # the refresh worker, while it runs
        self._again = False  # a refresh was asked for while one ran
        self._workers: set[EventWorker] = set()
        self._starting: set[str] = set()  # run-now asked here and not finished yet
        self._own_runs: dict[str, EventWorker] = {}  # run-now on a worker (no scheduler)
        self.progress: dict[str, str] = {}  # the latest line of each run in this window
        self._closed = False

        self.banner = plain_label("Loading the workspace …", "Automations status")
        self.table = table(COLUMNS, "Automations", single_row=True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.cellDoubleClicked.connect(lambda _row, _col: self.show_history())

        self.run_button = self._button("Run now", "Run the selected automation now", self.run_now)
        self.stop_button = self._button("Stop", "Stop the selected automation's run", self.stop)
        self.pause_button = self._button("Pause", "Pause the selected automation", self.pause)
        self.resume_button = self._button("Resume", "Resume the selected automation", self.resume)
        self.history_button = self._button(
            "History", "Show the selected automation's runs", self.show_history
        )
        self.message = plain_label("", "Automations message")

        self.history_title = plain_label("Select an automation and press History.", "History of")
        self.history = table(HISTORY_COLUMNS, "Run history")
        self.history.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)

        self.approvals_title = plain_label("Approvals", "Approvals heading")
        font = self.approvals_title.font()
        font.setBold(True)
        self.approvals_title.setFont(font)
        self.approvals_message = plain_label("", "Approvals message")
        self.card_list = QWidget()
        self.card_list.setAccessibleName("Pending approvals")
        self.card_layout = QVBoxLayout(self.card_list)
        self.card_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setAccessibleName("Pending approvals list")
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.card_list)

        top = QWidget()
        column = QVBoxLayout(top)
        column.addWidget(self.banner)
        column.addWidget(self.table, 2)
        buttons = QHBoxLayout()
        for button in (
            self.run_button,
            self.stop_button,
            self.pause_button,
            self.resume_button,
            self.history_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        column.addLayout(buttons)
        column.addWidget(self.message)
        column.addWidget(self.history_title)
        column.addWidget(self.history, 1)
        bottom = QWidget()
        lower = QVBoxLayout(bottom)
        lower.addWidget(self.approvals_title)
        lower.addWidget(self.approvals_message)
        lower.addWidget(scroll, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([480, 320])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        # Workspace events come in bursts (and while the model is locked): one re-read
        # shortly after, on the UI thread's own time.
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(150)
        self._soon.timeout.connect(self.refresh)
        # Bound methods, not lambdas: Qt drops the connections when this view goes.
        context.loaded.connect(self._loaded)
        context.load_failed.connect(self._load_failed)
        context.changed.connect(self._refresh_soon)
        context.scheduler_changed.connect(self._refresh_soon)
        context.notifier.notice.connect(self._refresh_soon)  # a run ended, or was skipped
        context.run_progress.connect(self._progressed)
        self._update_buttons()
        if context.ready:
            self._loaded()

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _refresh_soon(self, *_why: object) -> None:
        if not self._closed:
            self._soon.start()

    def _load_failed(self, why: str) -> None:
        self.banner.setText(f"The workspace could not be read: {why}")

    def _loaded(self) -> None:
        if self._closed:
            return
        self.refresh()
        self.timer.start()

    # -- reading ---------------------------------------------------------------------------

    def store(self) -> RunStore:
        with self._store_lock:  # the refresh worker and the UI thread both ask
            if self._store is None:
                from cairn.infra.runs import RunStore

                self._store = RunStore(self.context.root)
            return self._store

    def idle(self) -> bool:
        """No refresh running or waiting (tests wait for this)."""
        return self._refreshing is None and not self._again

    def refresh(self) -> None:
        """Re-read the automations, the selected history and the approvals queue, on a
        worker: the run database may be busy with a `cairn serve` next to the app, and
        reading the queue sets expired approvals aside (disk work). One at a time; a
        refresh asked for meanwhile follows it."""
        model = self.context.model
        if model is None or self._closed:
            return
        if self._refreshing is not None:
            self._again = True
            return
        self._again = False
        scheduler = self.context.scheduler
        banner = (
            "Automations run on their schedules in this window."
            if scheduler is not None
            else "Automations are off in this window: nothing runs on its schedule here "
            "(`cairn serve` may run them). Run now still works."
        )
        if self.banner.text() != banner:
            self.banner.setText(banner)
        history_of, root, store = self.history_of, self.context.root, self.store

        def produce(cancel: CancelToken) -> Iterable[object]:
            from cairn.infra.approvals import ApprovalQueue
            from cairn.scheduler.approvals import describe
            from cairn.scheduler.control import overview

            runs = store()
            runs.recover()  # runs whose process died show as interrupted, not running
            rows = overview(model.workspace, runs, states=scheduler.states() if scheduler else None)
            history = (
                (history_of, runs.history(history_of, limit=HISTORY_LIMIT)) if history_of else None
            )
            pending, expired = ApprovalQueue(root).read()
            return [_Snapshot(rows, history, [describe(model, r) for r in pending], expired)]

        worker = EventWorker(produce, self)
        worker.item.connect(self._show)
        worker.finished.connect(lambda error: self._refreshed(worker, error))
        self._refreshing = worker
        self._start(worker)

    def _show(self, snapshot: object) -> None:
        if self._closed or not isinstance(snapshot, _Snapshot):
            return
        self._fill(snapshot.rows)
        self._update_buttons()
        if snapshot.history is not None and snapshot.history[0] == self.history_of:
            self._fill_history(*snapshot.history)
        self._show_approvals(snapshot.pending, snapshot.expired)

    def _refreshed(self, worker: EventWorker, error: object) -> None:
        self._forget(worker)
        self._refreshing = None
        if self._closed:
            return
        if error is not None:  # a damaged run database: said, and the view stays up
            self.message.setText(f"The run history cannot be read: {str(error).split(': ', 1)[-1]}")
        if self._again:
            self.refresh()

    def _fill(self, rows: list[AutomationRow]) -> None:
        if rows and rows == list(self.rows.values()) and self.table.rowCount() == len(rows):
            return  # nothing moved: the table, its selection and scroll stay as they are
        chosen = self.selected()
        self.rows = {row.name: row for row in rows}
        self.table.setRowCount(len(rows))
        for number, row in enumerate(rows):
            last = row.last_run
            cells = (
                cell(row.name, row.path),
                cell(f"{row.describe} · {row.timezone}", row.schedule),
                cell(self._state(row), row.problem),
                cell(_when(row.next_run)),
                cell(
                    f"{last.status} · {_when(last.finished_at or last.started_at)}"
                    if last
                    else "never",
                    last.reason if last else None,
                ),
                cell(
                    f"${last.cost_usd:.4f}" if last else "—",
                    f"{last.tokens:,} tokens" if last else None,
                ),
                cell(row.catch_up),
            )
            for index, made in enumerate(cells):
                self.table.setItem(number, index, made)
        if not rows:
            self.message.setText("No automations yet: add one under automations/.")
        if chosen in self.rows:
            self.select(chosen)

    def select(self, name: str) -> None:
        names = list(self.rows)
        if name in names:
            self.table.selectRow(names.index(name))

    def selected(self) -> str | None:
        items = self.table.selectedItems()
        if not items:
            return None
        item = self.table.item(items[0].row(), 0)
        return item.text() if item is not None else None

    def _state(self, row: AutomationRow) -> str:
        line = self.progress.get(row.name)
        if line and (row.running or row.name in self._starting):
            return f"running · {line}"
        return _state(row)

    def _update_buttons(self) -> None:
        row = self.rows.get(self.selected() or "")
        busy = row is not None and (row.running or row.name in self._starting)
        self.run_button.setEnabled(row is not None and not busy)
        self.stop_button.setEnabled(
            row is not None
            and (row.name in self._own_runs or _stoppable(self.context.scheduler, row.name))
        )
        self.pause_button.setEnabled(row is not None and row.enabled)
        self.resume_button.setEnabled(row is not None and not row.enabled)
        self.history_button.setEnabled(row is not None)

    # -- acting ------------------------------------------------------------------------------

    def pause(self) -> None:
        self._set_enabled(False)

    def resume(self) -> None:
        self._set_enabled(True)

    def _set_enabled(self, enabled: bool) -> None:
        name, model = self.selected(), self.context.model
        if name is None or model is None:
            return
        from cairn.scheduler.control import set_enabled

        try:
            done = set_enabled(model, name, enabled=enabled, runs=self.store())
        except CairnError as exc:
            self.message.setText(str(exc))
            return
        word = "resumed" if enabled else "paused"
        self.message.setText(
            f"{done.name} {word} ({done.path}: enabled: {'true' if enabled else 'false'})"
            if done.changed
            else f"{done.name} is already {word}"
        )
        self.refresh()

    def run_now(self) -> None:
        name = self.selected()
        if name is None or name in self._starting:
            return
        scheduler = self.context.scheduler
        produce = (
            _waiting_for(scheduler.run_now(name))
            if scheduler is not None
            else _running(
                self.context.root, name, lambda event: self.context.report_progress(name, event)
            )
        )
        self._starting.add(name)
        self.progress.pop(name, None)
        self.message.setText(f"▶ {name}: running now …")
        worker = EventWorker(produce, self)
        if scheduler is None:
            self._own_runs[name] = worker
        worker.item.connect(lambda result: self.message.setText(_outcome(result)))
        worker.finished.connect(lambda error: self._run_ended(worker, name, error))
        self._start(worker)
        self._update_buttons()

    def stop(self) -> None:
        """Stop the selected automation's run: the task stops at its next token and the
        run is recorded interrupted."""
        name = self.selected()
        if name is None or not self.stop_button.isEnabled():
            return  # nothing of this window's runs there (Ctrl+. reaches here too)
        worker = self._own_runs.get(name)
        if worker is not None:
            worker.cancel()
        elif self.context.scheduler is not None:
            self.context.scheduler.stop_runs(name)
        self.message.setText(f"■ {name}: stopping …")
        self.stop_button.setEnabled(False)

    def _progressed(self, name: str, line: str) -> None:
        if self._closed:
            return
        self.progress[name] = line
        if name in self._starting:
            self.message.setText(f"▶ {name}: {line}")
        row = self.rows.get(name)
        cell = self.table.item(list(self.rows).index(name), 2) if row is not None else None
        if row is not None and cell is not None:
            cell.setText(self._state(row))

    def _run_ended(self, worker: EventWorker, name: str, error: object) -> None:
        self._starting.discard(name)
        self._own_runs.pop(name, None)
        self.progress.pop(name, None)
        self._forget(worker)
        if error is not None:
            self.message.setText(f"{name}: the run could not be finished: {error}")
        if not self._closed:
            self.history_of = name
            self.refresh()

    def show_history(self, name: str | None = None) -> None:
        name = name or self.selected()
        if name is None or self.context.model is None:
            return
        self.history_of = name
        self.history_title.setText(f"Runs of {name} …")
        self.refresh()

    def _fill_history(self, name: str, runs: list[Run]) -> None:
        from cairn.scheduler.control import trace_path

        if (name, runs) == self._history_shown:
            return
        self._history_shown = (name, runs)
        self.history_title.setText(
            f"Runs of {name}, newest first" if runs else f"{name} has no runs yet."
        )
        self.history.setRowCount(len(runs))
        for number, run in enumerate(runs):
            cells = (
                cell(_when(run.started_at), f"slot {_when(run.slot)}"),
                cell(run.trigger),
                cell(run.status),
                cell(f"{run.tokens:,}"),
                cell(f"${run.cost_usd:.4f}"),
                cell(trace_path(run) or "—", run.output_path),
                cell(run.reason or "", run.reason),
            )
            for index, made in enumerate(cells):
                self.history.setItem(number, index, made)

    # -- approvals ---------------------------------------------------------------------------

    def _show_approvals(self, wanted: list[PendingApproval], expired: list[Any]) -> None:
        if expired:
            self.approvals_message.setText(
                f"{len(expired)} approval(s) expired unanswered and were set aside: "
                + ", ".join(f"{r.get('tool')} {r.get('path') or ''}".strip() for r in expired)
            )
        kept: dict[str, tuple[PendingApproval, ApprovalCard]] = {}
        moved = [item.id for item in wanted] != list(self.cards)
        for item in wanted:
            old = self.cards.pop(item.id, None)
            if old is not None and old[0] == item:
                kept[item.id] = old  # unchanged: keep the card as the reader left it
            else:
                if old is not None:
                    old[1].deleteLater()
                kept[item.id] = (item, self._card(item))
                moved = True
        for _, card in self.cards.values():  # answered, expired or gone
            card.deleteLater()
        self.cards = kept
        if moved:
            while self.card_layout.count() > 1:  # all but the closing stretch
                self.card_layout.takeAt(0)
            for index, (_, card) in enumerate(kept.values()):
                self.card_layout.insertWidget(index, card)
        title = f"Approvals waiting: {len(kept)}" if kept else "No approvals waiting."
        if self.approvals_title.text() != title:
            self.approvals_title.setText(title)

    def _card(self, item: PendingApproval) -> ApprovalCard:
        title = f"{item.who} asks to {item.action or f'run {item.tool}'}"
        expiry = _when(item.expires_at) if item.expires_at else "unknown"
        details = f"queued {_when(item.queued_at)} · expires {expiry}"
        if item.rule_now:
            details += f" · rule now: {item.rule_now}"
        warning = (
            "Expired: approving it is refused."
            if item.expired
            else f"Approving would be refused now: {item.refused}"
            if item.refused
            else None
        )
        card = ApprovalCard(
            title,
            tool=item.tool,
            path=item.path,
            arguments=item.arguments,
            preview=item.shown_change,
            reason=item.reason,
            details=f"{details} · id {item.id}",
            warning=warning,
        )
        card.approved.connect(lambda: self.approve(item.id))
        card.denied.connect(lambda: self.deny(item.id))
        return card

    def approve(self, id: str) -> None:
        """Approve and perform on a worker: the workspace is read afresh for the checks."""
        entry = self.cards.get(id)
        if entry is not None:
            entry[1].set_busy(True)
        root = self.context.root

        def produce(cancel: CancelToken) -> Iterable[object]:
            from cairn.scheduler.approvals import approve

            return [approve(root, id, by="app")]

        worker = EventWorker(produce, self)
        worker.item.connect(self._decided)
        worker.finished.connect(lambda error: self._answered(worker, error, id))
        self._start(worker)

    def deny(self, id: str) -> None:
        """Deny at once: only the queue file moves, nothing is performed."""
        from cairn.scheduler.approvals import deny

        try:
            self._decided(deny(self.context.root, id, by="app"))
        except CairnError as exc:  # answered meanwhile (the CLI, another window)
            self.approvals_message.setText(str(exc))
        else:
            self._drop_card(id)
        self.refresh()

    def _drop_card(self, id: str) -> None:
        """An answered approval's card goes at once (the refresh that follows agrees)."""
        entry = self.cards.pop(id, None)
        if entry is not None:
            self.card_layout.removeWidget(entry[1])
            entry[1].deleteLater()
        self.approvals_title.setText(
            f"Approvals waiting: {len(self.cards)}" if self.cards else "No approvals waiting."
        )

    def _decided(self, decision: Decision) -> None:
        record = decision.record
        what = " ".join(str(record.get(k)) for k in ("tool", "path") if record.get(k))
        if decision.decision == "expired":
            text = f"{what}: it had expired, so nothing was done; re-run the automation."
        elif decision.decision == "denied":
            text = f"✘ Denied {what}: nothing was done."
        elif decision.performed:
            text = f"✔ Approved {what}: {decision.detail}"
        else:
            text = f"Approved {what}, but it was not done: {decision.detail}"
        self.approvals_message.setText(text)

    def _answered(self, worker: EventWorker, error: object, id: str) -> None:
        self._forget(worker)
        if error is not None:
            self.approvals_message.setText(f"Not done: {error}")
            entry = self.cards.get(id)
            if entry is not None:  # still pending: it may be answered again
                entry[1].set_busy(False)
        self.refresh()

    # -- workers and closing -------------------------------------------------------------------

    def _start(self, worker: EventWorker) -> None:
        self._workers.add(worker)
        worker.start()

    def _forget(self, worker: EventWorker) -> None:
        worker.wait()  # its thread is ending: join it before the worker goes
        self._workers.discard(worker)
        worker.deleteLater()

    def shutdown(self) -> None:
        """Stop the timers, stop runs started here (recorded as interrupted) and join
        every worker; close the run database."""
        self._closed = True
        self.timer.stop()
        self._soon.stop()
        for worker in list(self._workers):
            worker.cancel()
        for worker in list(self._workers):
            worker.wait()
        self._workers.clear()
        if self._store is not None:
            self._store.close()
            self._store = None


def _running(
    root: Path, name: str, on_event: Callable[[object], None]
) -> Callable[[CancelToken], Iterable[object]]:
    """A worker's job that runs the automation as `cairn automations run` does; cancel
    stops the task, and the run is recorded as interrupted."""

    def produce(cancel: CancelToken) -> Iterable[object]:
        from cairn.scheduler.control import run_now

        return [run_now(root, name, on_event=on_event, cancel=cancel)]

    return produce


def _waiting_for(future: Future[Run | Refusal]) -> Callable[[CancelToken], Iterable[object]]:
    """A worker's job that waits for the scheduler's run; on cancel it stops waiting (the
    scheduler interrupts its runs itself when it stops)."""

    def produce(cancel: CancelToken) -> Iterable[object]:
        while not cancel.cancelled:
            try:
                return [future.result(timeout=0.2)]
            except TimeoutError:
                continue
        return []

    return produce
