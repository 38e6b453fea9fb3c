"""Load a workspace folder into a `Workspace` and keep it current, one file at a time.

`WorkspaceModel` caches one `ParsedFile` per model file. A refresh re-reads only the
paths it is given (files or folders), re-parses a file only when its bytes changed, and
re-assembles the immutable `Workspace` from the cache: cross-file checks run on every
assembly, parsing does not.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from cairn.core.errors import CairnError
from cairn.core.ports import FileStore
from cairn.core.workspace.diagnostics import Diagnostic, error, info, warning
from cairn.core.workspace.documents import MAX_FILE_BYTES
from cairn.core.workspace.entities import (
    Agents,
    Automation,
    Operator,
    Skill,
    SkillResources,
    Space,
    Workspace,
)
from cairn.core.workspace.parsing import (
    RESOURCE_FOLDERS,
    ParsedFile,
    classify,
    may_hold_model_files,
    parse_file,
    unreadable,
)

ChangeKind = Literal["added", "modified", "removed"]


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that changed in the model: a file, or the object it defines."""

    kind: ChangeKind
    what: str  # "file", "agents", "space", "skill", "operator", "automation"
    name: str  # the path for files, the object's name otherwise (space skills: "space/name")
    path: str
    origin: Literal["external", "cairn"] = "external"


@dataclass(frozen=True, slots=True)
class WorkspaceUpdate:
    workspace: Workspace
    changes: tuple[Change, ...]


class WorkspaceModel:
    """The live workspace: load once, then refresh paths as they change. Thread-safe."""

    def __init__(self, store: FileStore) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._parsed: dict[str, ParsedFile] = {}
        self._resources: dict[str, set[str]] = {}  # SKILL.md path -> bundled files
        self._order: list[str] | None = None  # parsed paths by precedence; None: re-sort
        self._workspace = assemble({}, {})

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @property
    def store(self) -> FileStore:
        return self._store

    def load(self) -> Workspace:
        """Read the whole workspace from scratch."""
        with self._lock, _no_gc_pauses():
            self._parsed.clear()
            self._resources.clear()
            for path in sorted(self._discover("")):
                role = classify(path)
                if role is not None and role.owner is not None:
                    self._resources.setdefault(role.owner, set()).add(path)
                else:
                    self._read(path)
            self._order = None
            self._workspace = assemble(self._parsed, self._resources, self._ordered())
            return self._workspace

    def refresh(
        self, paths: Iterable[str], origin: Literal["external", "cairn"] = "external"
    ) -> WorkspaceUpdate:
        """Bring the given files or folders up to date (added, changed, deleted or moved)."""
        with self._lock:
            candidates: set[str] = set()
            for raw_path in paths:
                path = raw_path.strip("/")
                candidates.add(path)
                prefix = f"{path}/" if path else ""
                candidates.update(p for p in self._parsed if p.startswith(prefix))
                for files in self._resources.values():
                    candidates.update(p for p in files if p.startswith(prefix))
                if self._store.is_dir(path):
                    candidates.update(self._discover(path))
            file_changes = [
                change for path in sorted(candidates) if (change := self._update(path, origin))
            ]
            if not file_changes:
                return WorkspaceUpdate(self._workspace, ())
            if any(change.kind != "modified" for change in file_changes):
                self._order = None
            old = self._workspace
            self._workspace = assemble(self._parsed, self._resources, self._ordered())
            entity_changes = diff(old, self._workspace, origin)
            return WorkspaceUpdate(self._workspace, (*file_changes, *entity_changes))

    def write(self, path: str, text: str, base_hash: str | None) -> WorkspaceUpdate:
        """Write a file atomically (refused on conflict) and fold it into the model at once.

        Because the model already holds the new content, the watcher's later event for
        this write finds nothing changed: Cairn's own writes are not echoed back.
        """
        with self._lock:
            self._store.write(path, text.encode("utf-8"), base_hash=base_hash)
            return self.refresh([path], origin="cairn")

    def delete(self, path: str, base_hash: str) -> WorkspaceUpdate:
        """Delete a file (refused if it changed since `base_hash`) and fold that in at once."""
        with self._lock:
            self._store.delete(path, base_hash=base_hash)
            return self.refresh([path], origin="cairn")

    def _ordered(self) -> list[str]:
        if self._order is None:
            self._order = sorted(self._parsed, key=precedence)
        return self._order

    def _discover(self, within: str) -> set[str]:
        """Model files under `within`, scanning only folders that can hold them."""
        found: set[str] = set()

        def relevant(path: str) -> bool:
            return (
                not within
                or path == within
                or path.startswith(within + "/")
                or within.startswith(path + "/")
            )

        def visit(folder: str) -> None:
            files, folders = self._store.scan(folder)
            for name in files:
                path = f"{folder}/{name}" if folder else name
                if relevant(path) and classify(path) is not None:
                    found.add(path)
            for name in folders:
                sub = f"{folder}/{name}" if folder else name
                if relevant(sub) and may_hold_model_files(sub):
                    visit(sub)

        visit("")
        return found

    def _update(self, path: str, origin: Literal["external", "cairn"]) -> Change | None:
        role = classify(path)
        if role is None:
            return None
        if role.kind == "resource":
            assert role.owner is not None
            bundle = self._resources.setdefault(role.owner, set())
            exists = self._exists(path)
            if exists == (path in bundle):
                return None
            (bundle.add if exists else bundle.discard)(path)
            return Change("added" if exists else "removed", "file", path, path, origin)
        before = self._parsed.get(path)
        if not self._read(path):
            if before is None:
                return None
            del self._parsed[path]
            return Change("removed", "file", path, path, origin)
        after = self._parsed[path]
        if before is None:
            return Change("added", "file", path, path, origin)
        if before.content_hash == after.content_hash and before.diagnostics == after.diagnostics:
            # Same bytes (or still unreadable for the same reason): nothing to report.
            self._parsed[path] = before  # unchanged bytes: keep the old objects
            return None
        return Change("modified", "file", path, path, origin)

    def _exists(self, path: str) -> bool:
        folder, _, name = path.rpartition("/")
        try:
            return name in self._store.scan(folder)[0]
        except (OSError, CairnError):
            return False

    def _read(self, path: str) -> bool:
        """Parse `path` into the cache; False when it no longer exists."""
        role = classify(path)
        assert role is not None
        try:
            raw = self._store.read(path, MAX_FILE_BYTES)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False
        except (OSError, CairnError) as exc:
            self._parsed[path] = unreadable(path, role, str(exc))
            return True
        self._parsed[path] = parse_file(path, role, raw)
        return True


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    # A full load allocates many long-lived objects and no cycles worth collecting;
    # pausing the cyclic collector meanwhile saves roughly a tenth of the time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- assembly: from parsed files to one Workspace ---------------------------------------------


