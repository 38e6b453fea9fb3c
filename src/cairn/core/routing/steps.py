"""From a request in a workspace to the `Step` and `Overrides` the router needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cairn.core.errors import CairnError
from cairn.core.routing.marks import file_sensitivity
from cairn.core.routing.router import Overrides, Step
from cairn.core.workspace.entities import Workspace


class UnknownNameError(CairnError):
    """A space, skill or automation named on the command line does not exist."""


@dataclass(frozen=True, slots=True)
class ContextFile:
    path: str
    text: str


def overrides_for(
    workspace: Workspace, *, space: str | None, automation: str | None, skill: str | None
) -> Overrides:
    """The routing overrides (kind → role) of the automation, skill and space of a step."""
    found_space = workspace.spaces.get(space) if space else None
    auto = workspace.automations.get(automation) if automation else None
    found_skill = workspace.find_skill(skill, space) if skill else None
    skill_routing = (found_skill.meta.model_extra or {}).get("routing") if found_skill else None
    return Overrides(
        automation=auto.meta.routing if auto else {},
        skill={str(k): str(v) for k, v in skill_routing.items()}
        if isinstance(skill_routing, Mapping)
        else {},
        space=found_space.meta.routing if found_space else {},
    )


def build_step(
    workspace: Workspace,
    description: str,
    *,
    kind: str = "work",
    space: str | None = None,
    skill: str | None = None,
    automation: str | None = None,
    files: tuple[ContextFile, ...] = (),
) -> tuple[Step, Overrides]:
    """The step (with its sensitivity inputs) and the routing overrides that apply."""
    auto = None
    if automation is not None:
        auto = workspace.automations.get(automation)
        if auto is None:
            raise UnknownNameError(f"no automation '{automation}' in this workspace")
        space = space or auto.meta.space
        skill = skill or auto.meta.skill
    owner = workspace.spaces.get(space) if space else None
    if space and owner is None:
        known = ", ".join(workspace.spaces) or "none"
        raise UnknownNameError(f"no space '{space}' in this workspace (spaces: {known})")
    found_skill = workspace.find_skill(skill, space) if skill else None
    if skill and found_skill is None:
        raise UnknownNameError(f"no skill '{skill}' in this workspace or space")
    sensitive = [r for f in files if (r := file_sensitivity(workspace, f.path, f.text))]
    if owner is not None and owner.meta.sensitive:
        sensitive.insert(0, f"{owner.path} is marked sensitive")
    step = Step(
        description=description,
        kind=kind,
        context="\n\n".join(f.text for f in files),
        space=space,
        space_scope=owner.scope if owner else None,
        skill=skill,
        automation=automation,
        carried=tuple(sensitive),
    )
    return step, overrides_for(workspace, space=space, automation=automation, skill=skill)
