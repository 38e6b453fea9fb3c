"""What the workspace walk leaves out: dependencies, virtual environments, caches, and
whatever the folder's `.gitignore` files exclude.

Real folders that other tools' workspaces live in are big and messy (a skill's
`node_modules`, a `.venv`, build output); the model never reads them. Root instruction
files (`AGENTS.md`, `CLAUDE.local.md`, ...) are read even when git ignores them: they are
the user's own, often kept out of git on purpose.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cairn.core.errors import CairnError
from cairn.core.ports import FileStore

if TYPE_CHECKING:
    import pathspec

DEPENDENCY_FOLDERS: Mapping[str, str] = {
    "node_modules": "dependencies (node_modules)",
    "site-packages": "virtual environments",
    "__pycache__": "caches",
}
VENV_MARKER = "pyvenv.cfg"  # a Python virtual environment, whatever its folder is called
GITIGNORE = ".gitignore"
_LIMIT = 256 * 1024


class IgnoreRules:
    """The walk's filter for one store: `.gitignore` files are read once each and cached."""

    def __init__(self, store: FileStore) -> None:
        self._store = store
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self.skipped: Counter[str] = Counter()  # reason -> folders left out by the last walk

    def forget(self, folder: str = "") -> None:
        """Drop cached `.gitignore` rules at and under `folder` (it changed)."""
        prefix = f"{folder}/" if folder else ""
        for key in [k for k in self._specs if k == folder or k.startswith(prefix)]:
            del self._specs[key]

    def seen(self, folder: str, names: list[str]) -> None:
        """The walk listed `folder` (hidden names included): a missing `.gitignore` need
        not be looked for again, which spares one failed open per folder."""
        if GITIGNORE not in names:
            self._specs.setdefault(folder, None)

    def folder_reason(self, folder: str, files: list[str]) -> str | None:
        """Why the walk skips `folder` (whose files are `files`), or None to enter it."""
        name = folder.rpartition("/")[2]
        if name in DEPENDENCY_FOLDERS:
            return DEPENDENCY_FOLDERS[name]
        if VENV_MARKER in files:
            return "virtual environments"
        if self.ignored(folder, is_dir=True):
            return "ignored by .gitignore"
        return None

    def ignored(self, path: str, *, is_dir: bool = False) -> bool:
        """Whether a `.gitignore` in a folder above `path` excludes it, or a dependency
        folder holds it."""
        parts = path.split("/")
        if any(p in DEPENDENCY_FOLDERS for p in parts[:-1]) or (
            is_dir and parts[-1] in DEPENDENCY_FOLDERS
        ):
            return True
        for depth in range(len(parts)):
            base = "/".join(parts[:depth])
            spec = self._spec(base)
            if spec is None:
                continue
            inner = "/".join(parts[depth:]) + ("/" if is_dir else "")
            if spec.match_file(inner):
                return True
        return False

    def _spec(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder in self._specs:
            return self._specs[folder]
        spec: pathspec.GitIgnoreSpec | None = None
        try:
            raw = self._store.read(f"{folder}/{GITIGNORE}" if folder else GITIGNORE, _LIMIT)
        except (OSError, CairnError):
            raw = b""  # none here (the common case), or unreadable: it excludes nothing
        if raw:
            import pathspec  # only when there is a .gitignore: ~17 ms of start-up otherwise

            lines = raw[:_LIMIT].decode("utf-8", "replace").splitlines()
            try:
                spec = pathspec.GitIgnoreSpec.from_lines(lines)
            except ValueError:
                spec = None  # a malformed pattern: git would ignore the file too
        self._specs[folder] = spec
        return spec
