"""Other tools' workspaces load unchanged: one realistic fixture per layout.

Each fixture in tests/fixtures/layouts/ is a folder as that tool's users write it (Rebel,
OpenClaw, Claude Code, an Agent Skills collection). The tests copy it to tmp_path, load
it, and check exactly what Cairn made of it: counts, layouts, inferred values, warnings,
what the walk left out, strict mode, precedence and refresh. docs/compatibility.md
describes the same mapping for users.
"""

from __future__ import annotations

import shutil
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from cairn.core.workspace.diagnostics import COMPAT_CODES, Severity
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schedule import IntervalSchedule
from cairn.infra.files import LocalFileStore

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "layouts"


def copy(tmp_path: Path, layout: str) -> Path:
    root = tmp_path / layout
    shutil.copytree(FIXTURES / layout, root)
    if layout == "openclaw":
        _add_build_output(root)
    return root


def _add_build_output(root: Path) -> None:
    # The repository's own .gitignore excludes `build/`, so this part of the OpenClaw
    # fixture cannot be committed: it is written into the copy. The fixture's .gitignore
    # lists `build/`, so Cairn must leave it out.
    write(
        root,
        "build/skills/x/SKILL.md",
        """\
        ---
        name: x
        description: A copy of a skill left behind by a build step. Must never load.
        ---
        Built output.
        """,
    )


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text), encoding="utf-8")


def load(root: Path, *, strict: bool = False) -> Workspace:
    return WorkspaceModel(LocalFileStore(root), strict=strict).load()


def found(workspace: Workspace) -> set[tuple[str, str, Severity]]:
    return {(d.path, d.code, d.severity) for d in workspace.diagnostics}


W, E, INFO = Severity.WARNING, Severity.ERROR, Severity.INFO


# --- Rebel -----------------------------------------------------------------------------------

REBEL_DIAGNOSTICS = {
    ("Chief-of-Staff/skills/communication/draft-follow-up-email/SKILL.md", "skill-shadows", INFO),
    ("operators/brand-critic/OPERATOR.md", "display-name", W),
    ("skills/communication/CAUTION-bulk-send/SKILL.md", "name-mismatch", W),
    ("skills/meetings/transcript-summary/SKILL.md", "inferred", W),
    ("skills/meetings/weekly-meeting-digest/AUTOMATION.md", "inferred", W),
    ("skills/memory/source-capture/AUTOMATION.md", "inferred", W),
    ("work/Acme/General/operators/customer-voice/OPERATOR.md", "display-name", W),
}


