"""The starter workspace: shipped in the wheel, or the repository root in a source checkout."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cairn
from cairn.core.errors import WorkspaceNotFoundError

STARTER_ENTRIES = ("agents.md", "spaces", "skills", "operators", "automations")


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


def looks_like_workspace(folder: Path) -> bool:
    return any((folder / name).exists() for name in (*STARTER_ENTRIES, "AGENTS.md"))
