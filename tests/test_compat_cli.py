"""Another tool's folder, opened by the real `cairn` program: `init --from` adds only Cairn's
settings, `check` and `ls` say where each item came from, and a task's model sees the
folder's instruction layers and skills."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cairn.testing.openai_stub import OpenAIStub

FILES = {
    "AGENTS.md": "# Operating rules\n\nAnswer in two sentences at most.\n",
    "SOUL.md": "You are calm and precise. PERSONA-LAYER-MARK\n",
    "USER.md": "The user is Sam; Sam lives in Lisbon.\n",
    "HEARTBEAT.md": "# Heartbeat\n\n- Look for anything urgent in the inbox\n",
    "skills/weather/SKILL.md": "# Weather\n\nLooks up the forecast for a city.\n",
    "skills/notes/SKILL.md": "---\nname: notes\ndescription: Keeps tidy notes.\n---\nSteps.\n",
    ".claude/agents/reviewer.md": (
        "---\nname: reviewer\ndescription: Reviews drafts.\ntools: Read\n---\nBe exacting.\n"
    ),
    ".claude/commands/fix.md": "Fix the problem described here: $ARGUMENTS\n",
    "node_modules/pkg/skills/leak/SKILL.md": "---\nname: leak\ndescription: no\n---\nno\n",
}


def cairn(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=root,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and ".cairn" not in p.parts
    }


@pytest.fixture
def openclaw(tmp_path: Path) -> Path:
    root = tmp_path / "claw"
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def test_init_from_adds_only_cairns_settings(openclaw: Path) -> None:
    before = digest(openclaw)
    done = cairn(openclaw, "init", "--from", str(openclaw))
    assert done.returncode == 0, done.stderr
    after = digest(openclaw)
    assert set(after) - set(before) == {"cairn.md"}  # and .cairn/.gitignore
    assert all(after[p] == h for p, h in before.items()), "a file of the other tool changed"
    assert (openclaw / ".cairn" / ".gitignore").read_text().strip().endswith("*")
    policy = yaml.safe_load((openclaw / "cairn.md").read_text().split("---\n")[1])
    denied = {r["path"] for r in policy["permissions"] if r["decision"] == "deny"}
    assert {"cairn.md", "AGENTS.md", "SOUL.md", "USER.md"} <= denied
    assert "OpenClaw: 2 instruction layers, 1 automation" in done.stdout

    again = cairn(openclaw, "init", "--from", str(openclaw))
    assert again.returncode == 0 and "kept    cairn.md" in again.stdout
    assert digest(openclaw) == after


def test_check_and_ls_say_where_items_came_from(openclaw: Path) -> None:
    cairn(openclaw, "init", "--from", str(openclaw))
    check = cairn(openclaw, "check", str(openclaw))
    assert check.returncode == 0, check.stdout
    assert "[no-frontmatter]" in check.stdout
    assert "Claude Code: 1 skill, 1 operator" in check.stdout
    assert "left out 1 folder (dependencies (node_modules): 1)" in check.stdout

    strict = cairn(openclaw, "check", "--strict", str(openclaw))
    assert strict.returncode == 1
    assert "error: SKILL.md has no frontmatter" in strict.stdout

    listing = json.loads(cairn(openclaw, "ls", "--json", str(openclaw)).stdout)
    skills = {s["name"]: s for s in listing["skills"]}
    assert set(skills) == {"weather", "notes", "fix"}  # nothing from node_modules
    assert skills["weather"]["inferred"] == ["name", "description"]
    assert skills["fix"]["layout"] == "claude-code"
    assert [x["path"] for x in listing["layers"]] == ["AGENTS.md", "SOUL.md", "USER.md"]
    assert listing["operators"][0]["layout"] == "claude-code"
    [heartbeat] = listing["automations"]
    assert heartbeat["enabled"] and heartbeat["describe"] == "every 30 minutes"

    text = cairn(openclaw, "ls", str(openclaw)).stdout
    assert "[OpenClaw HEARTBEAT.md; schedule inferred]" in text
    assert "[Claude Code .claude/commands/fix.md; description inferred]" in text


def test_a_task_sees_the_layers_and_skills(openclaw: Path) -> None:
    cairn(openclaw, "init", "--from", str(openclaw))
    with OpenAIStub() as local:
        local.state.reply = "Done."
        policy_path = openclaw / "cairn.md"
        front = yaml.safe_load(policy_path.read_text().split("---\n")[1])
        model = {"engine": "litellm", "model": "openai/stub", "api_base": local.base_url}
        front["models"] = {"here": {**model, "local": True}}
        front["roles"] = {role: ["here"] for role in front["roles"]}
        policy_path.write_text("---\n" + yaml.safe_dump(front) + "---\n")
        done = cairn(openclaw, "run", "What is the weather plan?", "--plan", "never")
        assert done.returncode == 0, done.stdout + done.stderr
        sent = json.dumps([r.body for r in local.requests])
    assert "PERSONA-LAYER-MARK" in sent  # SOUL.md, after AGENTS.md
    assert "# From AGENTS.md" in sent and "# From SOUL.md" in sent
    assert "weather: Looks up the forecast for a city." in sent
    assert "leak" not in sent


def test_a_skill_in_claude_skills_has_its_references_readable(tmp_path: Path) -> None:
    """Hidden folders stay off-limits to the file tools, except the files of a skill kept
    in `.claude/skills`, which load_skill lists for the model to open."""
    from cairn.core.tasks.tools import ToolEnv, file_tools, hidden_skill_files
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore

    root = tmp_path / "cc"
    files = {
        "CLAUDE.md": "Be brief.\n",
        ".claude/skills/api/SKILL.md": "---\nname: api\ndescription: Calls the API.\n---\nGo.\n",
        ".claude/skills/api/references/endpoints.md": "GET /items\n",
        ".claude/settings.local.json": '{"secret": "no"}\n',
        ".env": "TOKEN=no\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / ".claude/skills/api/references/link.md").symlink_to(root / ".env")
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    assert ".claude/skills/api/references/endpoints.md" in hidden_skill_files(model.workspace)
    env = ToolEnv(model, None)
    tools = {tool.name: tool for tool in file_tools()}
    read = tools["read_file"].run({"path": ".claude/skills/api/references/endpoints.md"}, env)
    assert read.ok and "GET /items" in read.output
    for refused in (".claude/settings.local.json", ".env", ".claude/skills/api/references/link.md"):
        outcome = tools["read_file"].run({"path": refused}, env)
        assert not outcome.ok and "hidden" in outcome.output, outcome.output


def test_plain_init_refuses_another_tools_folder_and_points_to_from(openclaw: Path) -> None:
    before = digest(openclaw)
    done = cairn(openclaw, "init", str(openclaw))
    assert done.returncode != 0
    assert f"cairn init --from {openclaw}" in done.stderr
    assert "AGENTS.md" in done.stderr and "SOUL.md" in done.stderr
    assert digest(openclaw) == before and not (openclaw / ".cairn").exists()


def test_init_from_writes_cairn_md_even_without_agents_md(tmp_path: Path) -> None:
    # On macOS and Windows agents.md *is* AGENTS.md, which other agents read as theirs.
    root = tmp_path / "claude"
    (root / ".claude/agents").mkdir(parents=True)
    (root / "CLAUDE.md").write_text("Be brief.\n")
    (root / ".claude/agents/r.md").write_text("---\nname: r\ndescription: d\n---\nLens.\n")
    assert cairn(root, "init", "--from", str(root)).returncode == 0
    assert (root / "cairn.md").is_file() and not (root / "agents.md").exists()


def test_state_cairn_keeps_is_ignored_by_git_from_its_first_write(openclaw: Path) -> None:
    """Recall copies private memory into .cairn/memory.sqlite: whatever command creates
    .cairn/ first, it comes with a .gitignore that keeps all of it out of git."""
    (openclaw / "MEMORY.md").write_text("- Allergic to peanuts.\n")
    done = cairn(openclaw, "memory", "search", "peanuts", "--workspace", str(openclaw))
    assert done.returncode == 0, done.stderr
    assert (openclaw / ".cairn" / "memory.sqlite").exists()
    assert (openclaw / ".cairn" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_route_explain_counts_the_memory_a_task_would_recall(openclaw: Path) -> None:
    """`cairn route --explain` judges a step with what a task carries: the instruction
    files and the memory recall would bring (OpenClaw's private MEMORY.md here)."""
    (openclaw / "MEMORY.md").write_text("- My accountant is Dana Whitfield.\n")
    cairn(openclaw, "init", "--from", str(openclaw))
    explained = cairn(openclaw, "route", "--explain", "who is my accountant", "--workspace", ".")
    assert "MEMORY.md (the owner's private memory)" in explained.stdout, explained.stdout
    assert "sensitive: yes" in explained.stdout
    assert "SOUL.md" in explained.stdout.splitlines()[1]
    alone = cairn(openclaw, "route", "--explain", "who is my accountant", "--no-context")
    assert "sensitive: no" in alone.stdout, alone.stdout