def test_rebel_workspace_loads_with_its_spaces_skills_operators_and_automations(
    tmp_path: Path,
) -> None:
    ws = load(copy(tmp_path, "rebel"))

    assert found(ws) == REBEL_DIAGNOSTICS
    assert ws.errors == ()
    # AGENTS.md is the policy file (no agents.md or cairn.md); CLAUDE.md follows it.
    assert ws.agents is not None
    assert ws.agents.path == "AGENTS.md"
    assert ws.agents.instructions.startswith("You are Rebel")
    assert [(x.path, x.layout) for x in ws.layers] == [("CLAUDE.md", "claude-code")]

    assert {name: s.path for name, s in ws.skills.items()} == {
        "draft-follow-up-email": "skills/communication/draft-follow-up-email/SKILL.md",
        "linkedin-post": "skills/communication/linkedin-post/SKILL.md",
        "caution-bulk-send": "skills/communication/CAUTION-bulk-send/SKILL.md",
        "meeting-prep": "skills/meetings/meeting-prep/SKILL.md",
        "transcript-summary": "skills/meetings/transcript-summary/SKILL.md",
        "source-capture": "skills/memory/source-capture/SKILL.md",
        "topic-update": "skills/memory/topic-update/SKILL.md",
        "cleanup": "skills/memory/beta/cleanup/SKILL.md",
    }
    assert {s.layout for s in ws.skills.values()} == {"rebel"}
    assert {n: s.inferred for n, s in ws.skills.items() if s.inferred} == {
        "transcript-summary": ("name",)
    }
    assert ws.skills["cleanup"].folder == "skills/memory/beta/cleanup"
    # The declared name wins over the uppercase folder; nothing else is renamed.
    assert ws.skills["caution-bulk-send"].title is None
    # Rebel's own keys are kept as written.
    assert ws.skills["linkedin-post"].frontmatter["tags"] == ("writing", "social")

    prep = ws.skills["meeting-prep"].resources
    assert prep.scripts == ("skills/meetings/meeting-prep/scripts/upcoming.py",)
    assert prep.references == ("skills/meetings/meeting-prep/references/agenda-template.md",)
    assert (prep.assets, prep.other) == ((), ())
    # README.md files among the skills are documentation: not skills, not resources.
    for skill in ws.skills.values():
        assert not any(p.endswith("README.md") for p in skill.resources.other)

    assert set(ws.operators) == {"brand-critic", "sales-coach"}
    critic = ws.operators["brand-critic"]
    assert (critic.layout, critic.title) == ("rebel", "Brand Critic")
    assert critic.meta.when is not None
    assert critic.meta.when.startswith("Before anything public")
    assert "## Who you are" in critic.lens
    coach = ws.operators["sales-coach"]
    assert (coach.layout, coach.title) == ("rebel", None)
    # A live coach keeps its whole prompt in `live_prompt:`, with an empty body.
    assert coach.lens.startswith("You are listening to a live sales call.")

    assert set(ws.automations) == {"weekly-meeting-digest", "source-capture"}
    for auto in ws.automations.values():
        # Rebel keeps schedules in its app: loaded, and off until one is written.
        assert (auto.layout, auto.enabled, auto.inferred) == ("rebel", False, ("schedule",))
        assert auto.meta.space is None
    digest = ws.automations["weekly-meeting-digest"]
    assert digest.meta.skill is None
    assert digest.instruction.lstrip().startswith("# Weekly meeting digest")
    # The SKILL.md beside AUTOMATION.md is the automation's skill; the prompt is its own.
    capture = ws.automations["source-capture"]
    assert capture.meta.skill == "source-capture"
    assert capture.instruction.startswith("[GOAL]")

    assert {n: (s.scope, s.folder, s.path) for n, s in ws.spaces.items()} == {
        "chief-of-staff": ("private", "Chief-of-Staff", "Chief-of-Staff/README.md"),
        "work-acme-general": ("team", "work/Acme/General", "work/Acme/General/README.md"),
    }
    assert {s.layout for s in ws.spaces.values()} == {"rebel"}
    cos, acme = ws.spaces["chief-of-staff"], ws.spaces["work-acme-general"]
    assert cos.meta.description == "Router and cross-space context"
    assert acme.title == "work/Acme/General"
    assert set(cos.skills) == {"draft-follow-up-email"}
    assert set(acme.skills) == {"account-brief", "pipeline-review"}
    assert {s.layout for s in acme.skills.values()} == {"rebel"}
    assert set(acme.operators) == {"customer-voice"}
    assert acme.operators["customer-voice"].title == "Customer Voice"
    assert cos.operators == {}
    # The space's own copy wins inside the space; the workspace one everywhere else.
    personal = "Chief-of-Staff/skills/communication/draft-follow-up-email/SKILL.md"
    found_in_space = ws.find_skill("draft-follow-up-email", "chief-of-staff")
    assert found_in_space is not None
    assert found_in_space.path == personal
    found_outside = ws.find_skill("draft-follow-up-email", "work-acme-general")
    assert found_outside is not None
    assert found_outside.path == "skills/communication/draft-follow-up-email/SKILL.md"

    # READMEs without `rebel_space_description` are notes; memory files are not model files.
    notes = {"work/Acme/README.md", "Reading-List/README.md"}
    assert not notes & {s.path for s in ws.spaces.values()}
    assert not notes & ws.files
    assert not any("/memory/topics/" in p or "/memory/sources/" in p for p in ws.files)
    assert ws.skipped == {}


