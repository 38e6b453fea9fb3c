"""Settings → Improve, offscreen, over a starter workspace pointed at a scripted loopback
model: evals run from the panel, a cycle leaves a proposal waiting with its diff, Accept
applies it and Roll back restores agents.md byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cairn.app.bridge import EventWorker
from cairn.app.views.settings import SettingsView
from cairn.testing.openai_stub import OpenAIStub
from tests.improve.scripted import IMPROVING, READ_FIRST, edit, scripted_model, write_cases
from tests.stub_workspace import stub_workspace


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-improve-app-000000")
    with OpenAIStub() as running:
        yield running


@pytest.fixture
def app_workspace(tmp_path: Path, tiny_model_path: Path, stub: OpenAIStub) -> Path:
    root = stub_workspace(tmp_path, stub.base_url, tiny_model_path, automations=False)
    write_cases(root)
    return root


@pytest.fixture
def view(settings_view: SettingsView) -> SettingsView:
    return settings_view


def finish(qtbot: QtBot, worker: EventWorker) -> None:
    with qtbot.waitSignal(worker.finished, timeout=120_000) as blocker:
        pass
    assert blocker.args == [None], blocker.args


def test_evals_run_from_the_panel(qtbot: QtBot, view: SettingsView, stub: OpenAIStub) -> None:
    stub.state.respond = scripted_model([])
    panel = view.improve
    worker = panel.run_evals()
    assert not panel.eval_button.isEnabled() and panel.stop_button.isEnabled()
    finish(qtbot, worker)
    assert panel.message.text().startswith("Evals: 25% passed (1 of 4 runs)")
    assert panel.progress.text().startswith("[4/4] team/what-the-readme-says: failed")
    assert panel.eval_button.isEnabled() and not panel.stop_button.isEnabled()


def test_a_kept_proposal_is_accepted_and_rolled_back(
    qtbot: QtBot, view: SettingsView, stub: OpenAIStub, app_workspace: Path
) -> None:
    agents = app_workspace / "agents.md"
    original = agents.read_bytes()
    stub.state.respond = scripted_model([edit(IMPROVING)])
    panel = view.improve
    finish(qtbot, panel.run_cycle())
    assert "1 kept for you" in panel.message.text()
    assert panel.proposals.topLevelItemCount() == 1
    shown = panel.diff.toPlainText()
    assert f"+You are Cairn. Be brief. {READ_FIRST}" in shown
    assert "team/what-the-readme-says (held-out): 0/1 passed" in shown
    assert agents.read_bytes() == original  # nothing changes until Accept

    panel.accept_button.click()
    assert agents.read_bytes() == original.replace(b"Be brief.", f"Be brief. {READ_FIRST}".encode())
    assert panel.proposals.topLevelItemCount() == 0
    row = panel.applied.topLevelItem(0)
    assert row is not None and row.text(1) == "agents.md" and row.text(3) == "applied"

    panel.applied.setCurrentItem(row)
    panel.rollback_button.click()
    assert agents.read_bytes() == original
    row = panel.applied.topLevelItem(0)
    assert row is not None and row.text(3) == "rolled back"
    assert not panel.rollback_button.isEnabled()
    assert "Rolled back" in panel.message.text()
