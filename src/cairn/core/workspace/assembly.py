"""Assemble a `Workspace` from parsed files: precedence, name clashes, skill resources and
the checks across files (an automation's skill, space and operator must exist)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from types import MappingProxyType

from cairn.core.workspace.diagnostics import Diagnostic, error, info, warning
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
)


@contextlib.contextmanager
def no_gc_pauses() -> Iterator[None]:
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
