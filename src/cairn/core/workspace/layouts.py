"""Which files the workspace model reads, in Cairn's layout and in other tools' layouts.

`classify` maps a workspace-relative path to its role (agents policy, instruction layer,
space, skill, operator, automation, heartbeat, or a file a skill bundles) and names the
layout that put it there, so `cairn ls` and `cairn check` can say where each item came
from. The mapping is documented, with examples, in docs/compatibility.md:

- Cairn: `agents.md`, `spaces/<s>/readme.md`, `skills/<name>/SKILL.md`, `operators/...`,
  `automations/<name>.md`.
- Agent Skills: `skills/**/SKILL.md` (in category folders too) and `.agents/skills/`.
- Rebel: spaces as folders (up to three deep) whose `README.md` has a
  `rebel_space_description`, with their own `skills/` and `operators/`; skills in category
  folders, `AUTOMATION.md` inside a skill folder, operators as `operators/<slug>/OPERATOR.md`,
  the system folder `rebel-system/`, `AGENTS.md` and `CLAUDE.md` at the root.
- OpenClaw: `AGENTS.md`, `SOUL.md`, `USER.md`, `IDENTITY.md`, `TOOLS.md`, `BOOTSTRAP.md`
  as instruction layers, `HEARTBEAT.md` as an automation (its memory files are read by
  the memory index, not here).
- Claude Code: `CLAUDE.md`, `.claude/skills/`, `.claude/agents/*.md` as operators and
  `.claude/commands/*.md` as skills.

Hidden files and folders are left alone except the two tool folders `.claude` and
`.agents`, and only the parts listed above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["agents", "layer", "space", "skill", "command", "operator", "automation", "resource"]
Layout = Literal["cairn", "agent-skills", "rebel", "openclaw", "claude-code"]

LAYOUT_NAMES: dict[Layout, str] = {
    "cairn": "Cairn",
    "agent-skills": "Agent Skills",
    "rebel": "Rebel",
    "openclaw": "OpenClaw",
    "claude-code": "Claude Code",
}

POLICY_FILES = ("agents.md", "cairn.md", "AGENTS.md")
"""Root files that may hold the runtime policy, most preferred first. The first one present
is the policy file; the others are read as instruction layers. `cairn.md` is for a folder
whose `AGENTS.md` belongs to another tool (on macOS and Windows `agents.md` and
`AGENTS.md` are one file)."""

LAYERS: dict[str, Layout] = {
    "AGENTS.md": "cairn",
    "CLAUDE.md": "claude-code",
    ".claude/CLAUDE.md": "claude-code",
    "CLAUDE.local.md": "claude-code",
    "SOUL.md": "openclaw",
    "TOOLS.md": "openclaw",
    "IDENTITY.md": "openclaw",
    "USER.md": "openclaw",
    "BOOTSTRAP.md": "openclaw",
}
"""Instruction layers, in the order they follow the policy file's own instructions."""

HEARTBEAT = "HEARTBEAT.md"
ROOT_MEMORY_FILE = "MEMORY.md"  # OpenClaw's; read by the memory index, not the model
TOOL_FOLDERS = (".claude", ".agents")
"""Hidden folders the model reads (only the parts `classify` names)."""

OTHER_TOOL_MARKERS = tuple(
    dict.fromkeys(("AGENTS.md", *LAYERS, *TOOL_FOLDERS, HEARTBEAT, ROOT_MEMORY_FILE))
)
"""Names at a folder's root that show another tool's workspace (top-level ones only)."""

RESOURCE_FOLDERS = ("scripts", "references", "assets")
README_NAMES = ("readme.md", "README.md")
REBEL_SYSTEM = "rebel-system"
"""Rebel's system folder: its skills and operators are workspace-level ones."""
SPACE_DEPTH = 3
"""How deep a Rebel space folder may sit (`work/Acme/General`)."""
_CAIRN_ROOTS = frozenset(
    {"spaces", "skills", "operators", "automations", "memory", "history", "evals"}
)


@dataclass(frozen=True, slots=True)
class FileRole:
    """What a workspace-relative path is in the model (see `classify`).

    For a bundled file (`kind == "resource"`) the owning skill is found when the workspace
    is assembled: the nearest folder above it that holds a `SKILL.md`.
    """

    kind: Kind
    name: str
    space: str | None = None  # the owning space's name, when the path alone says it
    layout: Layout = "cairn"
    base: str | None = None  # the owning space's folder ("spaces/launch", "work/Acme")