@pytest.mark.parametrize(
    ("sharing", "space_type", "scope", "warns"),
    [
        ("team", "team", "team", False),
        ("company-wide", "company", "company", False),
        ("public", "company", "company", False),
        ("private", "project", "private", False),
        ("company-wide", "personal", "private", False),  # a personal space stays private
        ("restricted", "team", "private", True),
        (None, "team", "private", True),
    ],
)
def test_rebel_sharing_is_read_as_a_scope(
    tmp_path: Path, sharing: str | None, space_type: str, scope: str, warns: bool
) -> None:
    root = copy(tmp_path, "rebel")
    line = f"sharing: {sharing}\n" if sharing else ""
    write(
        root,
        "work/Acme/General/README.md",
        f'---\nrebel_space_description: "Acme"\nspace_type: {space_type}\n{line}---\nAcme.\n',
    )
    ws = load(root)
    assert ws.spaces["work-acme-general"].scope == scope
    inferred = ("work/Acme/General/README.md", "inferred", W)
    assert (inferred in found(ws)) is warns


def test_rebel_sensitivity_marks_the_space_sensitive(tmp_path: Path) -> None:
    root = copy(tmp_path, "rebel")
    write(
        root,
        "work/Acme/General/README.md",
        """\
        ---
        rebel_space_description: "Acme"
        sharing: team
        sensitivity: confidential
        display_name: Acme (all staff)
        ---
        Acme.
        """,
    )
    space = load(root).spaces["work-acme-general"]
    assert space.meta.sensitive
    assert space.title == "Acme (all staff)"


def test_rebel_automation_with_a_schedule_runs(tmp_path: Path) -> None:
    root = copy(tmp_path, "rebel")
    path = root / "skills/memory/source-capture/AUTOMATION.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("---\n", "---\nschedule: 30 12 * * *\n", 1), encoding="utf-8")
    ws = load(root)
    auto = ws.automations["source-capture"]
    assert (auto.enabled, auto.inferred, auto.meta.skill) == (True, (), "source-capture")
    assert ("skills/memory/source-capture/AUTOMATION.md", "inferred", W) not in found(ws)
    assert ws.errors == ()


def test_rebel_users_own_skill_beats_the_rebel_system_copy(tmp_path: Path) -> None:
    root = copy(tmp_path, "rebel")
    write(
        root,
        "rebel-system/skills/communication/linkedin-post/SKILL.md",
        """\
        ---
        name: linkedin-post
        description: The version Rebel ships.
        ---
        Write a post.
        """,
    )
    write(
        root,
        "rebel-system/skills/system/space-add/SKILL.md",
        "---\nname: space-add\ndescription: Adds a space.\n---\nCreate the README.\n",
    )
    ws = load(root)
    assert ws.skills["linkedin-post"].path == "skills/communication/linkedin-post/SKILL.md"
    assert ws.skills["space-add"].layout == "rebel"
    # Customising a system skill by copying it is Rebel's way: a warning, not an error.
    system_copy = "rebel-system/skills/communication/linkedin-post/SKILL.md"
    assert (system_copy, "duplicate-skill", W) in found(ws)
    assert ws.errors == ()


# --- OpenClaw --------------------------------------------------------------------------------

# metadata.openclaw is a JSON object by OpenClaw's rules: no advice to quote its values.
OPENCLAW_DIAGNOSTICS = {
    ("skills/grocery-list/SKILL.md", "no-frontmatter", W),
    ("skills/page-snapshot/SKILL.md", "no-frontmatter", W),
    ("skills/pdf-notes/SKILL.md", "no-frontmatter", W),
}


