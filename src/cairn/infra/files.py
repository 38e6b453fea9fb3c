"""The workspace on the local disk: confined paths and atomic, conflict-checked writes."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path, PurePosixPath

from cairn.core.documents import content_hash
from cairn.core.errors import PathOutsideWorkspaceError, WriteConflictError

TEMP_MARKER = ".cairn-tmp-"
"""Temporary files are named `.<name>.cairn-tmp-<random>`: hidden, so nothing loads them."""


class LocalFileStore:
    """A `FileStore` over a real folder. Every path is confined to the folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def resolve(self, path: str) -> Path:
        """The absolute path for a workspace-relative one, refusing escapes.

        `..`, absolute paths, drive letters and symlinks whose target is outside the
        workspace are refused with `PathOutsideWorkspaceError`.
        """
        pure = PurePosixPath(path.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
            raise PathOutsideWorkspaceError(
                f"'{path}' is outside the workspace: use a path relative to {self.root} "
                "without '..'"
            )
        full = self.root.joinpath(*pure.parts)
        real = full.resolve()  # follows symlinks, including dangling ones as far as possible
        if real != self.root and self.root not in real.parents:
            raise PathOutsideWorkspaceError(
                f"'{path}' leads outside the workspace (through a symbolic link to {real})"
            )
        return full

    def scan(self, folder: str) -> tuple[list[str], list[str]]:
        try:
            base = self.resolve(folder) if folder else self.root
            entries = list(os.scandir(base))
        except (FileNotFoundError, NotADirectoryError, PathOutsideWorkspaceError):
            return [], []
        files: list[str] = []
        folders: list[str] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                # Symlinked folders are not followed: no loops, no escapes while scanning.
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.name)
                elif entry.is_file(follow_symlinks=True):
                    files.append(entry.name)
            except OSError:
                continue
        return sorted(files), sorted(folders)

    def is_dir(self, path: str) -> bool:
        try:
            return (self.resolve(path) if path else self.root).is_dir()
        except (OSError, PathOutsideWorkspaceError):
            return False

    def read(self, path: str, limit: int) -> bytes:
        with self.resolve(path).open("rb") as handle:
            return handle.read(limit + 1)

    def current_hash(self, path: str) -> str | None:
        try:
            return content_hash(self.resolve(path).read_bytes())
        except FileNotFoundError:
            return None

    def write(self, path: str, data: bytes, *, base_hash: str | None) -> str:
        """Write via a temporary file in the same folder, fsync, then rename over the target.

        A reader (or a crash) sees the old bytes or the new bytes, never a mix. The
        conflict check runs after the new content is safely on disk, right before the
        rename, to keep the window in which an editor's save could slip through as
        small as the file system allows.
        """
        target = self.resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = None
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(target.stat().st_mode)
        temp = target.with_name(f".{target.name}{TEMP_MARKER}{secrets.token_hex(4)}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode or 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            actual = self.current_hash(path)
            if actual != base_hash:
                raise WriteConflictError(path, base_hash, actual)  # noqa: TRY301
            temp.replace(target)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        _fsync_folder(target.parent)
        return content_hash(data)

    def remove_stale_temporaries(self) -> list[str]:
        """Delete temporary files a killed process left behind; returns what was removed."""
        removed: list[str] = []
        for folder, _, names in os.walk(self.root):
            for name in names:
                if TEMP_MARKER in name and name.startswith("."):
                    full = Path(folder) / name
                    with contextlib.suppress(OSError):
                        full.unlink()
                        removed.append(full.relative_to(self.root).as_posix())
        return removed


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open folders this way.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