def classify(path: str) -> FileRole | None:
    """The role of a file in the workspace model, or None for files the model ignores."""
    parts = path.split("/")
    if any(not p for p in parts):
        return None
    if parts[0] in TOOL_FOLDERS:
        return _tool_folder(parts)
    if any(p.startswith(".") for p in parts):
        return None
    if len(parts) == 1:
        return _root(parts[0])
    if parts[0] == "spaces":
        if len(parts) < 3:
            return None
        base = "/".join(parts[:2])
        return _in_space(parts[2:], parts[1], base, "cairn", readme=True)
    if parts[0] in ("skills", "operators"):
        return _in_space(parts, None, None, "cairn", readme=False)
    if parts[0] == "automations":
        if len(parts) == 2 and parts[1].endswith(".md"):
            return FileRole("automation", parts[1][:-3])
        return None
    if parts[0] in _CAIRN_ROOTS:
        return None
    if parts[0] == REBEL_SYSTEM:
        return _in_space(parts[1:], None, None, "rebel", readme=False)
    # A Rebel space: a folder whose README.md says so (the parser checks), its skills and
    # operators beside it. The space is named when the workspace is assembled.
    for depth in range(1, min(SPACE_DEPTH, len(parts) - 1) + 1):
        if parts[depth] in ("skills", "operators") or (
            depth == len(parts) - 1 and parts[depth] in README_NAMES
        ):
            base = "/".join(parts[:depth])
            return _in_space(parts[depth:], None, base, "rebel", readme=True)
    return None


def may_hold_model_files(folder: str) -> bool:
    """Whether scanning `folder` can find files `classify` cares about (prunes the walk)."""
    parts = folder.split("/")
    if parts[0] in TOOL_FOLDERS:
        if any(p.startswith(".") for p in parts[1:]):
            return False
        if parts[0] == ".agents":
            return len(parts) == 1 or parts[1] == "skills"
        return (
            len(parts) == 1 or parts[1] in ("skills", "commands") or parts == [".claude", "agents"]
        )
    if any(p.startswith(".") for p in parts):
        return False
    if parts[0] == "spaces":
        return len(parts) <= 2 or parts[2] in ("skills", "operators")
    if parts[0] in ("skills", "operators", "automations"):
        return True
    if parts[0] in _CAIRN_ROOTS:
        return False
    if parts[0] == REBEL_SYSTEM:
        return len(parts) == 1 or parts[1] in ("skills", "operators")
    if len(parts) <= SPACE_DEPTH:
        return True
    return any(p in ("skills", "operators") for p in parts[1 : SPACE_DEPTH + 1])


def space_name(folder: str) -> str:
    """The name of a Rebel space in `folder`: its path as one slug (`work-acme-general`)."""
    return _slug(folder.replace("/", "-"))


def _root(name: str) -> FileRole | None:
    if name in POLICY_FILES:
        return FileRole("agents", name)
    if name in LAYERS:
        return FileRole("layer", name, layout=LAYERS[name])
    if name == HEARTBEAT:
        return FileRole("automation", "heartbeat", layout="openclaw")
    return None


def _tool_folder(parts: list[str]) -> FileRole | None:
    if any(p.startswith(".") for p in parts[1:]) or len(parts) < 2:
        return None
    if parts[0] == ".agents":
        return _skills(parts[2:], None, None, "agent-skills") if parts[1] == "skills" else None
    if len(parts) == 2:
        return (
            FileRole("layer", "/".join(parts), layout="claude-code")
            if parts[1] == "CLAUDE.md"
            else None
        )
    if parts[1] == "skills":
        return _skills(parts[2:], None, None, "claude-code")
    if parts[1] == "agents" and len(parts) == 3 and parts[2].endswith(".md"):
        return FileRole("operator", parts[2][:-3], layout="claude-code")
    if parts[1] == "commands" and parts[-1].endswith(".md"):
        # Claude Code names a command in a sub-folder `folder:name`; here it is `folder-name`.
        return FileRole("command", "-".join([*parts[2:-1], parts[-1][:-3]]), layout="claude-code")
    return None


def _in_space(
    rest: list[str], space: str | None, base: str | None, layout: Layout, *, readme: bool
) -> FileRole | None:
    """A path below a space folder (or the workspace): its readme, skills or operators."""
    if len(rest) == 1:
        if readme and rest[0] in README_NAMES:
            return FileRole("space", space or "", space, layout, base)
        return None
    if rest[0] == "skills":
        return _skills(rest[1:], space, base, layout)
    if rest[0] == "operators":
        return _operators(rest[1:], space, base, layout)
    return None


def _skills(
    rest: list[str], space: str | None, base: str | None, layout: Layout
) -> FileRole | None:
    """`rest` is the path below the skills folder."""
    if not rest:
        return None
    if len(rest) == 1:
        name = rest[0]
        if name.endswith(".md") and name not in README_NAMES:
            return FileRole("skill", name[:-3], space, layout, base)
        return None
    if rest[-1] == "SKILL.md":
        # `skills/<name>/SKILL.md`, or deeper in category folders (Rebel's layout).
        deeper = layout == "cairn" and len(rest) > 2
        return FileRole("skill", rest[-2], space, "rebel" if deeper else layout, base)
    if rest[-1] == "AUTOMATION.md":
        return FileRole("automation", rest[-2], space, "rebel", base)
    return FileRole("resource", rest[-1], space, layout, base)


def _operators(
    rest: list[str], space: str | None, base: str | None, layout: Layout
) -> FileRole | None:
    if len(rest) == 1 and rest[0].endswith(".md") and rest[0] not in README_NAMES:
        return FileRole("operator", rest[0][:-3], space, layout, base)
    if len(rest) == 2 and rest[1] == "OPERATOR.md":
        return FileRole("operator", rest[0], space, layout, base)
    return None


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:64]
