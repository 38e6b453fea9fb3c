"""What a pending write would change, as a person reviews it: a diff, or the added lines.

An approval card (or `cairn approvals show`) shows this rather than the raw arguments: a
replaced file as a unified diff against what is on disk now, an append as the lines it
adds, a new file as a diff from nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.workspace.documents import MAX_FILE_BYTES
from cairn.core.workspace.loader import WorkspaceModel

DIFF_LINES = 200


def change_lines(
    tool: str,
    path: str,
    before: str | None,
    arguments: Mapping[str, Any],
    limit: int = DIFF_LINES,
) -> list[str]:
    """The change a write tool would make to `path` (holding `before`, None: no file);
    empty for a tool that writes no file content."""
    if tool == "write_file":
        new = str(arguments.get("content", ""))
        diff = difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            f"a/{path}" if before is not None else "/dev/null",
            f"b/{path}",
        )
        shown = [line.rstrip("\r\n") for line in diff]
    elif tool == "append_file":
        shown = [f"+{line}" for line in str(arguments.get("text", "")).splitlines()]
    else:
        return []
    if len(shown) > limit:
        shown[limit:] = [f"[… {len(shown) - limit} more lines]"]
    return shown


def pending_change(
    model: WorkspaceModel, tool: str, path: str | None, arguments: Mapping[str, Any]
) -> list[str]:
    """`change_lines` against the file as it is on disk now; empty when there is no file
    content to show (not a write, or a path the tool itself would refuse)."""
    if path is None or tool not in ("write_file", "append_file"):
        return []
    try:
        raw = model.store.read(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        return change_lines(tool, path, None, arguments)
    except (OSError, CairnError):
        return []
    if len(raw) > MAX_FILE_BYTES:
        return [f"{path} is larger than {MAX_FILE_BYTES // 1024} KiB; not shown"]
    return change_lines(tool, path, raw.decode("utf-8", "replace"), arguments)
