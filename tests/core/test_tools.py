"""The file tools on real folders: happy paths, every refusal, confinement, conflicts."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from cairn.core.tasks.tools import (
    READ_BYTES,
    READ_CHARS,
    SEARCH_HITS,
    Tool,
    ToolEnv,
    ToolOutcome,
    file_tools,
    validate_arguments,
)
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import TEMP_MARKER, LocalFileStore
from tests.conftest import copy_starter

posix_only = pytest.mark.skipif(os.name != "posix", reason="symlinks and file modes")
TOOLS = {tool.name: tool for tool in file_tools()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return copy_starter(tmp_path / "ws")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text("outside secret\n", encoding="utf-8")
    return folder


@pytest.fixture
def env(root: Path) -> ToolEnv:
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    return ToolEnv(model, space="team")


def call(env: ToolEnv, tool: str, /, **arguments: Any) -> ToolOutcome:
    return TOOLS[tool].run(arguments, env)


def put(root: Path, path: str, text: str) -> Path:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def no_temporaries(root: Path) -> bool:
    return not any(TEMP_MARKER in p.name for p in root.rglob("*"))


# --- the tool set -----------------------------------------------------------------------------


def test_the_file_tools_and_their_schemas() -> None:
    assert list(TOOLS) == [
        "read_file",
        "list_files",
        "search",
        "load_skill",
        "write_file",
        "append_file",
    ]
    effects = {name: tool.effect for name, tool in TOOLS.items()}
    assert effects["write_file"] == effects["append_file"] == "write"
    assert {n for n, e in effects.items() if e == "read"} == {
        "read_file",
        "list_files",
        "search",
        "load_skill",
    }
    for tool in TOOLS.values():
        assert tool.parameters["type"] == "object"
        assert tool.parameters["additionalProperties"] is False
        assert set(tool.parameters["required"]) <= set(tool.parameters["properties"])
        assert tool.description
    assert TOOLS["write_file"].parameters["required"] == ["path", "content"]
    assert TOOLS["list_files"].parameters["required"] == []


def test_target_is_the_path_as_the_store_will_use_it() -> None:
    read = TOOLS["read_file"]
    assert read.target({"path": "./spaces//team/drafts/x.md"}) == "spaces/team/drafts/x.md"
    assert read.target({"path": "spaces\\team\\x.md"}) == "spaces/team/x.md"
    assert TOOLS["write_file"].target({"path": "./agents.md", "content": ""}) == "agents.md"
    assert TOOLS["list_files"].target({}) is None
    assert TOOLS["list_files"].target({"folder": "spaces/"}) == "spaces"
    assert TOOLS["search"].target({"query": "x", "folder": "."}) is None
    assert TOOLS["load_skill"].target({"name": "decision-memo"}) is None
    assert read.target({"path": 3}) is None
    # Unusable paths come back as given: no rule should mistake them for tidy ones.
    assert read.target({"path": "../x.md"}) == "../x.md"
    assert read.target({"path": ".env"}) == ".env"


def test_validate_arguments() -> None:
    write = TOOLS["write_file"]
    assert validate_arguments(write, {"path": "a.md", "content": "x"}) is None
    assert "missing required argument(s): content" in str(
        validate_arguments(write, {"path": "a.md"})
    )
    assert "must be string, not integer" in str(
        validate_arguments(write, {"path": 1, "content": "x"})
    )
    assert "must be string, not null" in str(
        validate_arguments(write, {"path": None, "content": "x"})
    )
    assert "does not take argument(s) mode" in str(
        validate_arguments(write, {"path": "a", "content": "", "mode": "w"})
    )
    assert "object of named arguments" in str(validate_arguments(write, ["a.md", "x"]))
    assert validate_arguments(TOOLS["list_files"], {}) is None

    def nothing(arguments: Any, env: ToolEnv) -> ToolOutcome:
        return ToolOutcome(True, "")

    counted = Tool(
        "count",
        "",
        {
            "type": "object",
            "properties": {"n": {"type": "integer"}, "f": {"type": "number"}},
            "required": ["n"],
        },
        "read",
        nothing,
    )
    assert validate_arguments(counted, {"n": 3, "f": 2}) is None
    assert validate_arguments(counted, {"n": 3, "f": 2.5, "extra": 1}) is None  # not closed
    assert "not boolean" in str(validate_arguments(counted, {"n": True}))
    assert "not number" in str(validate_arguments(counted, {"n": 1.5}))


def test_malformed_arguments_fail_without_raising(env: ToolEnv) -> None:
    for tool in TOOLS.values():
        outcome = tool.run({"path": 7, "folder": [], "query": None, "name": {}}, env)
        assert not outcome.ok and outcome.output


# --- read_file --------------------------------------------------------------------------------


def test_read_file(env: ToolEnv, root: Path) -> None:
    put(root, "spaces/team/drafts/note.md", "\ufeffHello\nworld\n")
    outcome = call(env, "read_file", path="./spaces/team//drafts/note.md")
    assert outcome == ToolOutcome(True, "Hello\nworld\n", "spaces/team/drafts/note.md")
    put(root, "notes.txt", "")
    assert call(env, "read_file", path="notes.txt").output == "[empty file]"


def test_read_file_truncates_long_files(env: ToolEnv, root: Path) -> None:
    put(root, "long.md", "é" * (READ_CHARS + 5_000))
    outcome = call(env, "read_file", path="long.md")
    assert outcome.ok
    assert outcome.output.startswith("é" * READ_CHARS + "\n[truncated: 5,000 more characters")
    # Larger than what is read at all: the count is a lower bound.
    (root / "huge.txt").write_bytes(b"a" * (READ_BYTES + 10))
    huge = call(env, "read_file", path="huge.txt")
    assert huge.ok and "[truncated: more than" in huge.output
    assert "huge.txt" not in env.seen  # only part of it was seen


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing.md", "there is no file missing.md"),
        ("spaces/team", "is a folder"),
        ("", "is a folder"),
        ("spaces/team/readme.md/x.md", "there is no file"),
        ("../outside/secret.md", "outside the workspace"),
        ("spaces/../../outside/secret.md", "outside the workspace"),
        ("C:/Windows/win.ini", "outside the workspace"),
        ("~/notes.md", "outside the workspace"),
        (".cairn/spend.jsonl", "hidden"),
        ("spaces/team/.env", "hidden"),
    ],
)
def test_read_file_refusals(env: ToolEnv, root: Path, path: str, message: str) -> None:
    put(root, ".cairn/spend.jsonl", "{}\n")
    put(root, "spaces/team/.env", "KEY=1\n")
    outcome = call(env, "read_file", path=path)
    assert not outcome.ok
    assert message in outcome.output


def test_read_file_refuses_binary_and_non_utf8(env: ToolEnv, root: Path) -> None:
    (root / "image.md").write_bytes(b"\x89PNG\x00\x00data")
    (root / "latin.md").write_bytes("café".encode("latin-1"))
    assert "looks binary" in call(env, "read_file", path="image.md").output
    assert "not UTF-8" in call(env, "read_file", path="latin.md").output


def test_read_file_refuses_absolute_paths(env: ToolEnv, outside: Path) -> None:
    outcome = call(env, "read_file", path=str(outside / "secret.md"))
    assert not outcome.ok and "outside the workspace" in outcome.output
    assert "outside secret" not in outcome.output


@posix_only
def test_read_file_refuses_links_leading_outside(env: ToolEnv, root: Path, outside: Path) -> None:
    (root / "spaces/team/drafts/link.md").symlink_to(outside / "secret.md")
    (root / "spaces/team/out").symlink_to(outside, target_is_directory=True)
    for path in ("spaces/team/drafts/link.md", "spaces/team/out/secret.md"):
        outcome = call(env, "read_file", path=path)
        assert not outcome.ok and "outside the workspace" in outcome.output
        assert "outside secret" not in outcome.output
        assert str(outside) not in outcome.output  # no real paths of this machine leak


# --- list_files -------------------------------------------------------------------------------


def test_list_files(env: ToolEnv, root: Path) -> None:
    put(root, ".cairn/state.json", "{}")
    put(root, ".env", "KEY=1")
    top = call(env, "list_files")
    assert top.ok and top.path is None
    lines = top.output.splitlines()
    assert {"agents.md", "spaces/", "skills/", "operators/", "automations/"} <= set(lines)
    assert not any(line.startswith(".") for line in lines)
    team = call(env, "list_files", folder="spaces/team/")
    assert team.output.splitlines() == ["spaces/team/drafts/", "spaces/team/readme.md"]
    assert team.path == "spaces/team"
    drafts = call(env, "list_files", folder="spaces/team/drafts")  # only a hidden .gitkeep
    assert drafts.ok and drafts.output == "spaces/team/drafts is empty"


def test_list_files_caps_long_listings(env: ToolEnv, root: Path) -> None:
    folder = root / "notes"
    folder.mkdir()
    for index in range(520):
        (folder / f"n{index:03}.md").write_text("x", encoding="utf-8")
    outcome = call(env, "list_files", folder="notes")
    lines = outcome.output.splitlines()
    assert len(lines) == 501 and lines[-1] == "[20 more entries not shown]"


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("nowhere", "there is no folder nowhere"),
        ("agents.md", "there is no folder agents.md"),
        ("..", "outside the workspace"),
        ("/etc", "outside the workspace"),
        (".cairn", "hidden"),
    ],
)
def test_list_files_refusals(env: ToolEnv, folder: str, message: str) -> None:
    outcome = call(env, "list_files", folder=folder)
    assert not outcome.ok and message in outcome.output


@posix_only
def test_list_files_refuses_a_link_leading_outside(env: ToolEnv, root: Path, outside: Path) -> None:
    (root / "spaces/team/out").symlink_to(outside, target_is_directory=True)
    outcome = call(env, "list_files", folder="spaces/team/out")
    assert not outcome.ok and "secret.md" not in outcome.output
    assert "spaces/team/out" not in call(env, "list_files", folder="spaces/team").output


# --- search -----------------------------------------------------------------------------------


def test_search_finds_lines_in_any_case(env: ToolEnv, root: Path) -> None:
    put(root, "spaces/team/drafts/plan.md", "# Plan\nShip the ZEBRA feature\nnothing\n")
    put(root, "notes/log.txt", "a zebra crossed\n")
    put(root, "notes/data.json", '{"zebra": 1}')
    put(root, ".cairn/trace.md", "zebra in state\n")
    put(root, "notes/.hidden/z.md", "zebra hidden\n")
    (root / "notes/blob.md").write_bytes(b"zebra\x00\x01")
    outcome = call(env, "search", query="Zebra")
    assert outcome.ok
    assert outcome.output.splitlines() == [
        "notes/log.txt:1: a zebra crossed",
        "spaces/team/drafts/plan.md:2: Ship the ZEBRA feature",
    ]
    within = call(env, "search", query="zebra", folder="spaces")
    assert within.output == "spaces/team/drafts/plan.md:2: Ship the ZEBRA feature"
    assert within.path == "spaces"
    none = call(env, "search", query="no such words anywhere")
    assert none.ok and none.output == "no matches for 'no such words anywhere'"


def test_search_caps_hits(env: ToolEnv, root: Path) -> None:
    put(root, "notes/many.md", "needle\n" * (SEARCH_HITS + 30))
    lines = call(env, "search", query="needle").output.splitlines()
    assert len(lines) == SEARCH_HITS + 1
    assert lines[0] == "notes/many.md:1: needle"
    assert lines[-1].startswith(f"[more than {SEARCH_HITS} matches")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"query": "  "}, "non-empty query"),
        ({"query": "x", "folder": "nowhere"}, "there is no folder"),
        ({"query": "x", "folder": "../.."}, "outside the workspace"),
        ({"query": "x", "folder": ".cairn"}, "hidden"),
    ],
)
def test_search_refusals(env: ToolEnv, arguments: dict[str, str], message: str) -> None:
    outcome = TOOLS["search"].run(arguments, env)
    assert not outcome.ok and message in outcome.output


@posix_only
def test_search_does_not_follow_links_outside(env: ToolEnv, root: Path, outside: Path) -> None:
    (root / "notes").mkdir()
    (root / "notes/link.md").symlink_to(outside / "secret.md")
    (root / "notes/out").symlink_to(outside, target_is_directory=True)
    outcome = call(env, "search", query="outside secret")
    assert outcome.ok and outcome.output == "no matches for 'outside secret'"


def test_search_stays_fast_on_a_thousand_files(env: ToolEnv, root: Path) -> None:
    for index in range(1_000):
        put(root, f"notes/{index % 20}/note-{index}.md", f"# Note {index}\n" + "filler\n" * 40)
    put(root, "notes/7/target.md", "the rare word quokka\n")
    started = time.perf_counter()
    outcome = call(env, "search", query="QUOKKA")
    elapsed = time.perf_counter() - started
    assert outcome.output == "notes/7/target.md:1: the rare word quokka"
    assert elapsed < 2.0, f"search took {elapsed:.2f}s"


# --- load_skill -------------------------------------------------------------------------------


def test_load_skill_returns_body_and_bundled_files(env: ToolEnv) -> None:
    outcome = call(env, "load_skill", name="decision-memo")
    skill = env.workspace.find_skill("decision-memo")
    assert skill is not None
    assert outcome.ok and outcome.path == skill.path
    assert skill.body.strip() in outcome.output
    assert "- skills/decision-memo/references/memo-template.md" in outcome.output
    assert env.seen[skill.path] == skill.content_hash


def test_load_skill_prefers_the_space_skill(env: ToolEnv, root: Path) -> None:
    put(
        root,
        "spaces/team/skills/morning-brief/SKILL.md",
        "---\nname: morning-brief\ndescription: The team's own brief.\n---\nTeam steps.\n",
    )
    env.model.refresh(["spaces/team/skills"])
    outcome = call(env, "load_skill", name="morning-brief")
    assert outcome.ok and "Team steps." in outcome.output
    assert "- (none)" in outcome.output
    elsewhere = ToolEnv(env.model, space="company")
    assert "Team steps." not in call(elsewhere, "load_skill", name="morning-brief").output


def test_load_skill_unknown_lists_what_exists(env: ToolEnv) -> None:
    outcome = call(env, "load_skill", name="no-such-skill")
    assert not outcome.ok
    assert "no skill named 'no-such-skill'" in outcome.output
    assert "decision-memo" in outcome.output and "morning-brief" in outcome.output


# --- write_file -------------------------------------------------------------------------------


def test_write_file_creates_and_replaces(env: ToolEnv, root: Path) -> None:
    created = call(env, "write_file", path="spaces/team/drafts/new.md", content="one\ntwo\n")
    assert created == ToolOutcome(
        True, "created spaces/team/drafts/new.md (2 lines)", "spaces/team/drafts/new.md", True
    )
    assert (root / "spaces/team/drafts/new.md").read_text(encoding="utf-8") == "one\ntwo\n"
    # The task's own writes are its base for the next one: no conflict with itself.
    replaced = call(env, "write_file", path="spaces/team/drafts/new.md", content="three")
    assert replaced.ok and replaced.changed and replaced.output.startswith("replaced")
    assert (root / "spaces/team/drafts/new.md").read_text(encoding="utf-8") == "three"
    same = call(env, "write_file", path="spaces/team/drafts/new.md", content="three")
    assert same.ok and not same.changed
    assert no_temporaries(root)


def test_write_file_is_in_the_model_at_once(env: ToolEnv) -> None:
    text = "---\nname: tidy-up\ndescription: Tidy a folder.\n---\nSteps.\n"
    outcome = call(env, "write_file", path="skills/tidy-up/SKILL.md", content=text)
    assert outcome.ok and outcome.changed
    skill = env.workspace.skills["tidy-up"]
    assert skill.body == "Steps.\n"
    # The watcher's later event finds nothing new: Cairn's own write is not echoed.
    assert env.model.refresh(["skills/tidy-up/SKILL.md"]).changes == ()


def test_write_file_reports_problems_in_model_files(env: ToolEnv) -> None:
    outcome = call(env, "write_file", path="skills/broken/SKILL.md", content="---\nname: [\n---\n")
    assert outcome.ok and "error: " in outcome.output


def test_write_after_an_external_edit_of_what_was_read_is_refused(env: ToolEnv, root: Path) -> None:
    note = put(root, "spaces/team/drafts/note.md", "v1\n")
    assert call(env, "read_file", path="spaces/team/drafts/note.md").ok
    note.write_text("edited by the user\n", encoding="utf-8")
    outcome = call(env, "write_file", path="spaces/team/drafts/note.md", content="v2\n")
    assert not outcome.ok and "changed on disk" in outcome.output
    assert note.read_text(encoding="utf-8") == "edited by the user\n"
    # Reading it again gives the task the new base.
    assert call(env, "read_file", path="spaces/team/drafts/note.md").ok
    assert call(env, "write_file", path="spaces/team/drafts/note.md", content="v2\n").ok
    assert note.read_text(encoding="utf-8") == "v2\n"


def test_write_to_a_model_file_edited_before_refresh_is_refused(env: ToolEnv, root: Path) -> None:
    skill = root / "skills/morning-brief/SKILL.md"
    edited = skill.read_text(encoding="utf-8") + "\nA line the user added.\n"
    skill.write_text(edited, encoding="utf-8")  # the watcher has not caught up yet
    outcome = call(env, "write_file", path="skills/morning-brief/SKILL.md", content="replaced")
    assert not outcome.ok and "changed on disk" in outcome.output
    assert skill.read_text(encoding="utf-8") == edited
    env.model.refresh(["skills/morning-brief/SKILL.md"])
    assert call(env, "write_file", path="skills/morning-brief/SKILL.md", content=edited).ok


class RacingStore(LocalFileStore):
    """An editor saves the file between the tool's read and its write."""

    def write(self, path: str, data: bytes, *, base_hash: str | None) -> str:
        (self.root / path).write_text("saved by an editor meanwhile\n", encoding="utf-8")
        return super().write(path, data, base_hash=base_hash)


