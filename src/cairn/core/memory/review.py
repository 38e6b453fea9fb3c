"""What a person looks at and decides about memory: a space's three tiers as they are on
disk, where a staged memory would land, and forgetting.

Front ends (`cairn memory`, the desktop app) call these, so they show exactly the files
the writer writes and `forget` removes. Everything is read through the workspace model's
store; the decisions themselves are `MemoryWriter`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cairn.core.memory.items import MemoryItem, Tier, items_in, thresholds, tier_for
from cairn.core.memory.writer import MemoryNotFoundError, MemoryWriter, Pending
from cairn.core.workspace.documents import MAX_FILE_BYTES, parse_document
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.loader import WorkspaceModel

ARCHIVE_SHOWN = 200  # newest archive notes read for a listing; search finds the rest
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class TopicFile:
    name: str  # the topic: the file's name without `.md`
    path: str  # workspace-relative
    text: str  # the markdown after its frontmatter
    items: tuple[MemoryItem, ...]  # its memory lines (none in a file kept by hand)


@dataclass(frozen=True, slots=True)
class ArchivedNote:
    id: str
    date: str
    text: str
    source: str
    value: float
    path: str
    forgettable: bool  # a note Cairn wrote; any other file is the user's to edit


@dataclass(frozen=True, slots=True)
class SpaceMemory:
    space: str
    scope: str
    readme_path: str
    readme: tuple[MemoryItem, ...]  # the memory lines in the readme: always in context
    topics: tuple[TopicFile, ...]
    archive: tuple[ArchivedNote, ...]  # newest first, at most `ARCHIVE_SHOWN`
    archived: int  # how many archive files there are in all


def space_memory(
    model: WorkspaceModel, space: str, *, archive_shown: int = ARCHIVE_SHOWN
) -> SpaceMemory:
    """The three tiers of one space, read from its files (the same places the writer uses:
    its readme, `memory/topics/<topic>.md`, and every other file under `memory/`)."""
    found = model.workspace.spaces[space]
    base = found.root
    readme = _read(model, found.path)
    topics: list[TopicFile] = []
    archived: list[str] = []
    for path in _markdown(model, f"{base}/memory"):
        rest = path[len(base) + len("/memory/") :]
        if rest.startswith("topics/") and rest.count("/") == 1:
            text = _read(model, path)
            doc, _ = parse_document(path, text.encode("utf-8"))
            body = doc.body if doc is not None else text
            topics.append(TopicFile(rest[len("topics/") : -3], path, body, tuple(items_in(text))))
        else:
            archived.append(path)
    # Cairn files notes as archive/YYYY/MM/<date>-…: by path, newest first.
    archived.sort(reverse=True)
    notes = [_note(model, path) for path in archived[:archive_shown]]
    return SpaceMemory(
        space,
        found.scope,
        found.path,
        tuple(items_in(readme)),
        tuple(sorted(topics, key=lambda t: t.name)),
        tuple(n for n in notes if n is not None),
        len(archived),
    )


def destination(
    staged: Pending, workspace: Workspace, space: str | None = None
) -> tuple[str, Tier] | None:
    """Where approving a staged memory writes it (space, tier), as `MemoryWriter.approve`
    decides; None when no space is named yet."""
    target = space or staged.space
    if not target or target not in workspace.spaces:
        return None
    high, moderate, _ = thresholds(workspace.spaces[target])
    return target, tier_for(staged.value, high, moderate)


def forget(
    writer: MemoryWriter, item_id: str, indexed_paths: Callable[[str], list[str]]
) -> list[str]:
    """Forget a memory everywhere (readme, topics, archive, staged; the index follows the
    writer). A note Cairn did not write is not removed: the error names the file to edit."""
    try:
        return writer.forget(item_id)
    except MemoryNotFoundError:
        if found := indexed_paths(item_id):  # a free-form note: its file is the user's
            raise MemoryNotFoundError(
                f"'{item_id}' is a note written by hand or by another tool, not a "
                f"memory Cairn wrote: edit {' and '.join(found)} to remove it (the "
                "index follows the file)"
            ) from None
        raise


def _read(model: WorkspaceModel, path: str) -> str:
    try:
        return model.store.read(path, MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return ""


def _markdown(model: WorkspaceModel, folder: str) -> list[str]:
    files, folders = model.store.scan(folder)
    found = [f"{folder}/{name}" for name in files if name.endswith(".md")]
    for sub in folders:
        found += _markdown(model, f"{folder}/{sub}")
    return found


def _note(model: WorkspaceModel, path: str) -> ArchivedNote | None:
    raw = _read(model, path)
    doc, _ = parse_document(path, raw.encode("utf-8"))
    if doc is None or not doc.body.strip():
        return None
    meta = doc.frontmatter
    stem = path.rsplit("/", 1)[-1][:-3]
    item_id = str(meta.get("id") or stem.rsplit("-", 1)[-1])
    try:
        value = float(meta.get("value") or 0.0)
    except (TypeError, ValueError):
        value = 0.0
    return ArchivedNote(
        id=item_id,
        date=str(meta.get("date") or (stem[:10] if _DATE.match(stem) else "")),
        text=doc.body.strip(),
        source=str(meta.get("source") or ""),
        value=value,
        path=path,
        forgettable="/memory/archive/" in path and stem.endswith(f"-{item_id}"),
    )
