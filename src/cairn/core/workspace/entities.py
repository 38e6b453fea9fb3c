"""The workspace as typed, immutable objects. Built by `cairn.core.workspace.loader`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from cairn.core.workspace.diagnostics import Diagnostic, Severity
from cairn.core.workspace.documents import Section
from cairn.core.workspace.layouts import Layout
from cairn.core.workspace.schedule import Schedule
from cairn.core.workspace.schema import (
    AgentsPolicy,
    AutomationMeta,
    OperatorMeta,
    SkillMeta,
    SpaceMeta,
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Agents:
    """`agents.md`: the instructions (body) and the runtime boundary (frontmatter)."""

    path: str
    policy: AgentsPolicy
    instructions: str
    frontmatter: Mapping[str, Any]
    content_hash: str
    layout: Layout = "cairn"


@dataclass(frozen=True, slots=True)
class Layer:
    """An instruction layer beside the policy file: `AGENTS.md`, `CLAUDE.md`, `SOUL.md`, ...

    Its body follows agents.md's instructions in every step, in the order of
    `layouts.LAYERS`; its frontmatter, if any, is kept and not used.
    """

    path: str
    instructions: str
    frontmatter: Mapping[str, Any]
    content_hash: str
    layout: Layout = "cairn"


@dataclass(frozen=True, slots=True)
class SkillResources:
    """Files a skill bundles, as workspace-relative paths."""

    scripts: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    assets: tuple[str, ...] = ()
    other: tuple[str, ...] = ()  # anything else in the folder (LICENSE.txt, reference.md, ...)


@dataclass(frozen=True, slots=True)
class Skill:
    """An Agent Skill: `skills/<name>/SKILL.md` or a single file `skills/<name>.md`."""

    name: str
    path: str
    meta: SkillMeta
    body: str
    frontmatter: Mapping[str, Any]
    content_hash: str
    space: str | None = None  # the space that owns it; None for workspace-level skills
    folder: str | None = None  # the skill folder, for folder skills
    resources: SkillResources = field(default_factory=SkillResources)
    layout: Layout = "cairn"
    inferred: tuple[str, ...] = ()  # fields Cairn worked out itself ("name", "description")
    title: str | None = None  # the name as its file wrote it, when that is not a Cairn name

    @property
    def description(self) -> str:
        return self.meta.description


@dataclass(frozen=True, slots=True)
class Operator:
    """A lens: `operators/<name>.md` or `operators/<name>/OPERATOR.md`."""

    name: str
    path: str
    meta: OperatorMeta
    lens: str
    frontmatter: Mapping[str, Any]
    content_hash: str
    space: str | None = None
    layout: Layout = "cairn"
    inferred: tuple[str, ...] = ()
    title: str | None = None  # a display name ("Brand Critic") when the file gives one

    @property
    def description(self) -> str:
        return self.meta.description


@dataclass(frozen=True, slots=True)
class Space:
    """`spaces/<name>/readme.md` and the skills and operators inside that space."""

    name: str
    path: str
    meta: SpaceMeta
    body: str
    sections: tuple[Section, ...]
    frontmatter: Mapping[str, Any]
    content_hash: str
    skills: Mapping[str, Skill] = field(default_factory=lambda: _EMPTY)
    operators: Mapping[str, Operator] = field(default_factory=lambda: _EMPTY)
    layout: Layout = "cairn"
    folder: str = ""  # the space's folder: `spaces/<name>`, or a Rebel space's own folder
    title: str | None = None  # a display name, when the readme gives one

    @property
    def scope(self) -> Literal["private", "team", "company"]:
        # An unset scope is treated as private: the safest reading (see docs/spaces.md).
        return self.meta.scope or "private"

    @property
    def root(self) -> str:
        """The folder that holds the space's files (its readme, skills, memory, history)."""
        return self.folder or self.path.rpartition("/")[0]

    def section(self, title: str) -> Section | None:
        wanted = title.casefold()
        return next((s for s in self.sections if s.title.casefold() == wanted), None)


@dataclass(frozen=True, slots=True)
class Automation:
    """`automations/<name>.md` (or a Rebel `AUTOMATION.md`, an OpenClaw `HEARTBEAT.md`): a
    scheduled job; the body is its instruction."""

    name: str
    path: str
    meta: AutomationMeta
    schedule: Schedule
    instruction: str
    frontmatter: Mapping[str, Any]
    content_hash: str
    layout: Layout = "cairn"
    inferred: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.meta.enabled


@dataclass(frozen=True, slots=True)
class Workspace:
    """Everything Cairn read from one workspace folder, plus what was wrong with it."""

    agents: Agents | None
    spaces: Mapping[str, Space]
    skills: Mapping[str, Skill]  # workspace-level
    operators: Mapping[str, Operator]  # workspace-level
    automations: Mapping[str, Automation]
    diagnostics: tuple[Diagnostic, ...]
    files: frozenset[str] = frozenset()  # every markdown file that was read as part of the model
    layers: tuple[Layer, ...] = ()  # instruction layers after the policy file, in order
    skipped: Mapping[str, int] = field(default_factory=lambda: _EMPTY)  # why -> folders

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)

    def space_at(self, path: str) -> Space | None:
        """The space whose folder holds `path` (the innermost, for Rebel's nested spaces)."""
        best: Space | None = None
        for space in self.spaces.values():
            root = space.root
            if (path == root or path.startswith(f"{root}/")) and (
                best is None or len(root) > len(best.root)
            ):
                best = space
        return best

    def find_skill(self, name: str, space: str | None = None) -> Skill | None:
        """The skill a task in `space` gets for `name` (space-level first), without copying."""
        own = self.spaces.get(space) if space else None
        return (own.skills.get(name) if own else None) or self.skills.get(name)

    def find_operator(self, name: str, space: str | None = None) -> Operator | None:
        own = self.spaces.get(space) if space else None
        return (own.operators.get(name) if own else None) or self.operators.get(name)

    def skills_for(self, space: str | None) -> Mapping[str, Skill]:
        """Skills visible to a task in `space`: the space's own shadow workspace-level ones."""
        merged = dict(self.skills)
        if space and space in self.spaces:
            merged.update(self.spaces[space].skills)
        return MappingProxyType(merged)

    def operators_for(self, space: str | None) -> Mapping[str, Operator]:
        """Operators visible in `space`, with the same precedence as skills."""
        merged = dict(self.operators)
        if space and space in self.spaces:
            merged.update(self.spaces[space].operators)
        return MappingProxyType(merged)