@pytest.mark.parametrize("tool", ["write_file", "append_file"])
def test_a_save_racing_the_write_is_refused(root: Path, tool: str) -> None:
    put(root, "spaces/team/drafts/note.md", "v1\n")
    model = WorkspaceModel(RacingStore(root))
    model.load()
    env = ToolEnv(model)
    text_key = "content" if tool == "write_file" else "text"
    outcome = TOOLS[tool].run({"path": "spaces/team/drafts/note.md", text_key: "mine\n"}, env)
    assert not outcome.ok and "changed on disk" in outcome.output
    note = root / "spaces/team/drafts/note.md"
    assert note.read_text(encoding="utf-8") == "saved by an editor meanwhile\n"
    assert no_temporaries(root)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (".cairn/approvals/pending/x.json", "hidden"),
        (".cairn", "hidden"),
        ("spaces/team/.env", "hidden"),
        (".gitignore", "hidden"),
        ("../escaped.md", "outside the workspace"),
        ("spaces/team/../../../escaped.md", "outside the workspace"),
        ("D:escaped.md", "outside the workspace"),
        ("spaces/team", "is a folder"),
        ("", "is a folder"),
        ("AGENTS.md", "differs only in case from the existing 'agents.md'"),
        ("Spaces/team/drafts/x.md", "differs only in case from the existing 'spaces'"),
    ],
)
@pytest.mark.parametrize("tool", ["write_file", "append_file"])
def test_write_refusals(env: ToolEnv, root: Path, tool: str, path: str, message: str) -> None:
    before = sorted(p.relative_to(root.parent) for p in root.parent.rglob("*"))
    text_key = "content" if tool == "write_file" else "text"
    outcome = TOOLS[tool].run({"path": path, text_key: "x"}, env)
    assert not outcome.ok and message in outcome.output and not outcome.changed
    assert sorted(p.relative_to(root.parent) for p in root.parent.rglob("*")) == before