def test_openclaw_workspace_loads_its_instruction_files_skills_and_heartbeat(
    tmp_path: Path,
) -> None:
    ws = load(copy(tmp_path, "openclaw"))

    assert found(ws) == OPENCLAW_DIAGNOSTICS
    assert ws.errors == ()
    assert ws.agents is not None
    assert ws.agents.path == "AGENTS.md"
    # In OpenClaw's own order: SOUL, TOOLS, IDENTITY, USER, then BOOTSTRAP.
    assert [(x.path, x.layout) for x in ws.layers] == [
        ("SOUL.md", "openclaw"),
        ("TOOLS.md", "openclaw"),
        ("IDENTITY.md", "openclaw"),
        ("USER.md", "openclaw"),
        ("BOOTSTRAP.md", "openclaw"),
    ]

    assert {name: (s.path, s.layout, s.inferred) for name, s in ws.skills.items()} == {
        "github-triage": ("skills/github-triage/SKILL.md", "cairn", ()),
        "weather": ("skills/weather/SKILL.md", "cairn", ()),
        "page-snapshot": ("skills/page-snapshot/SKILL.md", "cairn", ("name", "description")),
        "grocery-list": ("skills/grocery-list/SKILL.md", "cairn", ("name", "description")),
        "pdf-notes": ("skills/pdf-notes/SKILL.md", "cairn", ("name", "description")),
        "calendar-sync": (".agents/skills/calendar-sync/SKILL.md", "agent-skills", ()),
    }
    # No frontmatter: the description is the first paragraph (a comment is skipped).
    assert ws.skills["page-snapshot"].description.startswith("Takes a full-page screenshot")
    assert ws.skills["grocery-list"].description.startswith("Keeps the shared grocery list")
    assert ws.skills["pdf-notes"].description.startswith("Pulls the text out of a PDF")
    assert ws.skills["github-triage"].frontmatter["metadata"]["openclaw"]["requires"] == {
        "bins": ("gh",)
    }
    snapshot = ws.skills["page-snapshot"].resources
    assert snapshot.scripts == (
        "skills/page-snapshot/scripts/package.json",
        "skills/page-snapshot/scripts/snapshot.js",
    )
    assert (snapshot.references, snapshot.assets, snapshot.other) == ((), (), ())

    assert list(ws.automations) == ["heartbeat"]
    beat = ws.automations["heartbeat"]
    assert (beat.path, beat.layout, beat.enabled, beat.inferred) == (
        "HEARTBEAT.md",
        "openclaw",
        True,
        ("schedule",),
    )
    assert beat.meta.space is None
    assert isinstance(beat.schedule, IntervalSchedule)
    assert beat.schedule.every == timedelta(minutes=30)
    assert "- [ ] A repair due today" in beat.instruction

    assert ws.operators == {}
    assert ws.spaces == {}
    # MEMORY.md and memory/ are memory (the memory index reads them), not model files.
    assert "MEMORY.md" not in ws.files
    assert not any(path.startswith("memory/") for path in ws.files)


def test_openclaw_walk_leaves_out_dependencies_venvs_and_gitignored_folders(
    tmp_path: Path,
) -> None:
    ws = load(copy(tmp_path, "openclaw"))
    assert dict(ws.skipped) == {
        "dependencies (node_modules)": 1,
        "virtual environments": 1,
        "ignored by .gitignore": 1,
    }
    assert not {"snapshot-kit", "pdfminer-skill", "x"} & set(ws.skills)
    for path in ws.files:
        assert not {"node_modules", "venv", "build"} & set(path.split("/")), path
    for skill in ws.skills.values():
        bundled = [*skill.resources.scripts, *skill.resources.other]
        assert not any("node_modules" in p or "/venv/" in p for p in bundled)


@pytest.mark.parametrize(
    "checklist",
    [
        "",
        "# HEARTBEAT.md\n",
        "# HEARTBEAT.md\n\n<!-- Add tasks below. Keep it short. -->\n\n- [ ]\n-\n",
    ],
)
def test_openclaw_empty_heartbeat_is_off(tmp_path: Path, checklist: str) -> None:
    root = copy(tmp_path, "openclaw")
    (root / "HEARTBEAT.md").write_text(checklist, encoding="utf-8")
    ws = load(root)
    assert ws.automations["heartbeat"].enabled is False
    assert ws.errors == ()


