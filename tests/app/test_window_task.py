"""End to end in the whole window: Ctrl+N opens the composer, a task runs against the
loopback OpenAI-compatible server, its write waits on an approval card, the card's
Approve button is clicked, the file changes on disk, and the Workspace view (open on
that file) shows the new content."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from cairn.app.context import AppContext
from cairn.app.views.tasks import TasksView
from cairn.app.views.workspace import WorkspaceView
from cairn.app.window import MainWindow
from cairn.testing.openai_stub import OpenAIStub
from tests.app.test_tasks_view import KEY, NOTES, approval_card, click, wait_done
from tests.stub_workspace import point_at

pytestmark = pytest.mark.timeout(240)


def test_a_task_in_the_window_writes_a_file_once_approved(
    qtbot: QtBot, app_workspace: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (app_workspace / NOTES).write_text("Old note.\n")
    with OpenAIStub() as stub:
        point_at(app_workspace, stub.base_url, tiny_model_path)
        stub.state.script = [
            {"name": "read_file", "arguments": {"path": NOTES}},
            {"name": "write_file", "arguments": {"path": NOTES, "content": "Ship it.\n"}},
            "Updated the note.",
        ]
        context = AppContext(app_workspace, run_automations=False)
        window = MainWindow(context)
        qtbot.addWidget(window)
        window.show()
        with qtbot.waitSignal(context.loaded, timeout=15_000):
            context.start()
        try:
            files = window.show_view("Workspace")
            assert isinstance(files, WorkspaceView) and files.open(NOTES)
            qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
            tasks = window.current_view()
            assert isinstance(tasks, TasksView)
            tasks.space.setCurrentText("team")
            tasks.request.setPlainText("Update the team note")
            click(qtbot, tasks.run_button)
            card = approval_card(qtbot, tasks)
            assert "-Old note." in card.preview.toPlainText()
            assert (app_workspace / NOTES).read_text() == "Old note.\n"
            click(qtbot, card.approve_button)
            wait_done(qtbot, tasks)
            assert (app_workspace / NOTES).read_text() == "Ship it.\n"
            qtbot.waitUntil(lambda: files.editor.toPlainText() == "Ship it.\n", timeout=10_000)
        finally:
            window.shutdown()