@pytest.mark.parametrize("tool", ["write_file", "append_file"])
def test_write_refuses_absolute_paths(
    env: ToolEnv, outside: Path, tool: str, tmp_path: Path
) -> None:
    text_key = "content" if tool == "write_file" else "text"
    for target in (outside / "secret.md", tmp_path / "new.md"):
        outcome = TOOLS[tool].run({"path": str(target), text_key: "pwned"}, env)
        assert not outcome.ok and "outside the workspace" in outcome.output
    assert (outside / "secret.md").read_text(encoding="utf-8") == "outside secret\n"
    assert not (tmp_path / "new.md").exists()


@posix_only
@pytest.mark.parametrize("tool", ["write_file", "append_file"])
def test_write_refuses_links_leading_outside(
    env: ToolEnv, root: Path, outside: Path, tool: str
) -> None:
    (root / "spaces/team/drafts/link.md").symlink_to(outside / "secret.md")
    (root / "spaces/team/out").symlink_to(outside, target_is_directory=True)
    text_key = "content" if tool == "write_file" else "text"
    for path in ("spaces/team/drafts/link.md", "spaces/team/out/secret.md", "spaces/team/out/n.md"):
        outcome = TOOLS[tool].run({"path": path, text_key: "pwned"}, env)
        assert not outcome.ok and "outside the workspace" in outcome.output
        assert str(outside) not in outcome.output
    assert sorted(p.name for p in outside.iterdir()) == ["secret.md"]
    assert (outside / "secret.md").read_text(encoding="utf-8") == "outside secret\n"