def test_openclaw_heartbeat_schedule_can_be_set_in_its_frontmatter(tmp_path: Path) -> None:
    root = copy(tmp_path, "openclaw")
    path = root / "HEARTBEAT.md"
    path.write_text("---\nschedule: every 2 hours\n---\n" + path.read_text("utf-8"), "utf-8")
    beat = load(root).automations["heartbeat"]
    assert (beat.meta.schedule, beat.inferred, beat.enabled) == ("every 2 hours", (), True)


def test_openclaw_skills_folder_beats_agents_skills(tmp_path: Path) -> None:
    root = copy(tmp_path, "openclaw")
    write(
        root,
        ".agents/skills/weather/SKILL.md",
        """\
        ---
        name: weather
        description: An older copy of the weather skill.
        ---
        Use wttr.in.
        """,
    )
    ws = load(root)
    assert ws.skills["weather"].path == "skills/weather/SKILL.md"
    assert (".agents/skills/weather/SKILL.md", "duplicate-skill", W) in found(ws)
    assert ws.errors == ()


# --- Claude Code -----------------------------------------------------------------------------

CLAUDE_DIAGNOSTICS = {
    (".claude/skills/db-migration/SKILL.md", "inferred", W),
    ("agents.md", "missing-agents", W),
}


def test_claude_code_project_loads_skills_subagents_and_commands(tmp_path: Path) -> None:
    ws = load(copy(tmp_path, "claude-code"))

    assert found(ws) == CLAUDE_DIAGNOSTICS
    assert ws.errors == ()
    assert ws.agents is None
    assert [(x.path, x.layout) for x in ws.layers] == [
        ("CLAUDE.md", "claude-code"),
        ("CLAUDE.local.md", "claude-code"),
    ]

    assert {name: (s.path, s.inferred) for name, s in ws.skills.items()} == {
        "release-checklist": (".claude/skills/release-checklist/SKILL.md", ()),
        "db-migration": (".claude/skills/db-migration/SKILL.md", ("name",)),
        "fix-issue": (".claude/commands/fix-issue.md", ()),
        "explain-query": (".claude/commands/explain-query.md", ("description",)),
        "git-commit": (".claude/commands/git/commit.md", ()),
    }
    assert {s.layout for s in ws.skills.values()} == {"claude-code"}
    assert ws.skills["release-checklist"].meta.allowed_tools == (
        "Bash(git:*)",
        "Bash(make:*)",
        "Read",
        "Edit",
    )
    assert ws.skills["release-checklist"].frontmatter["disable-model-invocation"] is True
    assert "$ARGUMENTS" in ws.skills["fix-issue"].body
    assert ws.skills["fix-issue"].description == "Fix a GitHub issue by number"
    assert ws.skills["explain-query"].description.startswith("Explain what the SQL query")
    assert ws.skills["explain-query"].folder is None

    assert {name: (o.path, o.layout) for name, o in ws.operators.items()} == {
        "code-reviewer": (".claude/agents/code-reviewer.md", "claude-code"),
        "sql-optimizer": (".claude/agents/sql-optimizer.md", "claude-code"),
    }
    reviewer = ws.operators["code-reviewer"]
    assert reviewer.title is None
    assert reviewer.lens.startswith("You are a senior reviewer")
    assert reviewer.frontmatter["tools"] == "Read, Grep, Glob, Bash"
    assert reviewer.frontmatter["model"] == "sonnet"
    assert ws.automations == {}
    assert ws.spaces == {}


def test_claude_code_skill_beats_command_of_the_same_name(tmp_path: Path) -> None:
    root = copy(tmp_path, "claude-code")
    write(
        root,
        ".claude/commands/release-checklist.md",
        """\
        ---
        description: The old command version of the release checklist
        ---
        Bump the version and tag it.
        """,
    )
    ws = load(root)
    assert ws.skills["release-checklist"].path == ".claude/skills/release-checklist/SKILL.md"
    # Claude Code itself lets the skill win without complaint: a warning, not an error.
    assert (".claude/commands/release-checklist.md", "duplicate-skill", W) in found(ws)
    assert ws.errors == ()


