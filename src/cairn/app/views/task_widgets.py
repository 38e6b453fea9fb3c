"""The pieces of a task's output: steps, routing badges, approval, plan and question cards.

A `Transcript` renders a task's events as records (`{"event": "routed", ...}`: what
`cairn.infra.trace.event_data` makes of a live event, and what a trace file holds), so a
running task and one re-opened from its trace look the same. A live event also hands over
its request object; only then does a card get buttons, which answer that object (the loop
thread waits on it). Everything here runs on the UI thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cairn.app.views.approval_card import ApprovalCard
from cairn.core.tasks.approvals import ApprovalRequest
from cairn.core.tasks.events import Answer

Record = Mapping[str, Any]
AllowAlways = Callable[[ApprovalRequest], str]
"""Add the "always allow" rule for a request; returns what was added (raises if it cannot)."""
Change = Callable[[ApprovalRequest], list[str]]
"""What a pending write would change (diff lines); empty when there is nothing to show."""


def _label(text: str, name: str, *, selectable: bool = True) -> QLabel:
    label = QLabel(text)
    label.setAccessibleName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _button(text: str, name: str, slot: Callable[[], object]) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name)
    # `clicked` passes `checked`, which must not reach the slot as its first argument.
    button.clicked.connect(lambda _checked=False: slot())
    return button


def _monospace(text: str, name: str, lines: int = 12) -> QPlainTextEdit:
    box = QPlainTextEdit(text)
    box.setAccessibleName(name)
    box.setReadOnly(True)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    height = box.fontMetrics().lineSpacing() * min(max(text.count("\n") + 1, 2), lines)
    box.setFixedHeight(height + 12)
    return box


def _card(name: str) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setAccessibleName(name)
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.setObjectName("card")
    frame.setStyleSheet("QFrame#card { border: 1px solid palette(mid); border-radius: 6px; }")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(8, 6, 8, 6)
    return frame, layout


# --- routing ----------------------------------------------------------------------------------


def explain(decision: Record, budget: Record | None = None) -> str:
    """The whole routing decision, as `cairn route` explains it, from its record."""
    lines = [f"kind: {decision.get('kind')} → role: {decision.get('role') or '-'}"]
    lines.append(f"why: {decision.get('rule')}")
    if decision.get("sensitive"):
        lines.append("sensitive: yes — local models only")
        lines += [f"  because {reason}" for reason in decision.get("sensitivity_reasons") or ()]
        for finding in decision.get("findings") or ():
            lines.append(
                f"  found {finding.get('kind')} at {finding.get('start')} ({finding.get('hint')})"
            )
    else:
        lines.append("sensitive: no")
    lines.append(f"candidates, in order: {', '.join(decision.get('candidates') or ()) or 'none'}")
    for skipped in decision.get("passed_over") or ():
        lines.append(f"  passed over {skipped.get('model')}: {skipped.get('reason')}")
    if decision.get("tried"):
        lines.append(f"already failed in this step: {', '.join(decision['tried'])}")
    if decision.get("chosen"):
        where = "local" if decision.get("local") else "cloud"
        lines.append(f"chosen: {decision['chosen']} ({where})")
    else:
        lines.append(f"no model: {decision.get('stop_reason')}")
    if budget:
        lines.append(f"budget: {budget.get('state')} — {budget.get('reason')}")
    return "\n".join(lines)


class RoutingBadge(QFrame):
    """One model call of a step: the model, local or cloud, why, its tokens and cost; the
    Details button unfolds the whole decision."""

    def __init__(self, decision: Record, budget: Record | None = None) -> None:
        super().__init__()
        self.setAccessibleName("Routing decision")
        self.setObjectName("badge")
        self.setStyleSheet(
            "QFrame#badge { background: palette(alternate-base); border-radius: 4px; }"
        )
        self.decision = decision
        self.input_tokens = self.output_tokens = 0
        self.cost: float | None = 0.0
        chosen = decision.get("chosen")
        if chosen:
            where = "local" if decision.get("local") else "cloud"
            head = f"{chosen} · {where}"
        else:
            head = f"no model · {decision.get('stop_reason')}"
        why = str(decision.get("rule") or "")
        if decision.get("sensitive"):
            kinds = Counter(str(f.get("kind")) for f in decision.get("findings") or ())
            found = ", ".join(f"{kind} ×{count}" for kind, count in sorted(kinds.items()))
            reasons = "; ".join(decision.get("sensitivity_reasons") or ())
            why += f" · sensitive: {found or reasons or 'yes'}"
        self.summary = _label(f"{head} · {why}", "Routing summary")
        self.usage = _label("", "Tokens and cost")
        self.toggle = QToolButton()
        self.toggle.setText("Details")
        self.toggle.setAccessibleName("Show the whole routing decision")
        self.toggle.setCheckable(True)
        self.details = _monospace(explain(decision, budget), "Routing decision details", 14)
        self.details.hide()
        self.toggle.toggled.connect(self.details.setVisible)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.usage)
        row.addWidget(self.toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.addLayout(row)
        layout.addWidget(self.details)

    def add_usage(self, input_tokens: int, output_tokens: int, cost: float | None) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost = None if cost is None or self.cost is None else self.cost + cost
        spent = "cost unknown" if self.cost is None else f"${self.cost:.6f}"
        self.usage.setText(f"{self.input_tokens:,} in · {self.output_tokens:,} out · {spent}")


# --- cards ------------------------------------------------------------------------------------


class _AnswersRequest:
    """For a card over one `ApprovalRequest` the loop thread waits on: decided once,
    whichever button (or Stop) comes first. `decided` shows the outcome."""

    request: ApprovalRequest | None

    @property
    def pending(self) -> bool:
        return self.request is not None and not self.request.decided

    def approve(self) -> None:
        if self.request is not None and self.request.approve(by="user"):
            self.decided(True, "user")

    def deny(self, by: str = "user") -> None:
        if self.request is not None and self.request.deny(by=by):
            self.decided(False, by)

    if TYPE_CHECKING:  # provided by the card class it is mixed into

        def decided(self, approved: bool, by: str, note: str = "") -> None: ...


class TaskApprovalCard(_AnswersRequest, ApprovalCard):
    """The shared approval card over a live `ApprovalRequest` the loop thread waits on
    (or, re-read from a trace, without buttons): its answer is decided once, whichever
    button (or Stop) comes first; Always allow adds the rule to agents.md, then approves.
    """

    def __init__(
        self,
        record: Record,
        request: ApprovalRequest | None = None,
        *,
        where: str = "",
        change: list[str] | None = None,
        allow_always: AllowAlways | None = None,
    ) -> None:
        from cairn.infra.redaction import REDACTOR

        arguments = request.arguments if request is not None else record.get("arguments")
        preview = "\n".join(change) if change else str(record.get("preview") or "")
        tool = str(record.get("tool"))
        super().__init__(
            "Budget: did you mean to spend this?" if tool == "budget" else "Approval needed",
            tool=tool,
            path=record.get("path"),
            arguments=REDACTOR.redact_data(dict(arguments or {})),
            preview=preview,
            reason=str(record.get("reason") or ""),
            where=where,
            answerable=request is not None,
            can_always_allow=allow_always is not None,
        )
        self.request = request
        self.request_id = str(record.get("id", ""))
        self._allow_always = allow_always
        self.note = ""  # what "always allow" added to agents.md
        self.approved.connect(self.approve)
        self.denied.connect(self.deny)
        self.always_allowed.connect(self.always)

    def always(self) -> None:
        if self.request is None or self._allow_always is None or self.request.decided:
            return
        try:
            added = self._allow_always(self.request)
        except Exception as exc:  # said on the card; the call stays pending
            self.state.setText(f"Could not add the rule: {exc}")
            return
        self.note = f"added {added}"
        if self.request.approve(by="user, always allow"):
            self.decided(True, "user, always allow")

    def decided(self, approved: bool, by: str, note: str = "") -> None:
        # Also called when the decision event comes back through the stream: the rule
        # that "always allow" added stays on the card.
        super().decided(approved, by, note or self.note)


class PlanCard(_AnswersRequest, QFrame):
    """The plan of a multi-step task, with Approve / Deny when agents.md asks for it."""

    def __init__(self, record: Record, request: ApprovalRequest | None = None) -> None:
        super().__init__()
        self.setAccessibleName("Plan")
        self.request = request
        self.request_id = str((record.get("request") or {}).get("id", ""))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        steps = (record.get("plan") or {}).get("steps") or ()
        title = "Plan — approve it to start" if request is not None else "Plan"
        layout.addWidget(_label(title, "Plan title"))
        text = "\n".join(
            f"{n}. {step.get('title')} ({step.get('kind')})" for n, step in enumerate(steps, 1)
        )
        layout.addWidget(_label(text, "Plan steps"))
        self.state = _label("", "Plan decision")
        layout.addWidget(self.state)
        self.buttons: list[QPushButton] = []
        if request is not None:
            row = QHBoxLayout()
            self.buttons = [
                _button("Approve plan", "Approve plan", self.approve),
                _button("Deny plan", "Deny plan", self.deny),
            ]
            for button in self.buttons:
                row.addWidget(button)
            row.addStretch(1)
            layout.addLayout(row)

    def decided(self, approved: bool, by: str, note: str = "") -> None:
        self.state.setText(f"Plan {'approved' if approved else 'denied'} ({by})")
        for button in self.buttons:
            button.setEnabled(False)


class QuestionCard(QFrame):
    """The agent asks; the answer is typed inline (live only)."""

    def __init__(self, question: str, answer: Answer | None = None) -> None:
        super().__init__()
        self.setAccessibleName("Question")
        self.answer_slot = answer
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(_label(f"The agent asks: {question}", "Question text"))
        self.state = _label("", "Answer given")
        if answer is not None:
            row = QHBoxLayout()
            self.field = QLineEdit()
            self.field.setAccessibleName("Your answer")
            self.field.setPlaceholderText("Type your answer and press Enter")
            self.field.returnPressed.connect(self.send)
            self.send_button = _button("Answer", "Send answer", self.send)
            row.addWidget(self.field, 1)
            row.addWidget(self.send_button)
            layout.addLayout(row)
        layout.addWidget(self.state)

    def send(self) -> None:
        if self.answer_slot is None or not self.field.isEnabled():
            return
        text = self.field.text().strip()
        if self.answer_slot.give(text):
            self.state.setText(f"You answered: {text or '(nothing)'}")
            self.field.setEnabled(False)
            self.send_button.setEnabled(False)

    def give_up(self, why: str) -> None:
        """No answer can help any more (the task stopped or ended)."""
        if self.answer_slot is not None and self.field.isEnabled():
            self.state.setText(f"Not answered ({why})")
            self.field.setEnabled(False)
            self.send_button.setEnabled(False)


# --- a step -----------------------------------------------------------------------------------


class StepBlock(QFrame):
    """One step: its title, a routing badge per model call, the streamed text, its tools."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.setAccessibleName(f"Step: {title}")
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 4, 0, 4)
        self.title = _label(title, "Step title")
        self.title.setStyleSheet("font-weight: bold")
        self.layout_.addWidget(self.title)
        self.badges: list[RoutingBadge] = []
        self.text = _label("", "Step output")
        self.text.hide()
        self._streamed = ""

    def add(self, widget: QWidget) -> None:
        if isinstance(widget, RoutingBadge):
            self.badges.append(widget)
        self.layout_.addWidget(widget)

    def stream(self, delta: str) -> None:
        if not self._streamed:
            self.layout_.addWidget(self.text)  # the text follows what came before it
            self.text.show()
        self._streamed += delta
        self.text.setText(self._streamed)

    def finish(self, text: str) -> None:
        """A trace holds each step's whole text, never its deltas: show it once. A live
        step's text is shown again whole and redacted, since a secret that came split
        across deltas was not recognised in any one of them."""
        from cairn.infra.redaction import REDACTOR

        if not self._streamed and text:
            self.stream(text)
        elif self._streamed:
            self.text.setText(REDACTOR.redact(self._streamed))

    @property
    def streamed(self) -> str:
        return self._streamed


