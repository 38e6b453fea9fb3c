"""The Settings view over a real starter workspace, offscreen: a GGUF named in agents.md, a
pull from the loopback Hub with its progress, a one-line try of the tiny GGUF, a key into
the (in-memory) keychain that no widget shows afterwards, and budgets and routing written
value by value, every other byte of agents.md kept."""

from __future__ import annotations

import difflib
import socket
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableWidget,
    QTreeWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from cairn.app.bridge import EventWorker
from cairn.app.context import AppContext
from cairn.app.views.settings import SettingsView
from cairn.testing.hub_stub import HubStub
from cairn.testing.memory_keyring import FILE_ENV, SELECTOR, MemoryKeyring

KEY = "sk-settingsLEAKcanary-Jq83Zr1WvB5mK0pT7nY2d9c4e"
REPO_ID = "cairn-test/Tiny-GGUF"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The test keychain, a models folder of this test's own, and no real Hub."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", SELECTOR)
    monkeypatch.delenv(FILE_ENV, raising=False)
    MemoryKeyring.clear()
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with socket.socket() as sock:  # a loopback port nobody serves: never the real Hub
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{sock.getsockname()[1]}")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def view(settings_view: SettingsView) -> SettingsView:
    return settings_view


def finish(qtbot: QtBot, worker: EventWorker | None, timeout: int = 60_000) -> None:
    assert worker is not None
    with qtbot.waitSignal(worker.finished, timeout=timeout) as blocker:
        pass
    assert blocker.args == [None], blocker.args


