"""Marks and scopes of workspace files: what makes a file's content sensitive, and whose it is.

A file is sensitive when its frontmatter says `sensitive: true` (wherever it sits) or it
lives in a private space or the owner's root memory; a path's scope is the scope of the
space it is in, the owner's root memory (`MEMORY.md`, `memory/`) is private, and any other
path outside every space is shared ("workspace", the widest). The router and `cairn route`
ask these questions of files; a task's `Provenance` asks them of every file it reads.
"""

from __future__ import annotations

from cairn.core.workspace.documents import FRONTMATTER_BOUNDARY, parse_document
from cairn.core.workspace.entities import Workspace

SCOPE_RANK = {"private": 0, "team": 1, "company": 2}
WORKSPACE_SCOPE = "workspace"
"""The scope of a path outside every space (`history/`, a root note): shared, the widest."""

MARK_KEY = "sensitive"


def rank(scope: str | None) -> int:
    return SCOPE_RANK.get(scope or "", len(SCOPE_RANK))


ROOT_MEMORY = frozenset(("MEMORY.md", "memory.md"))
"""The owner's curated long-term memory at the workspace root (OpenClaw's layout)."""
ROOT_NOTES = "memory"
"""The owner's notes folder at the workspace root (OpenClaw's daily notes)."""
STAGED = "memory/pending/"
"""Staged memories (`cairn.core.memory.writer`) wait here for a decision: they are not the
owner's memory yet, and keep the scope of where they are meant to go through their mark."""


def is_root_memory(path: str) -> bool:
    """Whether a workspace path is the owner's private root memory: `MEMORY.md`,
    `memory.md`, or anything under `memory/` but the staged memories in `memory/pending/`."""
    if path in ROOT_MEMORY:
        return True
    return path.startswith(f"{ROOT_NOTES}/") and not path.startswith(STAGED)


def space_of(workspace: Workspace, path: str) -> tuple[str | None, str]:
    """(space name, scope) of a workspace path: the space whose folder holds it
    (`spaces/<name>/`, or a Rebel space's own folder), (None, "private") for the owner's
    root memory (see `is_root_memory`), (None, "workspace") anywhere else."""
    found = workspace.space_at(path)
    if found is not None:
        return found.name, found.scope
    if is_root_memory(path):
        return None, "private"
    return None, WORKSPACE_SCOPE


_NOT_MARKED = frozenset({"false", "no", "off", "0", ""})


def is_marked(text: str) -> bool:
    """Whether a file's text carries the `sensitive` mark in its frontmatter.

    It fails closed: a `sensitive` key whose value is not plainly false ("false", "no",
    "off", 0, empty) marks the file, and so does frontmatter that names the key but does
    not parse. Only the frontmatter is read, so a file's size or body never hides a mark."""
    text = text.removeprefix("\ufeff")
    opening = FRONTMATTER_BOUNDARY.match(text)
    if opening is None:
        return False
    closing = FRONTMATTER_BOUNDARY.search(text, opening.end())
    head = text[opening.end() : closing.start()] if closing else text[opening.end() :]
    if MARK_KEY not in head:
        return False  # no key of that name: no need to parse the YAML (agents.md is long)
    doc, _ = parse_document("", text[: closing.end()].encode("utf-8")) if closing else (None, [])
    if doc is None:
        return True  # the key is there but the YAML is broken: treat it as marked
    value = doc.frontmatter.get(MARK_KEY)
    if value is None and MARK_KEY not in doc.frontmatter:
        return False  # the word appears, but not as a key (e.g. inside another value)
    return str(value).strip().lower() not in _NOT_MARKED


def file_sensitivity(workspace: Workspace, path: str, text: str) -> str | None:
    """Why a file's content is sensitive, or None: marked, in a private space, or the
    owner's root memory.

    `path` should be the real path (links resolved): a link in a team space that leads
    into a private one is private content."""
    if is_marked(text):
        return f"{path} is marked sensitive"
    name, scope = space_of(workspace, path)
    if scope == "private" and name is None:
        return f"{path} (the owner's private memory)"
    if scope == "private":
        return f"{path} (private space '{name}')"
    return None
