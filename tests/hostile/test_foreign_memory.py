"""The owner's root memory (OpenClaw's `MEMORY.md` and `memory/` daily notes) is recalled
through Cairn's index and stays private: end to end with `cairn run` against the recording
loopback "cloud" and the scripted "local" model (see conftest.py), and in the functions
that decide it (`space_of`, `Provenance`, `memory_recall`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import copy_starter
from tests.hostile.conftest import Hostile, tool

from cairn.core.memory.writer import PENDING
from cairn.core.routing.marks import STAGED, file_sensitivity, space_of
from cairn.core.tasks.provenance import Provenance
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.infra.memory_index import MemoryIndex
from cairn.runtime import memory_recall

ROOT_MARKER = "OSPREY-ROOT-9913"
DAILY_MARKER = "HERON-DAILY-4410"
MEMORY_MD = f"""# MEMORY.md

## Money
- My accountant's codename is {ROOT_MARKER}.
"""
DAILY = f"""# 2026-03-02

- Met the accountant: the audit codename is {DAILY_MARKER}.
"""


def plant(root: Path) -> None:
    (root / "MEMORY.md").write_text(MEMORY_MD)
    (root / "memory").mkdir(exist_ok=True)
    (root / "memory/2026-03-02.md").write_text(DAILY)


def routed(hostile: Hostile, kind: str) -> list[dict[str, object]]:
    return [
        e["decision"]
        for e in hostile.trace_events()
        if e["event"] == "routed" and e["decision"]["kind"] == kind
    ]


def recalled_paths(hostile: Hostile) -> list[str]:
    return [
        path
        for e in hostile.trace_events()
        if e["event"] == "memory_recalled"
        for path, _ in e["items"]
    ]


@pytest.mark.slow
def test_recalled_root_memory_never_reaches_the_cloud(hostile: Hostile) -> None:
    """A task with no space (the owner's own) recalls MEMORY.md and a daily note: every
    call of the task is routed locally, cloud-first routing notwithstanding."""
    plant(hostile.root)
    hostile.local.state.script = ["Your accountant is known by a codename."]
    result = hostile.run("What is my accountant's codename?", "--no-approve")
    assert result.returncode == 0, result.stderr
    assert sorted(recalled_paths(hostile)) == ["MEMORY.md", "memory/2026-03-02.md"]
    hostile.assert_cloud_never_saw(ROOT_MARKER, DAILY_MARKER)
    assert hostile.cloud.requests == []
    [work] = routed(hostile, "work")
    assert work["chosen"] == "local-small" and work["sensitive"] is True
    assert "MEMORY.md (the owner's private memory)" in work["sensitivity_reasons"]  # type: ignore[operator]
    assert "MEMORY.md (the owner's private memory)" in result.stderr
    assert all(d["chosen"] == "local-small" for d in routed(hostile, "memory"))
    # The task's record repeats the private memory: it carries the mark.
    [record] = (hostile.root / "history").glob("*.md")
    assert "\nsensitive: true\n" in record.read_text()


@pytest.mark.slow
def test_root_memory_is_recalled_into_private_tasks_and_never_into_team_tasks(
    hostile: Hostile,
) -> None:
    plant(hostile.root)
    hostile.local.state.script = ["Known."]
    private = hostile.run("What is my accountant's codename?", "--space", "chief-of-staff")
    assert private.returncode == 0, private.stderr
    assert "MEMORY.md" in recalled_paths(hostile)
    hostile.assert_cloud_never_saw(ROOT_MARKER, DAILY_MARKER)

    for trace in (hostile.root / ".cairn" / "traces").glob("*.jsonl"):
        trace.unlink()
    team = hostile.run("What is my accountant's codename?", "--space", "team", "--no-approve")
    assert team.returncode == 0, team.stderr
    assert recalled_paths(hostile) == []
    [work] = routed(hostile, "work")
    assert work["chosen"] == "cloud-fast"  # nothing private entered: the cloud may answer
    assert hostile.cloud.requests
    hostile.assert_cloud_never_saw(ROOT_MARKER, DAILY_MARKER)


@pytest.mark.slow
def test_reading_root_memory_keeps_the_task_local_and_its_content_private(
    hostile: Hostile,
) -> None:
    """The cloud model asks for MEMORY.md in a team task: the file's content goes to the
    local model only, and writing it into the team space needs a person."""
    plant(hostile.root)
    hostile.cloud.state.script = [tool("read_file", path="MEMORY.md")]
    hostile.local.state.script = [
        tool("read_file", path="memory/2026-03-02.md"),
        tool("write_file", path="spaces/team/drafts/money.md", content=f"Codename {ROOT_MARKER}"),
        "Drafted it.",
    ]
    result = hostile.run("Draft a note about the finances", "--space", "team")
    assert result.returncode == 0, result.stderr
    hostile.assert_cloud_never_saw(ROOT_MARKER, DAILY_MARKER)
    chosen = [d["chosen"] for d in routed(hostile, "work")]
    assert chosen[0] == "cloud-fast" and set(chosen[1:]) == {"local-small"}
    assert "MEMORY.md (the owner's private memory)" in result.stderr
    assert not (hostile.root / "spaces/team/drafts/money.md").exists()
    [queued] = hostile.queued()
    assert "owner's private memory (MEMORY.md)" in queued["reason"]
    assert "private → team" in queued["reason"]


# --- the functions that decide it ------------------------------------------------------------


@pytest.fixture
def model(tmp_path: Path) -> WorkspaceModel:
    root = copy_starter(tmp_path / "ws")
    plant(root)
    found = WorkspaceModel(LocalFileStore(root))
    found.load()
    return found


def test_root_memory_is_private_and_staged_memories_are_not(model: WorkspaceModel) -> None:
    workspace = model.workspace
    for path in ("MEMORY.md", "memory.md", "memory/2026-03-02.md", "memory/a/b/2026-01-01-x.md"):
        assert space_of(workspace, path) == (None, "private"), path
        assert file_sensitivity(workspace, path, "plain") == (
            f"{path} (the owner's private memory)"
        )
    assert f"{PENDING}/" == STAGED
    for path in (f"{PENDING}/abc12345.md", "history/x.md", "notes.md", "memoryx/a.md"):
        assert space_of(workspace, path) == (None, "workspace"), path
        assert file_sensitivity(workspace, path, "plain") is None
    assert space_of(workspace, "spaces/team/memory/x.md") == ("team", "team")
    assert space_of(workspace, "spaces/chief-of-staff/x.md") == ("chief-of-staff", "private")


def test_provenance_treats_root_memory_as_private_content(model: WorkspaceModel) -> None:
    team = Provenance(model.workspace, "team")
    assert not team.sensitive and team.narrowest() == ("team space 'team'", "team")
    team.note_file("spaces/team/link.md", "MEMORY.md", MEMORY_MD)
    assert team.sensitive
    assert team.reasons() == ("MEMORY.md (the owner's private memory)",)
    assert team.narrowest() == ("owner's private memory (MEMORY.md)", "private")
    assert team.home() == "team"  # root memory is no space: the record stays in its space
    crossing = team.crossing("spaces/team/drafts/a.md")
    assert crossing is not None
    assert crossing.describe() == (
        "scope: this task carries content from the owner's private memory (MEMORY.md), and "
        "the write would put it into the team space 'team' (private → team)"
    )
    assert team.crossing("memory/2026-03-03.md") is None  # into the owner's memory: fine
    assert team.crossing("spaces/chief-of-staff/a.md") is None
    assert not team.needs_mark("MEMORY.md") and team.needs_mark(f"{PENDING}/x.md")

    anywhere = Provenance(model.workspace, None)
    anywhere.note_file("memory/2026-03-02.md", "memory/2026-03-02.md", DAILY)
    assert anywhere.home() is None
    assert anywhere.crossing("history/x.md") is not None
    anywhere.note_file(
        "spaces/chief-of-staff/readme.md", "spaces/chief-of-staff/readme.md", "notes"
    )
    assert anywhere.home() == "chief-of-staff"  # a real private space is still preferred


def test_memory_recall_gives_root_memory_only_to_the_owners_tasks(model: WorkspaceModel) -> None:
    store = model.store
    assert isinstance(store, LocalFileStore)
    with MemoryIndex(store.root) as index:
        index.repair()
        recall = memory_recall(index, model)
        query = "accountant codename"
        everything = ["MEMORY.md", "memory/2026-03-02.md"]
        assert sorted(p for p, _ in recall(query, None, 800)) == everything
        assert sorted(p for p, _ in recall(query, "chief-of-staff", 800)) == everything
        assert recall(query, "team", 800) == []
        assert recall(query, "company", 800) == []
        assert recall(query, "no-such-space", 800) == []


def test_space_of_knows_rebel_spaces_outside_spaces(tmp_path: Path) -> None:
    """A Rebel space may be any folder with a README.md that says so: what is in it has its
    scope (unset is private), so reading it keeps a task local like any private space."""
    root = copy_starter(tmp_path / "ws")
    (root / "work/Acme").mkdir(parents=True)
    (root / "work/Acme/README.md").write_text("---\nrebel_space_description: Acme.\n---\n# Acme\n")
    (root / "spaces/rb").mkdir()
    (root / "spaces/rb/README.md").write_text(
        "---\nrebel_space_description: RB.\nscope: team\n---\n# RB\n"
    )
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    workspace = model.workspace
    assert space_of(workspace, "work/Acme/notes/call.md") == ("work-acme", "private")
    assert file_sensitivity(workspace, "work/Acme/notes/call.md", "plain") == (
        "work/Acme/notes/call.md (private space 'work-acme')"
    )
    assert space_of(workspace, "spaces/rb/memory/sources/a.md") == ("rb", "team")
    assert space_of(workspace, "work/Acme-old/x.md") == (None, "workspace")


LAYER_MARKER = "KESTREL-LAYER-2207"


@pytest.mark.slow
def test_a_marked_instruction_layer_keeps_every_call_local(hostile: Hostile) -> None:
    """Instruction layers (SOUL.md, CLAUDE.md, ...) enter every step as agents.md does, so
    a layer marked `sensitive: true` makes the whole task sensitive; an unmarked one is
    sent where the routing says, and it is really in the prompt."""
    (hostile.root / "SOUL.md").write_text(f"---\nsensitive: true\n---\nPersona {LAYER_MARKER}.\n")
    hostile.local.state.script = ["Fine."]
    result = hostile.run("Say hello", "--no-approve")
    assert result.returncode == 0, result.stderr
    hostile.assert_cloud_never_saw(LAYER_MARKER)
    assert hostile.cloud.requests == []
    [work] = routed(hostile, "work")
    assert work["chosen"] == "local-small" and "SOUL.md is marked sensitive" in str(
        work["sensitivity_reasons"]
    )
    assert LAYER_MARKER in str([r.body for r in hostile.local.requests])

    (hostile.root / "SOUL.md").write_text(f"Persona {LAYER_MARKER}.\n")
    again = hostile.run("Say hello", "--no-approve")
    assert again.returncode == 0, again.stderr
    assert LAYER_MARKER in hostile.cloud_bytes()  # unmarked: the routing decides