# --- Agent Skills collection -----------------------------------------------------------------

AGENT_SKILLS_DIAGNOSTICS = {
    ("agents.md", "missing-agents", W),
    ("skills/release-notes/SKILL.md", "long-description", W),
    ("skills/template/SKILL.md", "name-mismatch", W),
}


def test_agent_skills_collection_loads_including_spec_breakers(tmp_path: Path) -> None:
    ws = load(copy(tmp_path, "agent-skills"))

    assert found(ws) == AGENT_SKILLS_DIAGNOSTICS
    assert ws.errors == ()
    assert ws.agents is None
    assert ws.layers == ()
    assert {name: s.path for name, s in ws.skills.items()} == {
        "release-notes": "skills/release-notes/SKILL.md",
        "template-skill": "skills/template/SKILL.md",
        "csv-cleaner": "skills/csv-cleaner/SKILL.md",
        "brand-colors": "skills/brand-colors/SKILL.md",
    }
    assert {(s.layout, s.inferred) for s in ws.skills.values()} == {("cairn", ())}
    assert 1024 < len(ws.skills["release-notes"].description) < 1200
    # The declared name wins over the folder (`template/`), as other tools go by it.
    assert ws.skills["template-skill"].folder == "skills/template"

    cleaner = ws.skills["csv-cleaner"]
    assert cleaner.frontmatter["version"] == "2.1.0"
    assert cleaner.frontmatter["tags"] == ("data", "csv", "cleanup")
    assert cleaner.meta.license == "Complete terms in LICENSE.txt"
    assert cleaner.meta.allowed_tools == ("Bash(python:*)", "Read", "Write")
    assert cleaner.resources.scripts == ("skills/csv-cleaner/scripts/clean.py",)
    assert cleaner.resources.other == ("skills/csv-cleaner/LICENSE.txt",)
    assert ws.skills["brand-colors"].resources.assets == ("skills/brand-colors/assets/palette.md",)
    assert ws.skills["brand-colors"].meta.metadata == {"owner": "marketing", "updated": "2026-09"}
    assert "README.md" not in ws.files


# --- all layouts -----------------------------------------------------------------------------

EXPECTED = {
    "rebel": REBEL_DIAGNOSTICS,
    "openclaw": OPENCLAW_DIAGNOSTICS,
    "claude-code": CLAUDE_DIAGNOSTICS,
    "agent-skills": AGENT_SKILLS_DIAGNOSTICS,
}


@pytest.mark.parametrize("layout", sorted(EXPECTED))
def test_strict_mode_makes_every_compat_warning_an_error(tmp_path: Path, layout: str) -> None:
    root = copy(tmp_path, layout)
    strict = load(root, strict=True)
    expected = {
        (path, code, E if code in COMPAT_CODES and severity is W else severity)
        for path, code, severity in EXPECTED[layout]
    }
    assert found(strict) == expected
    assert any(severity is E for _, _, severity in expected)
    # Strict mode changes what is reported, not what loads.
    lenient = load(root)
    assert set(strict.skills) == set(lenient.skills)
    assert set(strict.automations) == set(lenient.automations)


