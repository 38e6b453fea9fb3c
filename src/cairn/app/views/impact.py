"""Impact view: usage, cost, the share kept local, what local routing and the prompt cache
saved, and a conservative time-saved estimate with its formula, per period.

The figures come from `cairn.infra.impact.compute_impact` (the ledger and traces, never a
task's content), computed on a worker: when the view is shown, when the workspace changes
while it is shown, and on Refresh. All periods are computed at once, so choosing another
period only redraws.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cairn.app.bridge import EventWorker
from cairn.app.context import AppContext
from cairn.core.engine import CancelToken
from cairn.infra.impact import (
    FORMULA,
    FORMULA_NOTE,
    PERIODS,
    Figures,
    Impact,
    Outcomes,
    Period,
    compute_impact,
)

NOTHING_YET = (
    "Nothing yet: run a task (from the Tasks view or with cairn run), ask a question or let "
    "an automation run, and what it used and saved shows here."
)
CARDS = (
    "Tasks",
    "Automation runs",
    "Questions",
    "Tokens",
    "Cost",
    "Kept local",
    "Saved by local routing",
    "Saved by the prompt cache",
    "Time saved (estimate)",
)
POLL_MS = 3_000  # while shown: how often the ledger and traces are looked at
_COLUMNS = 3
_NO_VALUE = "—"


class Card(QFrame):
    """One figure: its name, its value, one line on what it counts."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(title)
        self.title = QLabel(title)
        self.title.setAccessibleName(f"{title}: name")
        self.value = QLabel(_NO_VALUE)
        self.value.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.value.setAccessibleName(f"{title}: value")
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.value.setFont(font)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = QLabel()
        self.detail.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.detail.setAccessibleName(f"{title}: explanation")
        self.detail.setWordWrap(True)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        column = QVBoxLayout(self)
        column.addWidget(self.title)
        column.addWidget(self.value)
        column.addWidget(self.detail, 1)

    def show_figure(self, value: str, detail: str) -> None:
        self.value.setText(value)
        self.detail.setText(detail)


class ImpactView(QWidget):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.impact: Impact | None = None
        self._worker: EventWorker | None = None
        self._again = False  # a refresh was asked for while one was running

        self.period = QComboBox()
        self.period.setAccessibleName("Period")
        for period in PERIODS:
            self.period.addItem(period.capitalize(), period)
        self.period.setCurrentIndex(PERIODS.index("last 7 days"))
        self.period.currentIndexChanged.connect(self._render)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh the figures")
        self.refresh_button.clicked.connect(self.refresh)
        self.refresh_button.setToolTip("Count again (F5)")
        refresh_key = QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)
        refresh_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.status = QLabel("Loading the workspace…")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # file and model text
        self.status.setAccessibleName("Impact status")
        self.nothing_yet = QLabel(NOTHING_YET)
        self.nothing_yet.setAccessibleName("Nothing yet")
        self.nothing_yet.setWordWrap(True)
        self.nothing_yet.hide()

        self.cards = {title: Card(title) for title in CARDS}
        grid = QGridLayout()
        for n, card in enumerate(self.cards.values()):
            grid.addWidget(card, n // _COLUMNS, n % _COLUMNS)
        self.formula = QLabel(f"{FORMULA}.\n{FORMULA_NOTE}")
        self.formula.setAccessibleName("Time-saved formula")
        self.formula.setWordWrap(True)
        self.formula.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        privacy = QLabel(
            "Counted from the spend ledger and the task traces in .cairn/: model names, "
            "tokens, costs and how tasks ended — never what a task said. See docs/impact.md."
        )
        privacy.setAccessibleName("Where the figures come from")
        privacy.setWordWrap(True)

        header = QHBoxLayout()
        label = QLabel("&Period:")
        label.setBuddy(self.period)  # Alt+P chooses the period
        label.setAccessibleName("Period label")
        header.addWidget(label)
        header.addWidget(self.period)
        header.addWidget(self.refresh_button)
        header.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.nothing_yet)
        layout.addLayout(grid)
        layout.addWidget(self.formula)
        layout.addWidget(privacy)
        layout.addStretch(1)

        context.loaded.connect(self._on_loaded)
        context.load_failed.connect(self._load_failed)
        context.changed.connect(self._on_changed)
        # Tasks and runs write the ledger and traces under `.cairn/`, which the watcher
        # leaves out: while the view shows, a cheap look at their sizes and times says
        # when there is something new to count.
        self._seen: tuple[tuple[int, int], ...] | None = None
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._look)

    # -- refreshing -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Compute the figures again on a worker; a refresh asked for meanwhile follows it."""
        if self.context.model is None:
            return  # `loaded` refreshes
        if self._worker is not None:
            self._again = True
            return
        agents = self.context.model.workspace.agents
        policy = agents.policy if agents is not None else None
        root = self.context.root

        def produce(cancel: CancelToken) -> list[object]:
            return [compute_impact(root, policy)]

        self.status.setText("Counting…")
        self.refresh_button.setEnabled(False)
        self._worker = EventWorker(produce, self)
        self._worker.item.connect(self._computed)
        self._worker.finished.connect(self._finished)
        self._worker.start()

    def shutdown(self) -> None:
        """Join the worker (the window calls this when it closes)."""
        self.poll.stop()
        self._again = False
        if self._worker is not None:
            self._worker.wait()
            self._worker = None

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._seen = _sources(self.context.root)
        self.poll.start()
        self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.poll.stop()

    def _look(self) -> None:
        seen = _sources(self.context.root)
        if seen != self._seen:
            self._seen = seen
            self.refresh()

    def _load_failed(self, why: str) -> None:
        self.status.setText(f"Could not load: {why}")

    def _on_loaded(self) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self.status.setText("")

    def _on_changed(self, _events: object) -> None:
        if self.isVisible():  # a hidden view refreshes when it is shown
            self.refresh()

    def _computed(self, impact: object) -> None:
        if isinstance(impact, Impact):
            self.impact = impact
            self._render()

    def _finished(self, error: object) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        self.refresh_button.setEnabled(True)
        if error is not None:
            self.status.setText(f"Could not count: {error}")
        elif self.impact is not None:
            self.status.setText(f"Updated {self.impact.computed_at:%H:%M:%S}")
        if self._again:
            self._again = False
            self.refresh()

    # -- showing ----------------------------------------------------------------------------

    def selected_period(self) -> Period:
        return PERIODS[self.period.currentIndex()]

    def _render(self) -> None:
        impact = self.impact
        if impact is None:
            return
        self.nothing_yet.setVisible(impact.empty)
        figures = impact.period(self.selected_period())
        for title, (value, detail) in describe(impact, figures).items():
            self.cards[title].show_figure(value, detail)


