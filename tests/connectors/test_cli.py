"""`cairn connectors list | tools | test` on a workspace with the example folder server
(`cairn connectors serve-folder`, run as Cairn runs it: `command: cairn`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn.cli.main import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def workspace(starter: Path) -> Path:
    notes = starter / "spaces" / "chief-of-staff" / "inbox"
    notes.mkdir(parents=True, exist_ok=True)
    (notes / "renewal.md").write_text("Acme renewal: call Dana before Friday.\n")
    return starter


def test_list_starts_nothing_and_shows_the_starter_example(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["connectors", "list", "--workspace", str(workspace), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["name"], row["scope"], row["enabled"]) == ("notes-folder", "private", False)
    assert not (workspace / ".cairn" / "connectors").exists()  # no server was started


def test_tools_shows_each_rule_and_test_calls_one(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The starter's example is turned off: trying it out still works.
    assert main(["connectors", "tools", "notes-folder", "--workspace", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert "notes-folder: 3 tool(s)" in out
    assert "notes-folder.search  [read-only] → allow (declared read-only by its server)" in out
    args = ["--call", "search", "--args", '{"query": "renewal"}']
    assert main(["connectors", "test", "notes-folder", "--workspace", str(workspace), *args]) == 0
    out = capsys.readouterr().out
    assert "✔ notes-folder.search" in out and "inbox/renewal.md:1: Acme renewal" in out


def test_an_unknown_connector_is_named(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connectors", "tools", "nope", "--workspace", str(workspace)]) == 2
    assert "no connector 'nope' in agents.md (connectors: notes-folder)" in capsys.readouterr().err