@posix_only
@pytest.mark.parametrize("tool", ["write_file", "append_file"])
def test_write_leaves_read_only_files_alone(env: ToolEnv, root: Path, tool: str) -> None:
    note = put(root, "spaces/team/drafts/locked.md", "keep\n")
    note.chmod(stat.S_IRUSR | stat.S_IRGRP)
    try:
        text_key = "content" if tool == "write_file" else "text"
        outcome = TOOLS[tool].run({"path": "spaces/team/drafts/locked.md", text_key: "x"}, env)
        assert not outcome.ok and "read-only" in outcome.output
        assert note.read_text(encoding="utf-8") == "keep\n"
    finally:
        note.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_write_refuses_content_over_the_limit(env: ToolEnv, root: Path) -> None:
    outcome = call(env, "write_file", path="big.md", content="x" * (2 * 1024 * 1024))
    assert not outcome.ok and "the limit is" in outcome.output
    assert not (root / "big.md").exists()


def test_write_into_a_path_below_a_file_fails_cleanly(env: ToolEnv) -> None:
    outcome = call(env, "write_file", path="agents.md/inner.md", content="x")
    assert not outcome.ok and outcome.output.startswith("write_file failed")


# --- append_file ------------------------------------------------------------------------------


def test_append_file(env: ToolEnv, root: Path) -> None:
    log = put(root, "spaces/team/drafts/log.md", "first")
    outcome = call(env, "append_file", path="spaces/team/drafts/log.md", text="second\n")
    assert outcome.ok and outcome.changed and outcome.path == "spaces/team/drafts/log.md"
    assert log.read_text(encoding="utf-8") == "first\nsecond\n"
    assert call(env, "append_file", path="spaces/team/drafts/log.md", text="third\n").ok
    assert log.read_text(encoding="utf-8") == "first\nsecond\nthird\n"
    created = call(env, "append_file", path="spaces/team/drafts/fresh.md", text="hello\n")
    assert created.ok and created.output.startswith("appended to")
    assert (root / "spaces/team/drafts/fresh.md").read_text(encoding="utf-8") == "hello\n"
    assert no_temporaries(root)


