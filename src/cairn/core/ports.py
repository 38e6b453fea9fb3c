"""IO seams the core depends on. Real implementations live in `cairn.infra`."""

from __future__ import annotations

from typing import Protocol


class FileStore(Protocol):
    """A workspace folder, addressed by workspace-relative POSIX paths.

    Implementations confine every path to the workspace: `..`, absolute paths and
    symlinks that lead outside raise `PathOutsideWorkspaceError`.
    """

    def scan(self, folder: str) -> tuple[list[str], list[str]]:
        """Names of the files and of the sub-folders directly in `folder` (hidden ones left out).

        A folder that does not exist has no entries.
        """
        ...

    def is_dir(self, path: str) -> bool: ...

    def real_path(self, path: str) -> str:
        """The workspace-relative path that `path` really names, every link resolved.

        Rules are decided on both the path as written and this one, so a link cannot
        carry a write onto `agents.md` or a read into `.env`. Raises
        `PathOutsideWorkspaceError` when the path leads outside the workspace.
        """
        ...

    def read(self, path: str, limit: int) -> bytes:
        """The file's bytes, at most `limit + 1` of them (so callers can tell it is too big)."""
        ...

    def write(self, path: str, data: bytes, *, base_hash: str | None) -> str:
        """Atomically replace `path` with `data` and return the new content hash.

        `base_hash` is the hash of the content the change was based on (None: the file
        must not exist yet). If the file on disk no longer has that hash, nothing is
        written and `WriteConflictError` is raised.
        """
        ...

    def delete(self, path: str, *, base_hash: str) -> None:
        """Remove `path` if it still has `base_hash`; otherwise raise `WriteConflictError`."""
        ...