def assemble(
    parsed: Mapping[str, ParsedFile],
    resources: Mapping[str, set[str]],
    order: Iterable[str] | None = None,
) -> Workspace:
    """Build the immutable Workspace and run the checks that span files.

    `order` is `parsed`'s keys sorted by `precedence`, when the caller keeps it sorted.
    """
    problems: list[Diagnostic] = []
    agents: Agents | None = None
    spaces: dict[str, Space] = {}
    skills: dict[str | None, dict[str, Skill]] = {}
    operators: dict[str | None, dict[str, Operator]] = {}
    automations: dict[str, Automation] = {}

    for path in order if order is not None else sorted(parsed, key=precedence):
        item = parsed[path]
        problems.extend(item.diagnostics)
        entity = item.entity
        if isinstance(entity, Agents):
            if agents is None:
                agents = entity
            else:
                problems.append(
                    warning(
                        path,
                        "duplicate-agents",
                        f"both {agents.path} and {path} exist; {path} is ignored",
                        "merge them into one file and delete the other",
                    )
                )
        elif isinstance(entity, Space):
            if entity.name in spaces:
                problems.append(
                    warning(
                        path,
                        "duplicate-space",
                        f"space '{entity.name}' has two readme files; "
                        f"{spaces[entity.name].path} is used",
                        "keep only one of readme.md and README.md",
                    )
                )
            else:
                spaces[entity.name] = entity
        elif isinstance(entity, Skill):
            _add_unique(skills.setdefault(entity.space, {}), entity, "skill", problems)
        elif isinstance(entity, Operator):
            _add_unique(operators.setdefault(entity.space, {}), entity, "operator", problems)
        elif isinstance(entity, Automation):
            automations[entity.name] = entity

    for by_name in skills.values():
        for name, skill in by_name.items():
            if skill.folder and resources.get(skill.path):
                by_name[name] = replace(skill, resources=_resources(skill, resources))

    for space_name in sorted(n for n in set(skills) | set(operators) if n is not None):
        if space_name not in spaces:
            strays: list[Skill | Operator] = [
                *skills.get(space_name, {}).values(),
                *operators.get(space_name, {}).values(),
            ]
            problems.append(
                warning(
                    strays[0].path,
                    "space-without-readme",
                    f"folder spaces/{space_name} has skills or operators but no readme.md, "
                    "so they are not loaded",
                    f"create spaces/{space_name}/readme.md with a description and a scope",
                )
            )
            continue
        own_skills = skills.get(space_name, {})
        for name, skill in own_skills.items():
            if name in skills.get(None, {}):
                problems.append(
                    info(
                        skill.path,
                        "skill-shadows",
                        f"space skill '{name}' takes precedence over the workspace "
                        "skill of the same name in this space",
                        "nothing to do if that is intended; rename one otherwise",
                    )
                )
        spaces[space_name] = replace(
            spaces[space_name],
            skills=MappingProxyType(own_skills),
            operators=MappingProxyType(operators.get(space_name, {})),
        )

    workspace = Workspace(
        agents=agents,
        spaces=MappingProxyType(spaces),
        skills=MappingProxyType(skills.get(None, {})),
        operators=MappingProxyType(operators.get(None, {})),
        automations=MappingProxyType(automations),
        diagnostics=(),
        files=frozenset(parsed),
    )
    problems.extend(_check_references(workspace, parsed))
    if agents is None and parsed:
        problems.append(
            warning(
                "agents.md",
                "missing-agents",
                "the workspace has no agents.md, so there are no instructions and no model policy",
                "create agents.md (cairn init writes a starter one)",
            )
        )
    problems.sort(key=lambda d: (d.path, d.line or 0, d.code))
    return replace(workspace, diagnostics=tuple(problems))