def _sources(root: Path) -> tuple[tuple[int, int], ...]:
    """Size and modification time of what the figures are counted from (zeros for what
    does not exist yet): a new trace file changes the folder's time, a model call the
    ledger's size."""
    found = []
    for name in ("spend.jsonl", "traces"):
        try:
            info = (root / ".cairn" / name).stat()
        except OSError:
            found.append((0, 0))
        else:
            found.append((info.st_size, info.st_mtime_ns))
    return tuple(found)


def describe(impact: Impact, f: Figures) -> dict[str, tuple[str, str]]:
    """Each card's value and explanation for one period's figures."""
    calls = f.local_calls + f.cloud_calls
    cost_note = "Cloud calls at litellm's bundled prices; local calls cost nothing."
    if f.unpriced_calls:
        cost_note += f" {f.unpriced_calls:,} cloud call(s) of unknown price are not included."
    local_tokens = f.local_input_tokens + f.local_output_tokens
    if impact.comparison is None or f.saved_usd is None:
        saved = (_NO_VALUE, f"{local_tokens:,} tokens ran locally; {impact.comparison_note}.")
    else:
        model = impact.comparison
        saved = (
            _usd(f.saved_usd),
            f"{local_tokens:,} tokens ran locally. On {model.model} ({model.name}), the "
            "cheapest cloud model agents.md names, those calls would have cost this.",
        )
    return {
        "Tasks": (f"{f.tasks.total:,}", _outcomes(f.tasks, "Tasks run with cairn run or here")),
        "Automation runs": (
            f"{f.automation_runs.total:,}",
            _outcomes(f.automation_runs, "Scheduled and run-now runs"),
        ),
        "Questions": (f"{f.questions.total:,}", _outcomes(f.questions, "Answers to cairn ask")),
        "Tokens": (
            f"{f.input_tokens:,} in · {f.output_tokens:,} out",
            f"Every model call, local and cloud: {calls:,} call(s).",
        ),
        "Cost": (_usd(f.cost_usd), cost_note),
        "Kept local": (
            _NO_VALUE if f.local_share is None else f"{f.local_share:.0%}",
            f"{f.local_calls:,} of {calls:,} model calls ran on this machine.",
        ),
        "Saved by local routing": saved,
        "Saved by the prompt cache": (
            f"{f.cached_tokens:,} tokens",
            "Prompt tokens the local model reused (kept in memory or restored from the "
            "prompt cache on disk) instead of evaluating them again.",
        ),
        "Time saved (estimate)": (
            _minutes(f.minutes_saved),
            "Conservative: fixed low minutes per finished task, by kind. The formula is below.",
        ),
    }


def _outcomes(outcomes: Outcomes, what: str) -> str:
    parts = [
        f"{count:,} {label}"
        for count, label in (
            (outcomes.done, "done"),
            (outcomes.waiting, "waiting for your approval"),
            (outcomes.failed, "failed"),
            (outcomes.cancelled, "cancelled"),
            (outcomes.unfinished, "unfinished"),
        )
        if count
    ]
    return f"{what}: {' · '.join(parts) if parts else 'none'}."


def _usd(amount: float) -> str:
    if amount == 0:
        return "$0.00"
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def _minutes(minutes: float) -> str:
    whole = round(minutes)
    if whole < 60:
        return f"{whole} min"
    return f"{whole // 60} h {whole % 60} min"
