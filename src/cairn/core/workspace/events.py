"""What the workspace model tells its subscribers: changes, as typed events in batches.

`Change` is one file's change found by `diff`; `events_for` turns a refresh's changes into
`EntityAdded`, `EntityChanged`, `EntityRemoved` and `DiagnosticsChanged` events, delivered
as one batch per refresh, write or delete to every `Subscription` of the model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeAlias

from cairn.core.workspace.diagnostics import Diagnostic
from cairn.core.workspace.entities import (
    Workspace,
)

log = logging.getLogger("cairn.core.workspace.loader")

ChangeKind = Literal["added", "modified", "removed"]
EntityKind = Literal["file", "agents", "space", "skill", "operator", "automation"]
Origin = Literal["external", "cairn"]  # an edit made outside Cairn, or Cairn's own write


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that changed in the model: a file, or the object it defines."""

    kind: ChangeKind
    what: EntityKind
    name: str  # the path for files, the object's name otherwise (space skills: "space/name")
    path: str
    origin: Origin = "external"


@dataclass(frozen=True, slots=True)
class WorkspaceUpdate:
    workspace: Workspace
    changes: tuple[Change, ...]


# --- events: what subscribers receive --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityEvent:
    """A file, or an object a file defines, was added, changed or removed.

    `what` is "file" for any file the model follows (model files and skills' bundled
    files), or the kind of object: "agents", "space", "skill", "operator", "automation".
    `name` is the path for files and the object's name otherwise ("space/name" for a
    space's own skills and operators). `workspace` is the model's workspace right after
    the change (not compared, not shown in repr).
    """

    kind: ClassVar[ChangeKind]  # the same word as `Change.kind`
    what: EntityKind
    name: str
    path: str
    origin: Origin
    workspace: Workspace = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class EntityAdded(EntityEvent):
    kind: ClassVar[ChangeKind] = "added"


@dataclass(frozen=True, slots=True)
class EntityChanged(EntityEvent):
    kind: ClassVar[ChangeKind] = "modified"


@dataclass(frozen=True, slots=True)
class EntityRemoved(EntityEvent):
    kind: ClassVar[ChangeKind] = "removed"


@dataclass(frozen=True, slots=True)
class DiagnosticsChanged:
    """The diagnostics of `paths` are no longer what they were.

    `diagnostics` holds every current diagnostic of those paths (in the workspace's order);
    a path with none left had its problems fixed. Cross-file checks count: removing a
    space changes the diagnostics of the automations that run in it.
    """

    paths: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]
    origin: Origin
    workspace: Workspace = field(compare=False, repr=False)

    def for_path(self, path: str) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.path == path)


WorkspaceEvent: TypeAlias = EntityAdded | EntityChanged | EntityRemoved | DiagnosticsChanged
WorkspaceListener: TypeAlias = Callable[[tuple[WorkspaceEvent, ...]], object]

_EVENT_TYPES: Mapping[ChangeKind, type[EntityAdded | EntityChanged | EntityRemoved]] = {
    "added": EntityAdded,
    "modified": EntityChanged,
    "removed": EntityRemoved,
}


def events_for(
    update: WorkspaceUpdate, before: Workspace, origin: Origin
) -> tuple[WorkspaceEvent, ...]:
    """The events of one update: its changes in order, then `DiagnosticsChanged` if any."""
    events: list[WorkspaceEvent] = [
        _EVENT_TYPES[c.kind](c.what, c.name, c.path, c.origin, update.workspace)
        for c in update.changes
    ]
    diagnostics = diagnostics_changed(before, update.workspace, origin)
    if diagnostics is not None:
        events.append(diagnostics)
    return tuple(events)


def diagnostics_changed(
    old: Workspace, new: Workspace, origin: Origin
) -> DiagnosticsChanged | None:
    """The paths whose diagnostics differ between two workspaces, with their new ones."""
    if old.diagnostics == new.diagnostics:
        return None
    before: dict[str, list[Diagnostic]] = {}
    after: dict[str, list[Diagnostic]] = {}
    for diagnostic in old.diagnostics:
        before.setdefault(diagnostic.path, []).append(diagnostic)
    for diagnostic in new.diagnostics:
        after.setdefault(diagnostic.path, []).append(diagnostic)
    paths = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if not paths:
        return None
    involved = set(paths)
    return DiagnosticsChanged(
        tuple(paths), tuple(d for d in new.diagnostics if d.path in involved), origin, new
    )


class Subscription:
    """One listener's registration with a `WorkspaceModel`.

    End it with `unsubscribe()` (or `model.unsubscribe(subscription)`, or by leaving a
    `with` block); both are idempotent and safe from any thread.
    """

    __slots__ = ("_active", "_remove", "listener")

    def __init__(self, listener: WorkspaceListener, remove: Callable[[Subscription], None]) -> None:
        self.listener = listener
        self._remove = remove
        self._active = True

    @property
    def active(self) -> bool:
        return self._active

    def unsubscribe(self) -> None:
        self._active = False
        self._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


def diff(old: Workspace, new: Workspace, origin: Origin = "external") -> list[Change]:
    """What objects were added, modified or removed between two workspaces."""
    changes: list[Change] = []

    def compare(
        what: EntityKind, before: Mapping[str, object], after: Mapping[str, object]
    ) -> None:
        for name in sorted(set(before) | set(after)):
            a, b = before.get(name), after.get(name)
            if a is b:
                continue
            if a is None and b is not None:
                changes.append(Change("added", what, name, _path(b), origin))
            elif b is None and a is not None:
                changes.append(Change("removed", what, name, _path(a), origin))
            elif a is not None and b is not None and _hash(a) != _hash(b):
                changes.append(Change("modified", what, name, _path(b), origin))

    compare(
        "agents",
        {"agents": old.agents} if old.agents else {},
        {"agents": new.agents} if new.agents else {},
    )
    compare("space", old.spaces, new.spaces)
    compare("skill", _all(old, "skills"), _all(new, "skills"))
    compare("operator", _all(old, "operators"), _all(new, "operators"))
    compare("automation", old.automations, new.automations)
    return changes


def _all(workspace: Workspace, attribute: str) -> dict[str, object]:
    merged: dict[str, object] = dict(getattr(workspace, attribute))
    for space in workspace.spaces.values():
        merged.update({f"{space.name}/{k}": v for k, v in getattr(space, attribute).items()})
    return merged


def _path(entity: object) -> str:
    return str(getattr(entity, "path", ""))


def _hash(entity: object) -> object:
    # Skills also change when their bundled files do.
    return (getattr(entity, "content_hash", None), getattr(entity, "resources", None))
