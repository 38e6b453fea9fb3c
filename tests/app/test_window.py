"""The main window over a real starter workspace, offscreen: loading off the UI thread,
the Workspace view's editor (safe saves, live reload, conflicts), diagnostics, and a
clean shutdown that leaves no thread behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cairn.app.views.workspace import WorkspaceView
from cairn.app.window import MainWindow

README = "spaces/team/readme.md"


def workspace_view(window: MainWindow) -> WorkspaceView:
    view = window.show_view("Workspace")
    assert isinstance(view, WorkspaceView)
    return view


def test_the_window_loads_the_workspace_and_says_so(window: MainWindow) -> None:
    assert window.windowTitle().startswith("Cairn — ")
    assert "automation(s)" in window._status.text()
    assert all(view.accessibleName() for view in window.views.values())


def test_edit_and_save_goes_through_the_safe_writer(
    qtbot: QtBot, window: MainWindow, app_workspace: Path
) -> None:
    view = workspace_view(window)
    assert view.open(README)
    view.editor.appendPlainText("A line from the app.")
    assert view.save()
    assert (app_workspace / README).read_text().rstrip().endswith("A line from the app.")
    assert not view.save_button.isEnabled()


def test_an_outside_edit_reloads_a_clean_editor(
    qtbot: QtBot, window: MainWindow, app_workspace: Path
) -> None:
    view = workspace_view(window)
    view.open(README)
    (app_workspace / README).write_text("# Team\n\nEdited elsewhere.\n")
    qtbot.waitUntil(lambda: "Edited elsewhere." in view.editor.toPlainText(), timeout=10_000)


def test_a_conflict_keeps_my_edits_and_offers_the_choices(
    qtbot: QtBot, window: MainWindow, app_workspace: Path
) -> None:
    view = workspace_view(window)
    view.open(README)
    view.editor.appendPlainText("Mine.")
    (app_workspace / README).write_text("# Team\n\nTheirs.\n")
    qtbot.waitUntil(view.conflict.isVisible, timeout=10_000)
    assert not view.save()  # refused: the disk changed
    assert (app_workspace / README).read_text() == "# Team\n\nTheirs.\n"
    view.keep_copy()
    # The readme is a file Cairn loads: its copy is text, so it loads no second space.
    copy = app_workspace / "spaces/team/readme (my copy).md.txt"
    assert copy.read_text().endswith("Mine.")
    assert "Theirs." in view.editor.toPlainText()


def test_a_diagnostic_opens_its_file_at_its_line(
    qtbot: QtBot, window: MainWindow, app_workspace: Path
) -> None:
    view = workspace_view(window)
    bad = app_workspace / "automations" / "broken.md"
    bad.write_text('---\nschedule: "61 7 * * *"\nspace: team\n---\nBody.\n')
    qtbot.waitUntil(
        lambda: any(
            "broken.md" in view.diagnostics.item(i).text() for i in range(view.diagnostics.count())
        ),
        timeout=10_000,
    )
    item = next(
        view.diagnostics.item(i)
        for i in range(view.diagnostics.count())
        if "broken.md" in view.diagnostics.item(i).text()
    )
    view._open_diagnostic(item)
    assert view.path == "automations/broken.md"
    assert view.editor.textCursor().blockNumber() >= 1


def test_screenshot_mode_saves_the_loaded_window(tmp_path: Path, app_workspace: Path) -> None:
    out = tmp_path / "window.png"
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "app", str(app_workspace), "--screenshot", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saving_keeps_line_endings_and_non_breaking_spaces(
    window: MainWindow, app_workspace: Path
) -> None:
    view = workspace_view(window)
    target = app_workspace / "spaces/team/drafts/crlf.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes("# Title\r\n\r\nTen\u00a0km away.\r\n".encode())
    assert view.open("spaces/team/drafts/crlf.md")
    view.editor.appendPlainText("More.")
    assert view.save()
    assert target.read_bytes() == "# Title\r\n\r\nTen\u00a0km away.\r\n\r\nMore.".encode()


def test_a_file_that_is_not_utf8_is_shown_read_only(
    window: MainWindow, app_workspace: Path
) -> None:
    view = workspace_view(window)
    target = app_workspace / "spaces/team/drafts/latin1.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes("Caf\u00e9 notes\n".encode("latin-1"))
    assert view.open("spaces/team/drafts/latin1.md")
    assert view.editor.isReadOnly() and "not UTF-8" in view.message.text()
    assert not view.save()
    assert target.read_bytes() == "Caf\u00e9 notes\n".encode("latin-1")


def test_unsaved_edits_are_never_dropped_by_opening_another_file(
    qtbot: QtBot, window: MainWindow, app_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    view = workspace_view(window)
    view.open(README)
    view.editor.appendPlainText("Unsaved line.")
    answers: list[QMessageBox.StandardButton] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: answers.pop(0))
    answers.append(QMessageBox.StandardButton.Cancel)
    assert not view.open("agents.md")  # kept: still the readme, edits and all
    assert view.path == README and "Unsaved line." in view.editor.toPlainText()
    assert view.open(README, 3)  # the same file again: only moves, never asks
    answers.append(QMessageBox.StandardButton.Save)
    assert view.open("agents.md")
    assert "Unsaved line." in (app_workspace / README).read_text()
    view.editor.appendPlainText("Dropped line.")
    answers.append(QMessageBox.StandardButton.Discard)
    assert view.open(README)
    assert "Dropped line." not in (app_workspace / "agents.md").read_text()
    assert not answers


def test_saving_a_file_cairn_loads_is_not_a_conflict_and_keeps_line_endings(
    qtbot: QtBot, window: MainWindow, app_workspace: Path
) -> None:
    view = workspace_view(window)
    view.open("agents.md")
    view.editor.appendPlainText("# a comment from the app")
    assert view.save()
    qtbot.wait(300)  # the model's and the file watcher's events come and go
    assert not view.conflict.isVisible()
    # CRLF is kept where the file used it throughout; a mixed file is written with LF.
    notes = app_workspace / "spaces/team/crlf.md"
    notes.write_bytes(b"one\r\ntwo\r\n")
    view.open("spaces/team/crlf.md")
    view.editor.appendPlainText("three")
    assert view.save()
    assert notes.read_bytes() == b"one\r\ntwo\r\n\r\nthree"  # appended after the last line
    notes.write_bytes(b"one\r\ntwo\n")
    view.open("spaces/team/crlf.md", discard=True)
    view.editor.appendPlainText("three")
    assert view.save()
    assert notes.read_bytes() == b"one\ntwo\n\nthree"


def test_compare_shows_the_differences(
    qtbot: QtBot, window: MainWindow, app_workspace: Path
) -> None:
    view = workspace_view(window)
    view.open(README)
    view.editor.appendPlainText("Mine.")
    view.compare()
    assert view.tabs.currentWidget() is view.preview
    assert "+Mine." in view.preview.toPlainText() and "--- on disk" in view.preview.toPlainText()
