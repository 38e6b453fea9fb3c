"""The workspace on the local disk: confined paths and atomic, conflict-checked writes."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from cairn.core.errors import PathOutsideWorkspaceError, ReadOnlyFileError, WriteConflictError
from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.names import path_parts

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)

TEMP_MARKER = ".cairn-tmp-"
"""Temporary files are named `.<name>.cairn-tmp-<random>`: hidden, so nothing loads them."""


class LocalFileStore:
    """A `FileStore` over a real folder. Every path is confined to the folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._root_text = str(self.root)
        self._root_prefix = os.path.join(self._root_text, "")
        self._safe_folders: set[tuple[str, int, int]] = set()

    def resolve(self, path: str) -> Path:
        """The absolute path for a workspace-relative one, refusing escapes.

        `..`, absolute paths, drive letters and symlinks whose target is outside the
        workspace are refused with `PathOutsideWorkspaceError`.
        """
        full = self._join(path)
        self._confine(full, path)
        return Path(full)

    def _join(self, path: str) -> str:
        return os.path.join(self._root_text, *path_parts(path))

    def real_path(self, path: str) -> str:
        full = self._join(path)
        real = os.path.realpath(full)
        if real == self._root_text:
            return ""
        if not real.startswith(self._root_prefix):
            raise PathOutsideWorkspaceError(
                f"'{path}' leads outside the workspace (through a symbolic link to {real})"
            )
        return real[len(self._root_prefix) :].replace(os.sep, "/")

    def _confine(self, full: str, path: str) -> None:
        # realpath follows every symlink on the way (dangling ones as far as they go).
        real = os.path.realpath(full)
        if real != self._root_text and not real.startswith(self._root_prefix):
            raise PathOutsideWorkspaceError(
                f"'{path}' leads outside the workspace (through a symbolic link to {real})"
            )

    def _confine_folder(self, full: str, path: str) -> None:
        """`_confine` for folders, remembered by identity: loading reads thousands of files
        from the same few folders, and one stat is far cheaper than a realpath walk.

        A folder that is later swapped for a link elsewhere has another (device, inode),
        so it misses the cache and is checked again.
        """
        info = os.stat(full)
        key = (full, info.st_dev, info.st_ino)
        if key not in self._safe_folders:
            self._confine(full, path)
            if len(self._safe_folders) > 50_000:
                self._safe_folders.clear()
            self._safe_folders.add(key)

    def scan(self, folder: str, *, hidden: bool = False) -> tuple[list[str], list[str]]:
        try:
            base = self._join(folder) if folder else self._root_text
            self._confine_folder(base, folder)
            entries = list(os.scandir(base))
        except (FileNotFoundError, NotADirectoryError, PathOutsideWorkspaceError):
            return [], []
        files: list[str] = []
        folders: list[str] = []
        for entry in entries:
            if entry.name.startswith(".") and not hidden:
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
        full = self._join(path)
        folder = os.path.dirname(full)
        self._confine_folder(folder, os.path.dirname(path))
        if not _NOFOLLOW:
            self._confine(full, path)
        try:
            # The file itself must not be a link (O_NOFOLLOW), or else pass the full check.
            fd = os.open(full, os.O_RDONLY | _NOFOLLOW | _BINARY)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.EMLINK) or not _NOFOLLOW:
                raise
            self._confine(full, path)
            fd = os.open(full, os.O_RDONLY | _BINARY)
        with os.fdopen(fd, "rb") as handle:
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
        # Write through a link that stays inside the workspace: the link itself is kept.
        target = Path(os.path.realpath(self.resolve(path)))
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = None
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(target.stat().st_mode)
        if mode is not None and not mode & stat.S_IWUSR:
            raise ReadOnlyFileError(
                f"{path} is read-only, so Cairn leaves it alone; make it writable to allow changes"
            )

        def unchanged() -> None:
            # Checked after the new bytes are on disk, right before the rename.
            actual = self.current_hash(path)
            if actual != base_hash:
                raise WriteConflictError(path, base_hash, actual)

        write_atomically(target, data, mode=mode, new_mode=0o644, before_rename=unchanged)
        return content_hash(data)

    def delete(self, path: str, *, base_hash: str) -> None:
        """Remove a file that still holds what the caller last saw; never a newer version."""
        target = self.resolve(path)
        actual = self.current_hash(path)
        if actual != base_hash:
            raise WriteConflictError(path, base_hash, actual)
        target.unlink()
        _fsync_folder(target.parent)

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


def write_atomically(
    target: Path,
    data: bytes,
    *,
    mode: int | None = None,
    new_mode: int = 0o600,
    before_rename: Callable[[], None] | None = None,
) -> None:
    """Write `data` to `target` through a hidden temporary file in the same folder: fsync,
    then rename over the target, so a reader or a crash sees the old bytes or the new, never
    a mix. `mode` keeps an existing file's permissions exactly (a new one gets `new_mode`);
    `before_rename` may raise to abandon the write (a conflict check). Cairn's one atomic
    writer: workspace files, approval records and every other state file use it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}{TEMP_MARKER}{secrets.token_hex(4)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, new_mode)
        if mode is not None and hasattr(os, "fchmod"):
            os.fchmod(fd, mode)  # keep the original's permissions exactly (umask aside)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if before_rename is not None:
            before_rename()
        temp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open folders this way.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