def test_refresh_follows_edits_and_new_gitignore_rules(tmp_path: Path) -> None:
    root = copy(tmp_path, "openclaw")
    model = WorkspaceModel(LocalFileStore(root))
    model.load()

    write(
        root,
        "skills/grocery-list/SKILL.md",
        """\
        ---
        name: grocery-list
        description: Keeps the shared grocery list up to date.
        ---
        Add, tick off and group items by aisle.
        """,
    )
    ws = model.refresh(["skills/grocery-list/SKILL.md"]).workspace
    grocery = ws.skills["grocery-list"]
    assert (grocery.description, grocery.inferred) == (
        "Keeps the shared grocery list up to date.",
        (),
    )
    assert ("skills/grocery-list/SKILL.md", "no-frontmatter", W) not in found(ws)

    (root / "HEARTBEAT.md").write_text("# HEARTBEAT.md\n\n- [ ]\n", encoding="utf-8")
    ws = model.refresh(["HEARTBEAT.md"]).workspace
    assert ws.automations["heartbeat"].enabled is False

    with (root / ".gitignore").open("a", encoding="utf-8") as handle:
        handle.write("skills/weather/\n")
    ws = model.refresh([".gitignore"]).workspace
    assert "weather" not in ws.skills
    assert "skills/weather/SKILL.md" not in ws.files
    assert ws.skipped["ignored by .gitignore"] == 2
    assert ws == model.workspace
    assert set(ws.skills) == set(WorkspaceModel(LocalFileStore(root)).load().skills)


def test_refresh_of_a_rebel_space_readme_and_skill(tmp_path: Path) -> None:
    root = copy(tmp_path, "rebel")
    model = WorkspaceModel(LocalFileStore(root))
    model.load()

    # A plain folder becomes a space when its README says so.
    write(
        root,
        "Reading-List/README.md",
        '---\nrebel_space_description: "Books"\nsharing: private\n---\nBooks.\n',
    )
    ws = model.refresh(["Reading-List/README.md"]).workspace
    assert ws.spaces["reading-list"].folder == "Reading-List"

    write(
        root,
        "work/Acme/General/skills/pipeline-review/SKILL.md",
        "---\nname: pipeline-review\ndescription: Weekly pipeline, stalled deals first.\n---\n"
        "List stalled deals first.\n",
    )
    ws = model.refresh(["work/Acme/General/skills"]).workspace
    review = ws.spaces["work-acme-general"].skills["pipeline-review"]
    assert review.description == "Weekly pipeline, stalled deals first."


def test_a_heartbeat_with_an_unknown_timezone_is_an_error_and_runs_locally(
    tmp_path: Path,
) -> None:
    # Regression (found by the layout fuzz): `cairn check` said clean, `cairn ls` crashed.
    write(tmp_path, "HEARTBEAT.md", "---\ntimezone: Mars/Olympus\n---\n- [ ] Check the inbox\n")
    workspace = load(tmp_path)
    codes = {d.code: d.severity for d in workspace.diagnostics if d.path == "HEARTBEAT.md"}
    assert codes == {"invalid-timezone": Severity.ERROR}
    assert workspace.automations["heartbeat"].meta.timezone == "local"


def test_a_layer_beside_the_policy_file_keeps_its_instructions_whatever_its_frontmatter(
    tmp_path: Path,
) -> None:
    # Regression (found by the layout fuzz): AGENTS.md with settings Cairn cannot read,
    # next to cairn.md, was an error and its instructions were dropped.
    write(tmp_path, "cairn.md", "You are helpful.\n")
    write(tmp_path, "AGENTS.md", "---\nmodels: [gpt-4, claude]\n---\nRead SOUL.md first.\n")
    workspace = load(tmp_path)
    assert workspace.agents is not None and workspace.agents.path == "cairn.md"
    assert [(x.path, x.instructions) for x in workspace.layers] == [
        ("AGENTS.md", "Read SOUL.md first.\n")
    ]
    assert [(d.path, d.code, d.severity) for d in workspace.diagnostics] == [
        ("AGENTS.md", "layer-policy", Severity.WARNING)
    ]


def test_a_broken_policy_file_is_reported_not_replaced_by_the_next_one(tmp_path: Path) -> None:
    write(tmp_path, "cairn.md", "---\nmodels: [\n---\nBroken.\n")
    write(tmp_path, "AGENTS.md", "Shared instructions.\n")
    workspace = load(tmp_path)
    assert workspace.agents is None  # cairn.md is the policy file, and it cannot be read
    assert "yaml-syntax" in {d.code for d in workspace.diagnostics if d.path == "cairn.md"}
    assert [x.path for x in workspace.layers] == ["AGENTS.md"]
