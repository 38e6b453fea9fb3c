"""One exception hierarchy for everything Cairn raises on purpose."""

from __future__ import annotations


class CairnError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class WriteConflictError(CairnError):
    """A file changed on disk after it was read; the write was refused and nothing was written."""

    def __init__(self, path: str, expected_hash: str | None, actual_hash: str | None) -> None:
        self.path = path
        self.expected_hash = expected_hash
        self.actual_hash = actual_hash
        if expected_hash is None:
            what = "it was expected not to exist, but it does"
        elif actual_hash is None:
            what = "it was deleted since it was read"
        else:
            what = "it changed on disk since it was read"
        super().__init__(
            f"{path}: not written because {what}. Reload the file and apply the change again."
        )


class PathOutsideWorkspaceError(CairnError):
    """A path would leave the workspace folder (`..`, an absolute path or a symlink)."""


class ReadOnlyFileError(CairnError):
    """The file is marked read-only; Cairn respects that and writes nothing."""


class WorkspaceNotFoundError(CairnError):
    """The folder given is not a Cairn workspace."""
