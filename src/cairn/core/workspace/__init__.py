"""The workspace wing: a folder of markdown files read into typed, immutable objects.

It owns the file formats (frontmatter schemas, bounded YAML, byte-preserving edits),
parsing with precise diagnostics, schedules, and `WorkspaceModel` — the loaded workspace,
kept current by incremental reloads and written through conflict-checked writes. It
imports nothing else from the core but the errors and the `FileStore` port.
"""

from __future__ import annotations

from cairn.core.workspace.diagnostics import Diagnostic, Severity
from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash, parse_document
from cairn.core.workspace.edit import EditError, update_frontmatter
from cairn.core.workspace.entities import Agents, Automation, Operator, Skill, Space, Workspace
from cairn.core.workspace.events import (
    DiagnosticsChanged,
    EntityAdded,
    EntityChanged,
    EntityRemoved,
    Subscription,
    WorkspaceEvent,
)
from cairn.core.workspace.loader import Change, WorkspaceModel, WorkspaceUpdate
from cairn.core.workspace.schema import AgentsPolicy, ModelSpec

__all__ = [
    "MAX_FILE_BYTES",
    "Agents",
    "AgentsPolicy",
    "Automation",
    "Change",
    "Diagnostic",
    "DiagnosticsChanged",
    "EditError",
    "EntityAdded",
    "EntityChanged",
    "EntityRemoved",
    "ModelSpec",
    "Operator",
    "Severity",
    "Skill",
    "Space",
    "Subscription",
    "Workspace",
    "WorkspaceEvent",
    "WorkspaceModel",
    "WorkspaceUpdate",
    "content_hash",
    "parse_document",
    "update_frontmatter",
]