def precedence(path: str) -> tuple[int, str]:
    # Folder skills and operators win over single files of the same name, and the
    # lowercase spelling over the uppercase one: sort them first.
    preferred = path.endswith(("/SKILL.md", "/OPERATOR.md", "agents.md", "/readme.md"))
    return (0 if preferred else 1, path)


def _add_unique(
    by_name: dict[str, Skill] | dict[str, Operator],
    entity: Skill | Operator,
    what: str,
    problems: list[Diagnostic],
) -> None:
    existing = by_name.get(entity.name)
    if existing is None:
        by_name[entity.name] = entity  # type: ignore[assignment]
        return
    problems.append(
        error(
            entity.path,
            f"duplicate-{what}",
            f"{what} '{entity.name}' is already defined by {existing.path}; this file is ignored",
            "rename one of them or delete the duplicate",
        )
    )


def _resources(skill: Skill, resources: Mapping[str, set[str]]) -> SkillResources:
    files = sorted(resources.get(skill.path, ()))
    prefix = f"{skill.folder}/"
    grouped: dict[str, list[str]] = {name: [] for name in (*RESOURCE_FOLDERS, "other")}
    for path in files:
        top = path[len(prefix) :].split("/", 1)[0]
        grouped[top if top in RESOURCE_FOLDERS and "/" in path[len(prefix) :] else "other"].append(
            path
        )
    return SkillResources(
        scripts=tuple(grouped["scripts"]),
        references=tuple(grouped["references"]),
        assets=tuple(grouped["assets"]),
        other=tuple(grouped["other"]),
    )


def _check_references(workspace: Workspace, parsed: Mapping[str, ParsedFile]) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    roles = workspace.agents.policy.roles if workspace.agents else {}

    def line(path: str, key: tuple[str | int, ...]) -> int | None:
        doc = parsed[path].document
        return doc.line_of(key) if doc else None

    def check_routing(path: str, routing: Mapping[str, str]) -> None:
        for kind, role in routing.items():
            if role not in roles:
                problems.append(
                    error(
                        path,
                        "unknown-role",
                        f"routing override sends '{kind}' to role '{role}', which "
                        "agents.md does not define",
                        f"use one of: {', '.join(roles) or 'no roles defined yet'}",
                        line(path, ("routing", kind)),
                    )
                )

    for space in workspace.spaces.values():
        check_routing(space.path, space.meta.routing)
    for auto in workspace.automations.values():
        check_routing(auto.path, auto.meta.routing)
        meta = auto.meta
        if meta.space not in workspace.spaces:
            problems.append(
                error(
                    auto.path,
                    "unknown-space",
                    f"automation runs in space '{meta.space}', which does not exist",
                    f"create spaces/{meta.space}/readme.md or use one of: "
                    f"{', '.join(workspace.spaces) or 'no spaces yet'}",
                    line(auto.path, ("space",)),
                )
            )
            continue
        if meta.skill and workspace.find_skill(meta.skill, meta.space) is None:
            problems.append(
                error(
                    auto.path,
                    "unknown-skill",
                    f"automation uses skill '{meta.skill}', which is not in the "
                    f"workspace or in space '{meta.space}'",
                    "fix the name or add the skill",
                    line(auto.path, ("skill",)),
                )
            )
        if meta.operator and workspace.find_operator(meta.operator, meta.space) is None:
            problems.append(
                error(
                    auto.path,
                    "unknown-operator",
                    f"automation uses operator '{meta.operator}', which is not in "
                    f"the workspace or in space '{meta.space}'",
                    "fix the name or add the operator",
                    line(auto.path, ("operator",)),
                )
            )
    return problems


def diff(
    old: Workspace, new: Workspace, origin: Literal["external", "cairn"] = "external"
) -> list[Change]:
    """What objects were added, modified or removed between two workspaces."""
    changes: list[Change] = []

    def compare(what: str, before: Mapping[str, object], after: Mapping[str, object]) -> None:
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