# --- the whole task ---------------------------------------------------------------------------


class Transcript(QScrollArea):
    """A task's output, built event by event from records (live or from a trace)."""

    def __init__(
        self,
        name: str,
        *,
        allow_always: AllowAlways | None = None,
        change: Change | None = None,
        where: Callable[[str | None], str] | None = None,
    ) -> None:
        super().__init__()
        self.setAccessibleName(name)
        self.setWidgetResizable(True)
        self._allow_always = allow_always
        self._change = change
        self._where = where
        self._follow = True  # keep the newest output in view until the user scrolls up
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._range_changed)
        bar.valueChanged.connect(self._scrolled)
        self.clear()

    def clear(self) -> None:
        self._follow = True
        body = QWidget()
        self._column = QVBoxLayout(body)
        self._column.setContentsMargins(8, 8, 8, 8)
        self._column.addStretch(1)
        self.setWidget(body)
        self.task: str | None = None
        self.status = ""  # running | finished | failed | cancelled | stopped
        self.steps: list[StepBlock] = []
        self.cards: dict[str, TaskApprovalCard | PlanCard] = {}
        self.questions: list[QuestionCard] = []
        self.lines: list[QLabel] = []
        self._step: StepBlock | None = None
        self._badge: RoutingBadge | None = None

    # -- building --------------------------------------------------------------------------

    def _add(self, widget: QWidget) -> None:
        self._column.insertWidget(self._column.count() - 1, widget)

    def _line(self, text: str, name: str = "Event") -> QLabel:
        label = _label(text, name)
        self.lines.append(label)
        (self._step.add if self._step is not None else self._add)(label)
        return label

    def _current(self) -> StepBlock:
        """The block that gets routing and text outside any step (planning, the memory step
        after the last one)."""
        if self._step is None:
            self._step = StepBlock("Planning" if not self.steps else "After the steps")
            self.steps.append(self._step)
            self._add(self._step)
        return self._step

    def _range_changed(self, low: int, high: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(high)

    def _scrolled(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - 4

    def pending(self) -> list[TaskApprovalCard | PlanCard]:
        return [card for card in self.cards.values() if card.pending]

    def release(self, by: str = "cancelled") -> None:
        """Deny every request still waiting, so a stopped loop is not left waiting on one;
        an unanswered question is closed (the loop gives up on it when cancelled)."""
        for card in self.pending():
            card.deny(by=by)
        for question in self.questions:
            question.give_up(by)

    # -- one event ---------------------------------------------------------------------------

    def show_event(self, record: Record, live: object | None = None) -> None:
        name = str(record.get("event", ""))
        if name == "text_delta":
            self._current().stream(str(record.get("text", "")))
        elif name == "task_started":
            self.task = str(record.get("task"))
            self.status = "running"
            space = f" · space {record['space']}" if record.get("space") else ""
            self._add(_label(f"Task {self.task}{space}\n{record.get('request', '')}", "Task"))
        elif name == "plan_made":
            steps = (record.get("plan") or {}).get("steps") or ()
            if len(steps) > 1:
                self._add(PlanCard(record))
        elif name == "plan_approval_needed":
            request = getattr(live, "request", None)
            card = PlanCard(record, request)
            self.cards[card.request_id] = card
            self._add(card)
        elif name == "step_started":
            step = record.get("step") or {}
            title = f"Step {record.get('index')}: {step.get('title')} ({step.get('kind')})"
            self._step = StepBlock(title)
            self.steps.append(self._step)
            self._add(self._step)
        elif name == "routed":
            self._badge = RoutingBadge(record.get("decision") or {}, record.get("budget"))
            self._current().add(self._badge)
        elif name == "usage" and self._badge is not None:
            self._badge.add_usage(
                int(record.get("input_tokens") or 0),
                int(record.get("output_tokens") or 0),
                record.get("cost_usd"),
            )
        elif name == "fell_back":
            self._line(
                f"{record.get('model')} failed ({record.get('kind')}: {record.get('message')});"
                " trying the next model"
            )
        elif name == "budget_warning":
            self._line(f"Budget: {(record.get('verdict') or {}).get('reason')}")
        elif name == "tool_called":
            args = ", ".join(
                f"{k}={str(v)[:40]!r}" for k, v in (record.get("arguments") or {}).items()
            )
            self._line(f"⚙ {record.get('name')}({args}) — {record.get('permission')}", "Tool call")
        elif name == "approval_needed":
            self._approval(record.get("request") or {}, getattr(live, "request", None))
        elif name == "approval_decided":
            decided = self.cards.get(str(record.get("request_id")))
            if decided is not None:
                decided.decided(bool(record.get("approved")), str(record.get("by") or ""))
        elif name == "tool_result":
            first = (str(record.get("output") or "").splitlines() or [""])[0][:160]
            mark = "✓" if record.get("ok") else "✗"
            self._line(f"{mark} {record.get('name')}: {first}", "Tool result")
        elif name == "question_asked":
            question = QuestionCard(str(record.get("question")), getattr(live, "answer", None))
            self.questions.append(question)
            self._current().add(question)
        elif name == "memory_proposed":
            self._line(f"✎ memory proposed ({record.get('source')}): {record.get('text')}")
        elif name == "memory_recalled":
            items = record.get("items") or ()
            self._line(f"↺ recalled {len(items)} memories")
        elif name == "memory_written":
            self._line(f"✎ remembered in {record.get('space')}: {record.get('text')}")
        elif name == "memory_staged":
            self._line(f"✎ staged for you to decide ({record.get('reason')}): {record.get('text')}")
        elif name == "memory_skipped":
            self._line(f"✎ not kept ({record.get('reason')}): {record.get('text')}")
        elif name == "guard_stopped":
            self._line(f"■ {record.get('guard')}: {record.get('reason')}")
        elif name == "step_finished":
            if self._step is not None:
                self._step.finish(str(record.get("text") or ""))
            self._step = None
        elif name in ("task_finished", "task_failed", "task_cancelled"):
            self._end(name, record)
        elif name in ("stopped", "paused", "failed"):
            # What the trace writer records when a task ended by an error.
            self.status = name
            why = record.get("reason") or record.get("message") or ""
            self._add(_label(f"✘ {name}: {why}", "Task outcome"))

    def _approval(self, data: Record, request: ApprovalRequest | None) -> None:
        tool = str(data.get("tool"))
        path = data.get("path")
        change = self._change(request) if request is not None and self._change else None
        card = TaskApprovalCard(
            {**data, "preview": request.preview if request is not None else data.get("preview")},
            request,
            where=self._where(path) if self._where is not None and path else "",
            change=change,
            allow_always=self._allow_always if tool != "budget" else None,
        )
        self.cards[card.request_id] = card
        self._current().add(card)

    def _end(self, name: str, record: Record) -> None:
        self.status = name.removeprefix("task_")
        if name == "task_finished":
            text = (
                f"✔ Done · {int(record.get('input_tokens') or 0):,} tokens in, "
                f"{int(record.get('output_tokens') or 0):,} out · "
                f"${float(record.get('cost_usd') or 0):.6f}"
            )
            if record.get("record"):
                text += f" · record: {record['record']}"
        elif name == "task_failed":
            text = f"✘ Failed ({record.get('kind')}): {record.get('reason')}"
        else:
            text = f"✘ Cancelled: {record.get('reason')}"
        self._step = None
        self._add(_label(text, "Task outcome"))
