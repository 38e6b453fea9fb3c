"""Assemble a `Workspace` from parsed files: precedence, name clashes, skill resources and
the checks across files (an automation's skill, space and operator must exist)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import replace
from types import MappingProxyType

from cairn.core.workspace.diagnostics import Diagnostic, compat, error, info, warning
from cairn.core.workspace.entities import (
    Agents,
    Automation,
    Layer,
    Operator,
    Skill,
    SkillResources,
    Space,
    Workspace,
)
from cairn.core.workspace.layouts import LAYERS, POLICY_FILES, REBEL_SYSTEM, RESOURCE_FOLDERS
from cairn.core.workspace.parsing import ParsedFile


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
    resources: Collection[str],
    order: Iterable[str] | None = None,
    skipped: Mapping[str, int] | None = None,
) -> Workspace:
    """Build the immutable Workspace and run the checks that span files.

    `resources` are the files skills may bundle; `order` is `parsed`'s keys sorted by
    `precedence`, when the caller keeps it sorted; `skipped` counts the folders the walk
    left out, by reason.
    """
    problems: list[Diagnostic] = []
    policy_files: dict[str, ParsedFile] = {}
    layers: dict[str, Layer] = {}
    spaces: dict[str, Space] = {}
    folders: dict[str, str] = {}  # space folder -> space name
    skills: dict[str | None, dict[str, Skill]] = {}
    operators: dict[str | None, dict[str, Operator]] = {}
    automations: dict[str, Automation] = {}
    candidates: list[tuple[ParsedFile, bool]] = []  # items, and whether in a Rebel folder
    left_out: list[str] = []  # READMEs that are notes, items under folders that are not spaces

    paths = list(order if order is not None else sorted(parsed, key=precedence))
    for path in paths:
        item = parsed[path]
        role, entity = item.role, item.entity
        kind = role.kind
        if kind == "agents":
            policy_files[path] = item  # its diagnostics depend on whether it is the policy
            continue
        if role.base is not None and role.space is None and kind != "space":
            candidates.append((item, True))  # reported below, if its folder is a space
            continue
        problems.extend(item.diagnostics)
        if entity is None:
            if not item.diagnostics:
                left_out.append(path)
        elif isinstance(entity, Layer):
            layers[path] = entity
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
                folders[entity.root] = entity.name
        else:
            candidates.append((item, False))
    for item, in_rebel_folder in candidates:  # in precedence order, so the first one wins
        entity = item.entity
        if in_rebel_folder:
            # It belongs to the Rebel space in its folder, if there is one (in any other
            # folder it is not part of the model, and not reported either).
            name = folders.get(item.role.base or "")
            if name is None:
                left_out.append(item.path)
                continue
            problems.extend(item.diagnostics)
            if isinstance(entity, Skill | Operator):
                entity = replace(entity, space=name)
        if isinstance(entity, Skill):
            _add_unique(skills.setdefault(entity.space, {}), entity, "skill", problems)
        elif isinstance(entity, Operator):
            _add_unique(operators.setdefault(entity.space, {}), entity, "operator", problems)
        elif isinstance(entity, Automation):
            if entity.name in automations:
                problems.append(_duplicate(entity, automations[entity.name], "automation"))
            else:
                automations[entity.name] = entity

    for name, auto in list(automations.items()):
        if auto.layout == "rebel" and auto.meta.skill is None:
            # Rebel's AUTOMATION.md is the prompt; the SKILL.md beside it is its reference.
            beside = next(
                (s for s in skills.get(auto.meta.space, {}).values() if s.folder == _folder(auto)),
                None,
            )
            if beside is not None:
                meta = auto.meta.model_copy(update={"skill": beside.name})
                automations[name] = replace(auto, meta=meta)

    agents, extra_layers = _policy(policy_files, problems)
    ordered_layers = _distinct(
        agents, sorted([*layers.values(), *extra_layers], key=lambda x: _LAYER_RANK[x.path])
    )

    skill_folders = {
        s.folder: s for by_name in skills.values() for s in by_name.values() if s.folder
    }
    bundles = _bundles(resources, skill_folders)
    for by_name in skills.values():
        for name, skill in by_name.items():
            if skill.folder and bundles.get(skill.folder):
                by_name[name] = replace(skill, resources=_resources(skill, bundles[skill.folder]))

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
        files=frozenset(parsed).difference(left_out),
        layers=ordered_layers,
        skipped=MappingProxyType(dict(skipped or {})),
    )
    problems.extend(_check_references(workspace, parsed))
    if agents is not None and not any(
        text.strip() for text in [agents.instructions, *(x.instructions for x in ordered_layers)]
    ):
        problems.append(
            warning(
                agents.path,
                "empty-instructions",
                f"{agents.path} has no instructions in its body, and no instruction layer "
                "(AGENTS.md, CLAUDE.md, ...) has any",
                "write who the agent is and how it should work below the frontmatter",
            )
        )
    if not policy_files and parsed:  # one present but unreadable has its own diagnostic
        problems.append(
            warning(
                "agents.md",
                "missing-agents",
                "the workspace has no agents.md, so there is no model policy"
                + (
                    f" (the instructions in {', '.join(x.path for x in ordered_layers)} are used)"
                    if ordered_layers
                    else " and no instructions"
                ),
                "run 'cairn init --from' on this folder to add Cairn's settings without "
                "changing your files"
                if ordered_layers
                else "create agents.md (cairn init writes a starter one)",
            )
        )
    problems.sort(key=lambda d: (d.path, d.line or 0, d.code))
    return replace(workspace, diagnostics=tuple(problems))


_DOCUMENT_CODES = frozenset({"duplicate-key", "key-not-text"})
_LAYER_RANK = {path: rank for rank, path in enumerate([*POLICY_FILES, *LAYERS])}


def _distinct(agents: Agents | None, layers: list[Layer]) -> tuple[Layer, ...]:
    """The layers without repeats: Rebel's CLAUDE.md is a link to its AGENTS.md, and the
    same instructions twice in every step would only cost tokens."""
    seen = {agents.content_hash} if agents else set()
    kept: list[Layer] = []
    for layer in layers:
        if layer.content_hash not in seen:
            seen.add(layer.content_hash)
            kept.append(layer)
    return tuple(kept)


def _policy(
    found: Mapping[str, ParsedFile], problems: list[Diagnostic]
) -> tuple[Agents | None, list[Layer]]:
    """The policy file is the first of `POLICY_FILES` present, valid or not (its problems
    are reported); the others are instruction layers, their settings not used."""
    chosen_path = next((name for name in POLICY_FILES if name in found), None)
    chosen = found[chosen_path].entity if chosen_path else None
    layers: list[Layer] = []
    for path, item in found.items():
        if path == chosen_path:
            problems.extend(item.diagnostics)
            continue
        doc = item.document
        if doc is None:  # not text, too large, unclosed frontmatter: say why, as for any file
            problems.extend(item.diagnostics)
            continue
        # Only the document's own problems matter: its settings are not read at all.
        problems.extend(d for d in item.diagnostics if d.code in _DOCUMENT_CODES)
        layers.append(Layer(path, doc.body, doc.frontmatter, doc.content_hash, "cairn"))
        if doc.frontmatter:
            problems.append(
                compat(
                    path,
                    "layer-policy",
                    f"{path} has settings in its frontmatter, but {chosen_path} holds the "
                    "policy; only its instructions are used",
                    f"move the settings into {chosen_path}",
                    1,
                )
            )
    return chosen if isinstance(chosen, Agents) else None, layers


def _path(entity: object) -> str:
    return str(getattr(entity, "path", ""))


def _folder(entity: Automation) -> str:
    return entity.path.rpartition("/")[0]


def precedence(path: str) -> tuple[int, int, str]:
    """Sort key: which of two files defining the same item wins (the first).

    Cairn's own folders win over the tool folders (`.agents/skills` and `rebel-system/`,
    then `.claude/skills`, then `.claude/commands`); folder skills and operators over single
    files of the same name; the lowercase spelling of a readme over the uppercase one.
    """
    tier = 0
    if path.startswith(".claude/commands/"):
        tier = 3
    elif path.startswith(".claude/"):
        tier = 2
    elif path.startswith((".", f"{REBEL_SYSTEM}/")):
        tier = 1  # .agents/skills, and Rebel's system folder: the user's own skills win
    preferred = path.endswith(("/SKILL.md", "/OPERATOR.md", "agents.md", "/readme.md"))
    return (tier, 0 if preferred else 1, path)


def _duplicate(entity: Skill | Operator | Automation, existing: object, what: str) -> Diagnostic:
    other = getattr(existing, "path", "")
    message = f"{what} '{entity.name}' is already defined by {other}; this file is ignored"
    if getattr(existing, "layout", "cairn") != entity.layout or (
        precedence(entity.path)[0] != precedence(_path(existing))[0]
    ):
        # The same item kept for two tools (a skill in skills/ and in .claude/skills/) is
        # common and harmless: say which one is used.
        return warning(
            entity.path, f"duplicate-{what}", message, "nothing to do if they are copies"
        )
    return error(
        entity.path,
        f"duplicate-{what}",
        message,
        "rename one of them or delete the duplicate",
    )


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
    problems.append(_duplicate(entity, existing, what))


def _bundles(resources: Collection[str], skill_folders: Mapping[str, Skill]) -> dict[str, set[str]]:
    """Each skill folder's bundled files: a file belongs to the nearest skill folder above it."""
    bundles: dict[str, set[str]] = {}
    for path in resources:
        folder = path.rpartition("/")[0]
        while folder and folder not in skill_folders:
            folder = folder.rpartition("/")[0]
        if folder:
            bundles.setdefault(folder, set()).add(path)
    return bundles


def _resources(skill: Skill, files: Collection[str]) -> SkillResources:
    prefix = f"{skill.folder}/"
    grouped: dict[str, list[str]] = {name: [] for name in (*RESOURCE_FOLDERS, "other")}
    for path in sorted(files):
        inner = path[len(prefix) :]
        top = inner.split("/", 1)[0]
        grouped[top if top in RESOURCE_FOLDERS and "/" in inner else "other"].append(path)
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
        if meta.space is not None and meta.space not in workspace.spaces:
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
