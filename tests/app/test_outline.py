"""The Workspace view's outline over a real starter workspace: spaces with their scope,
skills, operators and automations; a row opens its file; edits made on disk (a paused
automation, a broken file, a new space) show live."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from cairn.app.theme import badge_colour
from cairn.app.views.outline import OutlineRow, outline_rows
from cairn.app.views.workspace import WorkspaceView
from cairn.app.window import MainWindow
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore


def rows_by_label(rows: list[OutlineRow]) -> dict[str, OutlineRow]:
    return {row.label: row for row in rows}


def test_the_outline_groups_the_model_with_scope_badges(starter: Path) -> None:
    model = WorkspaceModel(LocalFileStore(starter))
    model.load()
    top = rows_by_label(outline_rows(model.workspace))
    assert list(top) == ["Instructions", "Spaces", "Skills", "Operators", "Automations"]
    spaces = rows_by_label(top["Spaces"].children)
    assert spaces["chief-of-staff"].badge_kind == "private"
    assert spaces["team"].badge_kind == "team"
    assert spaces["company"].badge_kind == "company"
    assert "stays on local models" in spaces["chief-of-staff"].tip
    # Each space row opens its readme; the row's children name what belongs to it.
    assert spaces["team"].path == "spaces/team/readme.md"
    assert spaces["team"].children[0].label == "readme"
    skills = {row.label for row in top["Skills"].children}
    assert {"morning-brief", "weekly-review"} <= skills
    assert top["Skills"].badge == str(len(top["Skills"].children))
    automations = rows_by_label(top["Automations"].children)
    assert automations["inbox-scan"].path == "automations/inbox-scan.md"
    assert top["Instructions"].children[0].path == "agents.md"


def test_problems_and_paused_automations_are_badged(starter: Path) -> None:
    automation = starter / "automations" / "weekly-review.md"
    automation.write_text(automation.read_text().replace("enabled: true", "enabled: false"))
    (starter / "automations" / "broken.md").write_text('---\nschedule: "61 7 * * *"\n---\nx\n')
    model = WorkspaceModel(LocalFileStore(starter))
    model.load()
    top = rows_by_label(outline_rows(model.workspace))
    assert rows_by_label(top["Automations"].children)["weekly-review"].badge == "paused"
    # A file too broken to load still shows, with its error.
    broken = rows_by_label(top["Not loaded"].children)["automations/broken.md"]
    assert broken.badge_kind == "error" and broken.path == "automations/broken.md"
    assert broken.tip


def test_a_row_opens_its_file_and_the_outline_follows_the_disk(
    qtbot: QtBot, window: MainWindow, app_workspace: Path
) -> None:
    view = window.show_view("Workspace")
    assert isinstance(view, WorkspaceView)
    team = view.outline.row("team")
    assert team is not None and team.text(1) == "team"
    assert team.background(1).color() == badge_colour("team")
    view.outline._chosen(team)
    assert view.path == "spaces/team/readme.md"

    # A new private space made in another editor appears with its badge.
    research = app_workspace / "spaces" / "research"
    research.mkdir()
    (research / "readme.md").write_text("---\nscope: private\n---\n# Research\n")
    qtbot.waitUntil(lambda: view.outline.row("research") is not None, timeout=10_000)
    row = view.outline.row("research")
    assert row is not None and row.text(1) == "private"
    # Pausing an automation on disk turns its badge to paused, groups stay open.
    spaces = view.outline.row("Spaces")
    assert spaces is not None and spaces.isExpanded()
    automation = app_workspace / "automations" / "inbox-scan.md"
    automation.write_text(automation.read_text().replace("enabled: true", "enabled: false"))
    qtbot.waitUntil(
        lambda: (item := view.outline.row("inbox-scan")) is not None and item.text(1) == "paused",
        timeout=10_000,
    )
