"""`.cairn/`: the state Cairn keeps in a workspace (memory index, traces, spend ledger,
approvals). It is created with a `.gitignore` inside that ignores all of it, so private
memory copied into the index never lands in git, without editing the folder's own
`.gitignore` (which may belong to another tool)."""

from __future__ import annotations

import contextlib
from pathlib import Path

STATE = ".cairn"
GITIGNORE_TEXT = "# Cairn's state (index, traces, ledger, approvals): not for git\n*\n"


def make_folder(folder: Path) -> None:
    """`folder.mkdir(parents=True, exist_ok=True)`; when it is in `.cairn/`, that folder's
    `.gitignore` is written first (once; one written by hand is kept)."""
    parts = folder.parts
    if STATE in parts:
        state = Path(*parts[: parts.index(STATE) + 1])
        state.mkdir(parents=True, exist_ok=True)
        ignore = state / ".gitignore"
        if not ignore.exists():
            with contextlib.suppress(FileExistsError), ignore.open("x", encoding="utf-8") as f:
                f.write(GITIGNORE_TEXT)
    folder.mkdir(parents=True, exist_ok=True)
