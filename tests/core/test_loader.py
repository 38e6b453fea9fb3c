"""The workspace model over real folders: formats, precedence, cross-file checks, refresh."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def load(root: Path) -> tuple[WorkspaceModel, object]:
    model = WorkspaceModel(LocalFileStore(root))
    return model, model.load()


def codes_for(workspace: object, path: str) -> set[str]:
    return {d.code for d in workspace.diagnostics if d.path == path}  # type: ignore[attr-defined]


def test_starter_workspace_is_clean_and_complete(starter: Path) -> None:
    _, ws = load(starter)
    assert ws.diagnostics == ()
    assert ws.agents is not None and ws.agents.instructions.strip()
    assert {s.scope for s in ws.spaces.values()} == {"private", "team", "company"}
    assert len(ws.skills) >= 5 and len(ws.operators) >= 4 and len(ws.automations) >= 3
    assert ws.spaces["chief-of-staff"].section("Memory") is not None


def test_real_agent_skill_folder_loads_unchanged(tmp_path: Path) -> None:
    # Shaped like skills published for other agent tools: extra fields, a licence file,
    # scripts, references and assets, list-valued allowed-tools.
    write(
        tmp_path,
        "skills/pdf-tools/SKILL.md",
        """
        ---
        name: pdf-tools
        description: Extract text and tables from PDF files. Use when working with PDFs.
        license: Complete terms in LICENSE.txt
        allowed-tools: [Read, Bash]
        version: 2.1.0
        model: inherit
        metadata:
          author: someone
          tags: pdf, extraction
        ---
        # PDF tools
        See [forms](forms.md) and run scripts/extract.py.
        """,
    )
    write(tmp_path, "skills/pdf-tools/LICENSE.txt", "Apache 2.0\n")
    write(tmp_path, "skills/pdf-tools/forms.md", "# Forms\n")
    write(tmp_path, "skills/pdf-tools/scripts/extract.py", "print('x')\n")
    write(tmp_path, "skills/pdf-tools/references/api.md", "# API\n")
    write(tmp_path, "skills/pdf-tools/assets/template.docx", "binary-ish\n")
    before = (tmp_path / "skills/pdf-tools/SKILL.md").read_bytes()
    _, ws = load(tmp_path)
    skill = ws.skills["pdf-tools"]
    assert [d for d in ws.diagnostics if d.path.startswith("skills/")] == []
    assert skill.meta.allowed_tools == ("Read", "Bash")
    assert skill.frontmatter["version"] == "2.1.0"
    assert skill.frontmatter["model"] == "inherit"
    assert skill.meta.model_extra == {"version": "2.1.0", "model": "inherit"}
    assert skill.resources.scripts == ("skills/pdf-tools/scripts/extract.py",)
    assert skill.resources.references == ("skills/pdf-tools/references/api.md",)
    assert skill.resources.assets == ("skills/pdf-tools/assets/template.docx",)
    assert set(skill.resources.other) == {
        "skills/pdf-tools/LICENSE.txt",
        "skills/pdf-tools/forms.md",
    }
    assert (tmp_path / "skills/pdf-tools/SKILL.md").read_bytes() == before  # loading writes nothing


def test_space_skill_takes_precedence(starter: Path) -> None:
    write(
        starter,
        "spaces/team/skills/weekly-review.md",
        """
        ---
        name: weekly-review
        description: The team's own weekly review.
        ---
        Team version.
        """,
    )
    _, ws = load(starter)
    assert ws.skills_for("team")["weekly-review"].space == "team"
    assert ws.skills_for("chief-of-staff")["weekly-review"].space is None
    assert ws.skills_for(None)["weekly-review"].space is None
    assert "skill-shadows" in codes_for(ws, "spaces/team/skills/weekly-review.md")
    assert ws.errors == ()


def test_duplicate_skill_folder_wins(starter: Path) -> None:
    write(
        starter,
        "skills/weekly-review.md",
        """
        ---
        name: weekly-review
        description: Duplicate.
        ---
        Body.
        """,
    )
    _, ws = load(starter)
    assert ws.skills["weekly-review"].path == "skills/weekly-review/SKILL.md"
    assert "duplicate-skill" in codes_for(ws, "skills/weekly-review.md")


def test_one_bad_file_never_stops_the_rest(starter: Path) -> None:
    (starter / "skills/weekly-review/SKILL.md").write_bytes(b"---\nname: [\n---\n")
    (starter / "operators/clarity-editor.md").write_bytes(b"\x00\x00\x00")
    _, ws = load(starter)
    assert "weekly-review" not in ws.skills and "clarity-editor" not in ws.operators
    assert len(ws.skills) >= 5 and len(ws.operators) == 3
    assert codes_for(ws, "skills/weekly-review/SKILL.md") == {"yaml-syntax"}
    assert codes_for(ws, "operators/clarity-editor.md") == {"binary-file"}
    # The automations that referred to them say so, at the right line.
    problem = next(d for d in ws.errors if d.path == "automations/weekly-review.md")
    assert problem.code == "unknown-skill" and problem.line is not None


def test_wrong_types_point_at_the_line(starter: Path) -> None:
    write(
        starter,
        "automations/nightly.md",
        """
        ---
        description: Wrong types.
        schedule: "@daily"
        space: team
        enabled: maybe
        budget:
          tokens: lots
        ---
        Do it.
        """,
    )
    _, ws = load(starter)
    problems = {d.code: d for d in ws.diagnostics if d.path == "automations/nightly.md"}
    assert problems["wrong-type"].line in (5, 7)
    lines = sorted(d.line for d in ws.diagnostics if d.path == "automations/nightly.md")
    assert lines == [5, 7]


def test_unknown_keys_are_kept_and_warned(starter: Path) -> None:
    text = (starter / "agents.md").read_text()
    (starter / "agents.md").write_text(text.replace("budgets:", "telemetry: off\nbudgets:", 1))
    _, ws = load(starter)
    assert ws.agents is not None
    assert ws.agents.frontmatter["telemetry"] is False
    assert ws.agents.policy.model_extra == {"telemetry": False}
    assert "unknown-key" in codes_for(ws, "agents.md")
    assert ws.errors == ()


def test_workspace_objects_are_immutable(starter: Path) -> None:
    _, ws = load(starter)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ws.skills = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        ws.skills["x"] = ws.skills["weekly-review"]  # type: ignore[index]
    with pytest.raises(Exception):
        ws.agents.policy.name = "x"  # type: ignore[misc, union-attr]
    with pytest.raises(TypeError):
        ws.agents.policy.models["x"] = None  # type: ignore[index, union-attr]


def test_space_without_readme_and_missing_scope(tmp_path: Path) -> None:
    write(tmp_path, "agents.md", "Instructions.\n")
    write(
        tmp_path, "spaces/loose/skills/a-skill.md", "---\nname: a-skill\ndescription: d\n---\nx\n"
    )
    write(tmp_path, "spaces/plain/readme.md", "# Plain space\n")
    _, ws = load(tmp_path)
    assert "space-without-readme" in codes_for(ws, "spaces/loose/skills/a-skill.md")
    assert ws.spaces["plain"].scope == "private"
    assert codes_for(ws, "spaces/plain/readme.md") == {"missing-scope", "missing-description"}


def test_notes_in_spaces_are_not_model_files(starter: Path) -> None:
    write(starter, "spaces/team/notes/broken.md", "---\nnot: [valid\n---\n")
    _, ws = load(starter)
    assert ws.diagnostics == ()
    assert "spaces/team/notes/broken.md" not in ws.files


def test_refresh_updates_incrementally(starter: Path) -> None:
    model, _ = load(starter)
    old = model.workspace
    path = "skills/weekly-review/SKILL.md"
    text = (starter / path).read_text()
    (starter / path).write_text(text + "\nOne more step.\n")
    update = model.refresh([path])
    assert ("modified", "skill", "weekly-review") in {
        (c.kind, c.what, c.name) for c in update.changes
    }
    assert (
        update.workspace.skills["draft-a-reply"] is old.skills["draft-a-reply"]
    )  # untouched reused
    assert model.refresh([path]).changes == ()  # nothing changed since
