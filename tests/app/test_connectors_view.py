"""The Connectors page over the starter workspace, offscreen: the example connector listed
(turned off, nothing started), its tools shown with the rule each meets, a test call made
— the folder server running for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from cairn.app.context import AppContext
from cairn.app.views.connectors import ConnectorsView

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def view(qtbot: QtBot, app_workspace: Path) -> Iterator[ConnectorsView]:
    inbox = app_workspace / "spaces" / "chief-of-staff" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "renewal.md").write_text("Acme renewal: call Dana before Friday.\n")
    context = AppContext(app_workspace, run_automations=False)
    view = ConnectorsView(context)
    qtbot.addWidget(view)
    with qtbot.waitSignal(context.loaded, timeout=15_000):
        context.start()
    yield view
    view.shutdown()
    context.close()


def cell(table: object, row: int, column: int) -> str:
    item = table.item(row, column)  # type: ignore[attr-defined]
    return item.text() if item is not None else ""


def test_the_example_is_listed_and_its_tools_shown_with_their_rules(
    qtbot: QtBot, view: ConnectorsView, app_workspace: Path
) -> None:
    assert view.names == ["notes-folder"]
    assert cell(view.table, 0, 1) == "private" and cell(view.table, 0, 4) == "turned off"
    assert not view.tools_button.isEnabled()  # nothing chosen yet
    view.select("notes-folder")
    view.tools_button.click()
    qtbot.waitUntil(lambda: view.tools.rowCount() == 3, timeout=60_000)
    rows = {cell(view.tools, r, 0): cell(view.tools, r, 2) for r in range(3)}
    assert rows["notes-folder.search"] == "allow (declared read-only by its server)"
    qtbot.waitUntil(view.tools_button.isEnabled, timeout=10_000)
    view.test_button.click()
    qtbot.waitUntil(lambda: "renewal.md" in view.result.toPlainText(), timeout=60_000)
    assert view.message.text() == "✔ notes-folder.list_files"
