"""Workspace paths and the file names Cairn makes: one rule for each.

`path_parts` is the one definition of a workspace-relative path, used by the store
(`cairn.infra.files`), the file tools and the fakes alike; `slug` names records, topics
and archived notes.
"""

from __future__ import annotations

import re

from cairn.core.errors import PathOutsideWorkspaceError

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str, length: int = 40) -> str:
    """Lower-case letters and digits joined by single hyphens, at most `length` long."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-")[:length].strip("-")


def path_parts(raw: str) -> list[str]:
    """The segments of a workspace-relative path ('.' and empty parts dropped, '\\' read as
    '/'), refusing anything that could leave the workspace: an absolute path, '~', '..', a
    drive letter, a NUL byte."""
    parts = [p for p in raw.replace("\\", "/").split("/") if p and p != "."]
    if (
        raw.startswith(("/", "\\", "~"))
        or ".." in parts
        or (parts and ":" in parts[0])
        or "\x00" in raw
    ):
        raise PathOutsideWorkspaceError(
            f"'{raw}' is outside the workspace: use a path relative to the workspace folder, "
            "without '..'"
        )
    return parts
