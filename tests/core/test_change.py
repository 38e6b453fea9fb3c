"""A pending write is shown as the change it would make to the file on disk now."""

from __future__ import annotations

from pathlib import Path

from cairn.core.tasks.change import change_lines, pending_change
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore


def test_a_replaced_file_is_a_diff_and_a_new_file_a_diff_from_nothing() -> None:
    replaced = change_lines("write_file", "a.md", "one\ntwo\n", {"content": "one\nthree\n"})
    assert replaced[:2] == ["--- a/a.md", "+++ b/a.md"]
    assert "-two" in replaced and "+three" in replaced and " one" in replaced
    new = change_lines("write_file", "b.md", None, {"content": "hello\n"})
    assert new[0] == "--- /dev/null" and new[-1] == "+hello"


def test_an_append_shows_its_lines_and_other_tools_nothing() -> None:
    assert change_lines("append_file", "a.md", "x\n", {"text": "p\nq"}) == ["+p", "+q"]
    assert change_lines("read_file", "a.md", "x", {}) == []


def test_long_changes_are_cut_with_a_count() -> None:
    shown = change_lines("append_file", "a.md", None, {"text": "x\n" * 10}, limit=4)
    assert shown == ["+x"] * 4 + ["[… 6 more lines]"]


def test_pending_change_reads_the_file_as_it_is_now(starter: Path) -> None:
    model = WorkspaceModel(LocalFileStore(starter))
    model.load()
    readme = "spaces/team/readme.md"
    first = (starter / readme).read_text().splitlines()[0]
    shown = pending_change(model, "write_file", readme, {"content": "Replaced.\n"})
    assert f"-{first}" in shown and "+Replaced." in shown
    assert pending_change(model, "write_file", "spaces/team/new.md", {"content": "x"})[0] == (
        "--- /dev/null"
    )
    assert pending_change(model, "write_file", "../outside.md", {"content": "x"}) == []
    assert pending_change(model, "read_file", readme, {}) == []