def added_lines(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`, failing if it removed or changed any."""
    diff = list(difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)))
    assert not [line for line in diff if line.startswith("- ")], "a line was changed"
    return [line[2:] for line in diff if line.startswith("+ ")]


def every_text(root: QWidget) -> str:
    """Whatever any widget under `root` shows or holds: labels, fields, lists, tooltips."""
    texts: list[str] = []
    for widget in [root, *root.findChildren(QWidget)]:
        texts += [widget.toolTip(), widget.accessibleName(), widget.windowTitle()]
        if isinstance(widget, QLabel | QLineEdit | QAbstractButton):
            texts.append(widget.text())
        if isinstance(widget, QPlainTextEdit):
            texts.append(widget.toPlainText())
        if isinstance(widget, QComboBox):
            texts += [widget.itemText(i) for i in range(widget.count())]
        if isinstance(widget, QTreeWidget):
            for i in range(widget.topLevelItemCount()):
                item = widget.topLevelItem(i)
                texts += [item.text(c) for c in range(widget.columnCount())] if item else []
        if isinstance(widget, QTableWidget):
            for r in range(widget.rowCount()):
                for c in range(widget.columnCount()):
                    cell = widget.item(r, c)
                    texts.append(cell.text() if cell else "")
    return "\n".join(texts)


def test_adding_a_gguf_names_it_in_agents_md_and_keeps_the_comments(
    qtbot: QtBot, view: SettingsView, app_workspace: Path, tiny_model_path: Path
) -> None:
    agents = app_workspace / "agents.md"
    before = agents.read_text(encoding="utf-8")
    finish(qtbot, view.models.add_gguf(tiny_model_path))
    after = agents.read_text(encoding="utf-8")
    added = added_lines(before, after)
    assert "  tiny:\n" in added and f"    path: {tiny_model_path}\n" in added
    assert "Added tiny to agents.md" in view.models.message.text()
    qtbot.waitUntil(
        lambda: view.models.models.findItems("tiny", Qt.MatchFlag.MatchExactly) != [],
        timeout=10_000,
    )
    # The same file again: named already, nothing written.
    finish(qtbot, view.models.add_gguf(tiny_model_path))
    assert agents.read_text(encoding="utf-8") == after
    assert "tiny is already in agents.md" in view.models.message.text()


def test_pull_reports_progress_and_adds_the_model(
    qtbot: QtBot,
    view: SettingsView,
    app_workspace: Path,
    tiny_model_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    data = tiny_model_path.read_bytes()
    agents = app_workspace / "agents.md"
    before = agents.read_text(encoding="utf-8")
    seen: list[tuple[int, int]] = []
    view.models.pull_progress.connect(lambda done, total: seen.append((done, total)))
    with HubStub() as hub:
        hub.add_file(REPO_ID, "tiny.gguf", data)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        finish(qtbot, view.models.pull(f"{REPO_ID}/tiny.gguf"))
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert (tmp_path / "models" / "tiny.gguf").read_bytes() == data
    added = added_lines(before, agents.read_text(encoding="utf-8"))
    assert "  tiny:\n" in added and "    path: tiny.gguf\n" in added
    assert "sha256 checked; added to agents.md" in view.models.pull_status.text()
    assert view.models.progress.isHidden()


def test_a_pull_can_be_cancelled_and_changes_nothing(
    qtbot: QtBot,
    view: SettingsView,
    app_workspace: Path,
    tiny_model_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    agents = app_workspace / "agents.md"
    before = agents.read_bytes()
    with HubStub() as hub:
        hub.add_file(REPO_ID, "tiny.gguf", tiny_model_path.read_bytes())
        hub.state.hang_api_s = 1.0  # the Hub is slow to answer: Cancel comes first
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        worker = view.models.pull(f"{REPO_ID}/tiny.gguf")
        assert worker is not None and view.models.cancel_pull_button.isEnabled()
        view.models.cancel_pull_button.click()
        with qtbot.waitSignal(worker.finished, timeout=30_000) as blocker:
            pass
    assert "PullCancelled" in str(blocker.args[0])
    assert view.models.pull_status.text().startswith("Not pulled: stopped")
    assert view.models.pull_button.isEnabled()
    assert agents.read_bytes() == before
    assert not (tmp_path / "models" / "tiny.gguf").exists()


def test_trying_the_tiny_gguf_shows_an_answer(
    qtbot: QtBot, view: SettingsView, tiny_model_path: Path
) -> None:
    finish(qtbot, view.models.add_gguf(tiny_model_path))
    with qtbot.waitSignal(view.models.answered, timeout=60_000) as answered:
        worker = view.models.try_model("tiny", "Say hello.")
        assert worker is not None
    assert not worker.running  # `answered` comes with the end of the job
    assert view.models.answer.toPlainText().strip()
    assert answered.args[0].startswith("tiny: ") and "tokens in" in answered.args[0]
    assert view.models.summary.text() == answered.args[0]


def test_a_key_is_stored_and_never_shown_again(qtbot: QtBot, view: SettingsView) -> None:
    from cairn.infra.keychain import KeyStore

    keys = view.keys
    assert keys.key_field.echoMode() == QLineEdit.EchoMode.Password
    keys.provider.setCurrentText("openai")
    keys.key_field.setText(KEY)
    worker = keys.store_key()
    assert keys.key_field.text() == ""  # cleared before the keychain is even asked
    assert not keys.key_field.isUndoAvailable()  # and not to be had back with Ctrl+Z
    finish(qtbot, worker)
    resolved = KeyStore().get("openai")
    assert resolved is not None and resolved.value == KEY
    qtbot.waitUntil(lambda: keys.keys.topLevelItemCount() > 0, timeout=10_000)
    assert "sk-…9c4e" in keys.message.text()
    shown = every_text(view)
    assert KEY not in shown and KEY[3:12] not in shown
    assert "sk-…9c4e" in shown  # the masked hint is all there is


def test_delete_deletes_the_key_shown_after_asking(
    qtbot: QtBot, view: SettingsView, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from cairn.infra.keychain import KeyStore

    keys = view.keys
    for provider in ("openai", "anthropic"):
        keys.provider.setCurrentText(provider)
        keys.key_field.setText(f"sk-{provider}-" + "1234567890" * 3)
        finish(qtbot, keys.store_key())
    qtbot.waitUntil(lambda: keys.keys.topLevelItemCount() >= 2, timeout=10_000)
    row = next(
        keys.keys.topLevelItem(i)
        for i in range(keys.keys.topLevelItemCount())
        if keys.keys.topLevelItem(i).text(0) == "openai"  # type: ignore[union-attr]
    )
    keys.keys.setCurrentItem(row)
    assert keys.provider.currentText() == "openai"  # the chosen row names its provider
    keys.provider.setCurrentText("anthropic")  # then the person picks another: that one goes
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    assert keys.delete_key() is None and KeyStore().get("anthropic") is not None
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    finish(qtbot, keys.delete_key())
    assert KeyStore().get("anthropic") is None and KeyStore().get("openai") is not None


def test_budgets_change_only_their_values(
    qtbot: QtBot, view: SettingsView, app_workspace: Path
) -> None:
    agents = app_workspace / "agents.md"
    before = agents.read_text(encoding="utf-8")
    forms = view.policy
    assert forms.limits["task", "usd"].text() == "0.5"
    forms.limits["task", "usd"].setText("1.25")
    forms.limits["automation_run", "minutes"].setText("")  # no limit
    forms.limits["day", "minutes"].setText("90")
    assert forms.save_budgets()
    after = agents.read_text(encoding="utf-8")
    assert after == before.replace(
        "  task: {tokens: 200000, usd: 0.50, minutes: 20}",
        "  task: {tokens: 200000, usd: 1.25, minutes: 20}",
    ).replace(
        "  automation_run: {tokens: 100000, usd: 0.20, minutes: 10}",
        "  automation_run: {tokens: 100000, usd: 0.20}",
    ).replace(
        "  day: {tokens: 2000000, usd: 5.00}", "  day: {tokens: 2000000, usd: 5.00, minutes: 90}"
    )
    assert "# warn when 80% of any budget is used" in after
    forms.limits["task", "tokens"].setText("lots")
    assert not forms.save_budgets()
    assert "tokens must be a whole number" in forms.message.text()
    assert agents.read_text(encoding="utf-8") == after


def test_roles_and_routing_change_only_their_values(
    qtbot: QtBot, view: SettingsView, app_workspace: Path
) -> None:
    agents = app_workspace / "agents.md"
    before = agents.read_text(encoding="utf-8")
    forms = view.policy
    rows = {forms.roles.item(r, 0).text(): r for r in range(forms.roles.rowCount())}
    forms.roles.item(rows["local"], 1).setText("local-starter")
    route = {forms.routing.item(r, 0).text(): r for r in range(forms.routing.rowCount())}
    box = forms.routing.cellWidget(route["approval"], 1)
    assert isinstance(box, QComboBox) and box.currentText() == "gate"
    box.setCurrentText("local")
    assert forms.save_routing()
    after = agents.read_text(encoding="utf-8")
    assert after == before.replace(
        "  local: [local-small, local-starter]   # never leaves this machine",
        "  local: [local-starter]   # never leaves this machine",
    ).replace("  approval: gate\n", "  approval: local\n")

    # A role naming a model agents.md does not define is refused, and nothing is written.
    forms.roles.item(rows["fast"], 1).setText("no-such-model")
    assert not forms.save_routing()
    assert "no-such-model" in forms.message.text()
    assert agents.read_text(encoding="utf-8") == after


def test_a_save_is_refused_when_agents_md_changed_on_disk(
    qtbot: QtBot, view: SettingsView, app_workspace: Path
) -> None:
    agents = app_workspace / "agents.md"
    forms = view.policy
    forms.limits["task", "usd"].clear()
    qtbot.keyClicks(forms.limits["task", "usd"], "2")
    assert forms.edited == {"budgets"}
    theirs = agents.read_text(encoding="utf-8").replace("name: Cairn", "name: Theirs")
    agents.write_text(theirs, encoding="utf-8")
    qtbot.waitUntil(lambda: not forms.conflict.isHidden(), timeout=10_000)
    assert not forms.save_budgets()
    assert agents.read_text(encoding="utf-8") == theirs
    assert "changed on disk" in forms.conflict_text.text()
    forms.reload()
    assert forms.limits["task", "usd"].text() == "0.5" and forms.conflict.isHidden()


def test_a_model_added_here_does_not_block_unsaved_budgets(
    qtbot: QtBot, view: SettingsView, app_workspace: Path, tiny_model_path: Path
) -> None:
    forms = view.policy
    forms.limits["day", "usd"].clear()
    qtbot.keyClicks(forms.limits["day", "usd"], "7.5")
    finish(qtbot, view.models.add_gguf(tiny_model_path))
    assert forms.save_budgets(), forms.message.text()
    text = (app_workspace / "agents.md").read_text(encoding="utf-8")
    assert "  day: {tokens: 2000000, usd: 7.5}" in text and "  tiny:\n" in text


def test_keep_running_when_closed_is_an_app_setting(view: SettingsView) -> None:
    from cairn.app.window import settings

    view.keep_running.setChecked(True)
    assert str(settings().value("automations/keep_running_when_closed")).lower() == "true"
    view.keep_running.setChecked(False)
    assert str(settings().value("automations/keep_running_when_closed")).lower() == "false"


def test_every_control_has_an_accessible_name(view: SettingsView) -> None:
    controls = (QAbstractButton, QLineEdit, QComboBox, QTreeWidget, QTableWidget, QPlainTextEdit)
    unnamed = [
        type(w).__name__
        for w in view.findChildren(QWidget)
        if isinstance(w, controls)
        and not w.accessibleName()
        and not w.objectName().startswith("qt_")  # Qt's own parts: a table's corner button
        and not isinstance(w.parent(), QComboBox)  # an editable combo's line: the combo's name
    ]
    assert not unnamed


def test_before_the_workspace_loads_it_says_so(qtbot: QtBot, app_workspace: Path) -> None:
    context = AppContext(app_workspace, run_automations=False)
    view = SettingsView(context)
    qtbot.addWidget(view)
    assert view.stack.currentWidget() is view.loading
    with qtbot.waitSignal(context.loaded, timeout=15_000):
        context.start()
    assert view.stack.currentWidget() is view.tabs
    view.shutdown()
    context.close()


def test_the_appearance_can_be_dark_light_or_the_systems(view: SettingsView) -> None:
    from PySide6.QtWidgets import QApplication

    from cairn.app.theme import SCHEME_KEY, apply_scheme, is_dark, text_colour
    from cairn.app.window import settings

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert view.appearance.currentData() == "system" and not is_dark()
    light_error = text_colour("error")
    try:
        view.appearance.setCurrentIndex(view.appearance.findData("dark"))
        assert is_dark() and settings().value(SCHEME_KEY) == "dark"
        # A state's text colour is lightened to stay readable on the dark window.
        assert text_colour("error").lightness() > light_error.lightness()
        view.appearance.setCurrentIndex(view.appearance.findData("light"))
        assert not is_dark() and settings().value(SCHEME_KEY) == "light"
        view.appearance.setCurrentIndex(view.appearance.findData("system"))
        assert not is_dark() and settings().value(SCHEME_KEY) == "system"
    finally:
        apply_scheme(app, "system")  # the application is shared by every test