def test_append_keeps_a_byte_order_mark(env: ToolEnv, root: Path) -> None:
    (root / "bom.md").write_bytes("\ufeffstart\n".encode())
    assert call(env, "append_file", path="bom.md", text="more\n").ok
    assert (root / "bom.md").read_bytes() == "\ufeffstart\nmore\n".encode()


def test_append_to_a_model_file_is_in_the_model_at_once(env: ToolEnv) -> None:
    outcome = call(env, "append_file", path="spaces/team/readme.md", text="Appended note.\n")
    assert outcome.ok
    assert "Appended note." in env.workspace.spaces["team"].body


def test_append_refuses_binary_and_non_utf8(env: ToolEnv, root: Path) -> None:
    (root / "image.md").write_bytes(b"\x89PNG\x00\x00")
    (root / "latin.md").write_bytes("café".encode("latin-1"))
    assert "looks binary" in call(env, "append_file", path="image.md", text="x").output
    assert "not UTF-8" in call(env, "append_file", path="latin.md", text="x").output
    assert (root / "image.md").read_bytes() == b"\x89PNG\x00\x00"


def test_argument_choices_offer_what_exists_and_nothing_hidden(starter: Path) -> None:
    from cairn.core.tasks.tools import argument_choices, new_file_pattern
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore

    (starter / ".cairn").mkdir(exist_ok=True)
    (starter / ".cairn" / "secret.md").write_text("hidden")
    model = WorkspaceModel(LocalFileStore(starter))
    model.load()
    choices = argument_choices(model, "team")
    files = choices["read_file"]["path"]
    assert "agents.md" in files and "spaces/team/readme.md" in files
    assert not any(f.startswith(".") or "/." in f for f in files)
    assert "spaces/team/drafts" in choices["list_files"]["folder"]
    assert "decision-memo" in choices["load_skill"]["name"]
    assert argument_choices(model, "team", limit=3).get("read_file") is None  # too many
    # Names a grammar cannot hold as they are are left out, not allowed to break it.
    for odd in ('say "hi".md', "back\\slash.md", "emoji\U0001f600.md"):
        (starter / "spaces" / "team" / odd).write_text("x")
    model.load()
    files = argument_choices(model, "team")["read_file"]["path"]
    assert not {f"spaces/team/{odd}" for odd in ('say "hi".md', "back\\slash.md")} & set(files)
    assert not any("emoji" in f for f in files)
    import re

    pattern = re.compile(new_file_pattern(["spaces/team/drafts", "notes"]))
    assert pattern.match("spaces/team/drafts/reply.md")
    assert not pattern.match("elsewhere/reply.md")
    assert not pattern.match("spaces/team/drafts/../x.md")
