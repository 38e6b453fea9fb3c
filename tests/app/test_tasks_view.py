"""The Tasks view end to end, offscreen: real workspace, real runner, the loopback
OpenAI-compatible stub as the cloud model. Approval cards answered by clicking their real
buttons, always-allow writing agents.md, Stop cancelling a slow stream, routing badges,
plan approval, questions answered inline, and past tasks re-opened from their traces."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from cairn.app.context import AppContext
from cairn.app.views.task_widgets import PlanCard, QuestionCard, RoutingBadge, TaskApprovalCard
from cairn.app.views.tasks import TasksView
from cairn.core.routing.router import Decision, PassedOver, Sensitivity
from cairn.core.routing.sensitivity import Finding
from cairn.testing.openai_stub import OpenAIStub
from tests.stub_workspace import point_at

NOTES = "spaces/team/notes.md"
README = "spaces/team/readme.md"
KEY = "sk-test-tasks-view-0000000000"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as running:
        yield running


@pytest.fixture
def workspace(
    app_workspace: Path, stub: OpenAIStub, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    point_at(app_workspace, stub.base_url, tiny_model_path)
    return app_workspace


@contextmanager
def open_view(qtbot: QtBot, root: Path) -> Iterator[TasksView]:
    context = AppContext(root, run_automations=False)
    view = TasksView(context)
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()
    assert not view.run_button.isEnabled()  # built before the workspace is loaded
    with qtbot.waitSignal(context.loaded, timeout=15_000):
        context.start()
    qtbot.waitUntil(lambda: view._lister is None, timeout=10_000)
    try:
        yield view
    finally:
        view.shutdown()
        context.close()
        assert view.worker is None or not view.worker.running


@pytest.fixture
def view(qtbot: QtBot, workspace: Path) -> Iterator[TasksView]:
    with open_view(qtbot, workspace) as opened:
        yield opened


def click(qtbot: QtBot, button: QPushButton) -> None:
    # A widget added to a shown layout is shown by the next turn of the event loop.
    qtbot.waitUntil(button.isVisible, timeout=5_000)
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def start(qtbot: QtBot, view: TasksView, request: str, space: str | None = "team") -> None:
    if space:
        view.space.setCurrentText(space)
    view.request.setPlainText(request)
    click(qtbot, view.run_button)
    assert view.worker is not None and not view.run_button.isEnabled()


def wait_done(qtbot: QtBot, view: TasksView, timeout: int = 120_000) -> None:
    qtbot.waitUntil(lambda: view.worker is None, timeout=timeout)


def approval_card(qtbot: QtBot, view: TasksView) -> TaskApprovalCard:
    qtbot.waitUntil(lambda: bool(view.live.pending()), timeout=60_000)
    card = view.live.pending()[0]
    assert isinstance(card, TaskApprovalCard)
    return card


def test_an_approved_write_lands_on_disk(
    qtbot: QtBot, view: TasksView, stub: OpenAIStub, workspace: Path
) -> None:
    stub.state.script = [
        {"name": "write_file", "arguments": {"path": NOTES, "content": "Ship it.\n"}},
        "Saved the note.",
    ]
    start(qtbot, view, "Save a note for the team")
    card = approval_card(qtbot, view)
    assert card.target.text() == f"write_file · {NOTES}"
    assert json.loads(card.arguments.toPlainText()) == {"path": NOTES, "content": "Ship it.\n"}
    diff = card.preview.toPlainText()
    assert "--- /dev/null" in diff and f"+++ b/{NOTES}" in diff and "+Ship it." in diff
    assert card.where.text() == "Lands in: space 'team' (team scope)"
    assert view.status.text() == "Waiting for your decision"
    assert not (workspace / NOTES).exists()  # nothing happens before the click
    click(qtbot, card.approve_button)
    wait_done(qtbot, view)
    assert (workspace / NOTES).read_text() == "Ship it.\n"
    assert "Approved (user)" in card.state.text() and not card.approve_button.isEnabled()
    assert view.live.status == "finished" and view.status.text() == "Done"
    assert "Saved the note." in "".join(step.streamed for step in view.live.steps)


def test_a_denied_write_leaves_the_file_alone(
    qtbot: QtBot, view: TasksView, stub: OpenAIStub, workspace: Path
) -> None:
    before = (workspace / README).read_text()
    stub.state.script = [
        {"name": "write_file", "arguments": {"path": README, "content": "# Gone\n"}},
        "I did not change it.",
    ]
    start(qtbot, view, "Replace the team readme")
    card = approval_card(qtbot, view)
    diff = card.preview.toPlainText()
    assert f"-{before.splitlines()[0]}" in diff and "+# Gone" in diff  # against the disk
    click(qtbot, card.deny_button)
    wait_done(qtbot, view)
    assert (workspace / README).read_text() == before
    assert "Denied (user)" in card.state.text()
    results = [label.text() for label in view.live.lines if label.text().startswith("✗")]
    assert any("not done" in text for text in results)
    assert "not done: the user did not approve it" in json.dumps(stub.requests[-1].body)


def test_always_allow_adds_the_rule_keeping_comments_and_lets_the_call_through(
    qtbot: QtBot, view: TasksView, stub: OpenAIStub, workspace: Path
) -> None:
    before = (workspace / "agents.md").read_text()
    stub.state.script = [
        {"name": "write_file", "arguments": {"path": NOTES, "content": "Always.\n"}},
        "Done.",
    ]
    start(qtbot, view, "Save a note for the team")
    card = approval_card(qtbot, view)
    click(qtbot, card.always_button)
    wait_done(qtbot, view)
    assert (workspace / NOTES).read_text() == "Always.\n"
    after = (workspace / "agents.md").read_text()
    rule = f"  - {{tool: write_file, path: {NOTES}, decision: allow}}\n"
    assert rule in after and after.index(rule) < after.index(
        "  - {tool: write_file, decision: ask}"
    )
    # Every line that was there is still there, comments included, in the same order.
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert len(added) == 2 and added[0].startswith("  # always allowed ")
    assert after.replace("".join(f"{line}\n" for line in added), "") == before
    assert (
        "# only you edit it" in after
        and "Approved (user, always allow) · added rule 12 of agents.md" in card.state.text()
    )


def test_stop_cancels_a_slow_stream_at_once(
    qtbot: QtBot,
    app_workspace: Path,
    stub: OpenAIStub,
    tiny_model_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    point_at(app_workspace, stub.url("slow"), tiny_model_path)
    stub.state.reply = " ".join(f"word{n}" for n in range(300))
    stub.state.slow_s = 0.1
    with open_view(qtbot, app_workspace) as view:
        start(qtbot, view, "Tell me a long story")
        qtbot.waitUntil(
            lambda: any("word3" in step.streamed for step in view.live.steps), timeout=60_000
        )
        began = time.monotonic()
        click(qtbot, view.stop_button)
        wait_done(qtbot, view, timeout=10_000)
        assert time.monotonic() - began < 5
        assert view.live.status == "cancelled" and view.status.text() == "Cancelled"
        assert "word299" not in "".join(step.streamed for step in view.live.steps)
        assert view.run_button.isEnabled() and not view.stop_button.isEnabled()


def test_routing_badge_shows_model_place_reason_tokens_and_the_whole_decision(
    qtbot: QtBot, view: TasksView, stub: OpenAIStub
) -> None:
    start(qtbot, view, "Say hello")
    wait_done(qtbot, view)
    badge = view.live.steps[0].badges[0]
    summary = badge.summary.text()
    assert summary.startswith("cloud-fast · cloud · ") and "agents.md routes 'work'" in summary
    assert badge.input_tokens > 0 and " in · " in badge.usage.text()
    assert not badge.details.isVisible()
    qtbot.mouseClick(badge.toggle, Qt.MouseButton.LeftButton)
    assert badge.details.isVisible()
    assert "candidates, in order: cloud-fast" in badge.details.toPlainText()


def test_a_sensitive_decision_says_its_findings_by_kind(qtbot: QtBot) -> None:
    findings = (
        Finding("email", 3, 20, "j…@e…com"),
        Finding("email", 40, 55, "a…@b…org"),
        Finding("api-key", 60, 90, "…abcd"),
    )
    decision = Decision(
        kind="work",
        role="worker",
        rule="agents.md routes 'work'; sensitive content, so local models are added",
        sensitivity=Sensitivity(True, ("the step's text holds personal data",), findings),
        candidates=("cloud-fast", "local-small"),
        chosen="local-small",
        chosen_is_local=True,
        passed_over=(PassedOver("cloud-fast", "sensitive content stays local"),),
    )
    badge = RoutingBadge(decision.to_json())
    qtbot.addWidget(badge)
    assert badge.summary.text().startswith("local-small · local · ")
    assert "sensitive: api-key ×1, email ×2" in badge.summary.text()
    badge.add_usage(10, 5, 0.0)
    badge.add_usage(1, 1, None)
    assert badge.usage.text() == "11 in · 6 out · cost unknown"
    details = badge.details.toPlainText()
    assert "passed over cloud-fast: sensitive content stays local" in details
    assert "found email at 3 (j…@e…com)" in details and "chosen: local-small (local)" in details


def test_plan_approval_and_an_inline_answer(
    qtbot: QtBot, view: TasksView, stub: OpenAIStub
) -> None:
    plan = {
        "steps": [
            {"title": "Ask who it is for", "kind": "work", "instruction": "Ask the user."},
            {"title": "Write it", "kind": "work", "instruction": "Write the greeting."},
        ]
    }
    stub.state.script = [
        json.dumps(plan),
        {"name": "ask_user", "arguments": {"question": "Who is it for?"}},
        "It is for Ada.",
        "Hello, Ada.",
    ]
    start(qtbot, view, "First find out who the greeting is for, then write it")
    qtbot.waitUntil(lambda: bool(view.live.pending()), timeout=60_000)
    card = view.live.pending()[0]
    assert isinstance(card, PlanCard)
    click(qtbot, card.buttons[0])  # Approve plan
    qtbot.waitUntil(lambda: bool(view.live.questions), timeout=60_000)
    question: QuestionCard = view.live.questions[0]
    assert view.status.text() == "The agent asks you something"
    qtbot.keyClicks(question.field, "Ada")
    click(qtbot, question.send_button)
    wait_done(qtbot, view)
    assert view.live.status == "finished"
    assert "Plan approved (user)" in card.state.text()
    assert any(
        m.get("role") == "tool" and "Ada" in str(m.get("content"))
        for r in stub.requests
        for m in r.body.get("messages", [])
    )
    titles = [step.title.text() for step in view.live.steps]
    assert any("Step 2: Write it" in title for title in titles)


def test_a_past_task_reopens_from_its_trace(
    qtbot: QtBot, view: TasksView, stub: OpenAIStub
) -> None:
    stub.state.script = [
        {"name": "write_file", "arguments": {"path": NOTES, "content": "x\n"}},
        "Noted.",
    ]
    start(qtbot, view, "Save a note for the team")
    click(qtbot, approval_card(qtbot, view).approve_button)
    wait_done(qtbot, view)
    listed = lambda: view.history.item(0).data(Qt.ItemDataRole.UserRole)  # noqa: E731
    qtbot.waitUntil(lambda: view.history.count() == 1 and bool(listed()), timeout=10_000)
    item = view.history.item(0)
    assert item.text().startswith("✔ finished") and "Save a note for the team" in item.text()
    rect = view.history.visualItemRect(item)
    qtbot.mouseClick(view.history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.past.status == "finished", timeout=10_000)
    assert view.output.currentWidget() is view.past and view.back_button.isVisible()
    past = view.past
    assert past.task == view.live.task
    assert "Noted." in "".join(step.streamed for step in past.steps)  # from step_finished
    badge = past.steps[0].badges[0]
    assert badge.summary.text().startswith("cloud-fast · cloud")
    cards = list(past.cards.values())
    assert len(cards) == 1 and isinstance(cards[0], TaskApprovalCard)
    assert NOTES in cards[0].target.text() and "Approved (user)" in cards[0].state.text()
    assert not cards[0].buttons  # read-only: nothing to answer
    view.filter.setText("no such words")
    assert item.isHidden()
    click(qtbot, view.back_button)
    assert view.output.currentWidget() is view.live


def test_ctrl_enter_runs_and_stop_releases_a_waiting_approval(
    qtbot: QtBot, view: TasksView, stub: OpenAIStub, workspace: Path
) -> None:
    stub.state.script = [
        {"name": "write_file", "arguments": {"path": NOTES, "content": "Never.\n"}},
        "Not reached.",
    ]
    view.space.setCurrentText("team")
    view.request.setPlainText("Save a note for the team")
    view.activateWindow()
    view.request.setFocus()
    qtbot.keyClick(view.request, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    card = approval_card(qtbot, view)
    began = time.monotonic()
    click(qtbot, view.stop_button)
    assert "Denied (cancelled)" in card.state.text() and not card.approve_button.isEnabled()
    wait_done(qtbot, view, timeout=10_000)
    assert time.monotonic() - began < 5
    assert view.live.status == "cancelled" and not (workspace / NOTES).exists()
    view.new_task()
    assert view.request.toPlainText() == "" and view.request.hasFocus()
    view.search()
    assert view.filter.hasFocus()


def test_a_live_card_shows_arguments_with_secrets_redacted(qtbot: QtBot) -> None:
    from cairn.core.tasks.approvals import ApprovalRequest

    key = "sk-proj-" + "Q7x2" * 10
    request = ApprovalRequest(
        "write_file", {"path": NOTES, "content": f"token {key}\n"}, path=NOTES, reason="ask"
    )
    record = {"id": request.id, "tool": "write_file", "path": NOTES, "reason": "ask"}
    card = TaskApprovalCard(record, request)
    qtbot.addWidget(card)
    shown = card.arguments.toPlainText()
    assert key not in shown and NOTES in shown
    assert card.pending
    card.approve_button.click()
    assert request.decided and "Approved (user)" in card.state.text()
    assert not card.approve_button.isEnabled() and not card.deny_button.isEnabled()


def test_a_secret_streamed_in_pieces_is_redacted_when_its_step_ends(qtbot: QtBot) -> None:
    from cairn.app.views.task_widgets import Transcript

    key = "sk-proj-" + "Z9y8" * 10
    transcript = Transcript("Task output")
    qtbot.addWidget(transcript)
    transcript.show_event({"event": "step_started", "index": 1, "step": {"title": "Answer"}})
    for piece in ("The key is ", key[:12], key[12:], "."):
        transcript.show_event({"event": "text_delta", "text": piece})
    transcript.show_event({"event": "step_finished", "text": ""})
    [step] = transcript.steps
    assert key not in step.text.text() and step.text.text().startswith("The key is ")
