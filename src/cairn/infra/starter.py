"""The starter workspace: shipped in the wheel, or the repository root in a source checkout."""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import cairn
from cairn.core.errors import CairnError, WorkspaceNotFoundError
from cairn.infra.state import STATE, make_folder

STARTER_ENTRIES = ("agents.md", "spaces", "skills", "operators", "automations", "evals")


def starter_root() -> Path:
    package = Path(cairn.__file__).parent
    shipped = package / "starter"
    if (shipped / "agents.md").is_file():
        return shipped
    # Editable install or source checkout: src/cairn -> repository root.
    checkout = package.parent.parent
    if (checkout / "agents.md").is_file() and (checkout / "pyproject.toml").is_file():
        return checkout
    raise WorkspaceNotFoundError(
        "the starter workspace is missing from this installation; reinstall cairn-workspace"
    )


@dataclass
class InitReport:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # already there: never overwritten


def copy_starter(target: Path) -> InitReport:
    """Copy every starter file that does not exist yet in `target`."""
    source = starter_root()
    report = InitReport()
    for entry in STARTER_ENTRIES:
        origin = source / entry
        files = (
            [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
        )
        for file in files:
            if "__pycache__" in file.parts:
                continue
            relative = file.relative_to(source)
            destination = target / relative
            if destination.exists() or destination.is_symlink():
                report.kept.append(relative.as_posix())
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, destination)
            report.created.append(relative.as_posix())
    return report


class OtherToolWorkspaceError(CairnError):
    """The folder holds another tool's workspace: copying the starter in would add skills
    that tool then loads as its own, so it is adopted as it is instead (`adopt`)."""

    def __init__(self, folder: Path, found: list[str]) -> None:
        self.folder, self.found = folder, found
        super().__init__(f"{folder} already holds another tool's workspace ({', '.join(found)})")


def create_workspace(target: Path) -> InitReport:
    """`cairn init`: the starter workspace in `target` (made if missing), keeping every file
    already there; refused for another tool's workspace (see `OtherToolWorkspaceError`)."""
    found = other_tools_files(target)
    if found:
        raise OtherToolWorkspaceError(target, found)
    target.mkdir(parents=True, exist_ok=True)
    return copy_starter(target)


def other_tools_files(folder: Path) -> list[str]:
    """What in `folder` shows another tool's workspace (AGENTS.md, CLAUDE.md, SOUL.md,
    .claude/, ...), when it has no Cairn policy file (`agents.md`, `cairn.md`) yet."""
    from cairn.core.workspace.layouts import OTHER_TOOL_MARKERS

    if not folder.is_dir():
        return []
    names = {entry.name for entry in folder.iterdir()}
    if names & {"agents.md", "cairn.md"}:  # exact case: Cairn's own policy file
        return []
    return [name for name in OTHER_TOOL_MARKERS if name in names]


def looks_like_workspace(folder: Path) -> bool:
    """Whether `folder` holds a workspace, Cairn's or another tool's (docs/compatibility.md)."""
    from cairn.core.workspace.layouts import OTHER_TOOL_MARKERS, POLICY_FILES

    # An `evals/` folder alone is not a workspace (many projects have one).
    entries = tuple(e for e in STARTER_ENTRIES if e != "evals")
    markers = (*entries, *POLICY_FILES, *OTHER_TOOL_MARKERS)
    return any((folder / name).exists() for name in markers)


@dataclass
class AdoptReport:
    """What `cairn init --from` added to another tool's folder (it never changes a file)."""

    policy: str  # the policy file Cairn reads: created, or the one already there
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)  # instruction files tools may not write


POLICY_HEADER = (
    "Cairn's settings for this folder: models, roles, routing, permissions and budgets. "
    "The instructions stay in the files the other tool reads ({layers}); Cairn reads them "
    "after this file's own body, in that order. See docs/compatibility.md."
)


def adopt(folder: Path) -> AdoptReport:
    """Make `folder` (another tool's workspace) a Cairn workspace, keeping its files.

    Adds a policy file with the starter's settings, `cairn.md` (unless the folder already
    has `agents.md` or `cairn.md`). Its rules keep Cairn's tools from writing the other
    tools' instruction files. Adds `.cairn/.gitignore` so the
    state Cairn keeps there stays out of git without editing the folder's own `.gitignore`.
    """
    from cairn.core.workspace.layouts import LAYERS, POLICY_FILES

    names = {entry.name for entry in folder.iterdir()}
    existing = next((name for name in POLICY_FILES[:2] if name in names), None)
    layers = [name for name in ("AGENTS.md", *LAYERS) if name in names or _exists(folder, name)]
    layers = list(dict.fromkeys(layers))
    # Always cairn.md, never agents.md: on macOS and Windows `agents.md` is `AGENTS.md`,
    # which other agents (Codex, Cursor, OpenClaw) read as their own instructions.
    policy = existing or "cairn.md"
    report = AdoptReport(policy, protected=[policy, *layers])
    if existing is not None:
        report.kept.append(existing)
    else:
        text = _policy_text(policy, report.protected, layers)
        with (folder / policy).open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        report.created.append(policy)
    ignore = folder / STATE / ".gitignore"
    if ignore.exists():
        report.kept.append(".cairn/.gitignore")
    else:
        make_folder(ignore.parent)
        report.created.append(".cairn/.gitignore")
    return report


def _exists(folder: Path, relative: str) -> bool:
    return (folder / relative).is_file()


def _policy_text(policy: str, protected: list[str], layers: list[str]) -> str:
    """The starter agents.md's frontmatter, with its write-protection of agents.md turned
    into one rule per instruction file here, and no body: the instructions are theirs."""
    starter = (starter_root() / "agents.md").read_text(encoding="utf-8")
    front = starter.split("---\n", 2)[1]
    rules = "".join(
        f'  - {{tool: "*", action: write, path: "{path}", decision: deny}}\n' for path in protected
    )
    lines = front.splitlines(keepends=True)
    deny = next(i for i, line in enumerate(lines) if 'path: "agents.md"' in line)
    lines[deny : deny + 1] = [rules]
    header = POLICY_HEADER.format(layers=", ".join(layers) or "none yet")
    comment = "".join(f"# {line}\n" for line in textwrap.wrap(header, 86))
    return f"---\n{comment}{''.join(lines)}---\n"
