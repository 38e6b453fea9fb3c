"""What the task loop puts in front of a step's model, and what it tells the router about it.

The parts (agents.md, the operator's lens, the space, the skills list, recalled memory,
earlier steps' results, the task) are fitted to the chosen engine's window by
`context.fit`. The router is told the space's scope, the routing overrides of the
automation, skill and space, and the files whose content made the task sensitive, so
private content stays on the models allowed to see it.
"""

from __future__ import annotations

from collections.abc import Sequence

from cairn.core.engine import Message, ToolSpec
from cairn.core.ports import ChatEngine
from cairn.core.tasks.context import Assembled, Part, fit
from cairn.core.tasks.events import PlannedStep
from cairn.core.tasks.options import TaskOptions
from cairn.core.tasks.tools import ToolOutcome
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.schema import DESCRIPTION_LIMIT


def build_parts(
    workspace: Workspace,
    request: str,
    planned: PlannedStep,
    *,
    space: str | None,
    operator: str | None,
    skill: str | None,
    recalled: Sequence[tuple[str, str]],
    history: Sequence[tuple[PlannedStep, str]],
    total: int = 1,
    index: int = 1,
) -> list[Part]:
    parts: list[Part] = []
    if instructions := workspace_instructions(workspace):
        parts.append(Part("agents", "", instructions))
    if operator:
        found = workspace.find_operator(operator, space)
        if found is not None:
            parts.append(Part("operator", f"Lens: {found.name}", found.lens.strip()))
    the_space = workspace.spaces.get(space) if space else None
    if the_space is not None:
        parts.append(
            Part(
                "space",
                f"Space: {the_space.name} ({the_space.scope})",
                the_space.body.strip(),
                data_source=the_space.path,
            )
        )
    skills = workspace.skills_for(space)
    if skills:
        # Published skills may pass the spec's 1,024 characters: the listing keeps within it.
        listing = "\n".join(
            f"{s.name}: {s.description[:DESCRIPTION_LIMIT]}" for s in skills.values()
        )
        parts.append(Part("skills", "Skills (load one with load_skill to read it)", listing))
    if recalled:
        text = "\n".join(f"- {t} ({src})" for src, t in recalled)
        parts.append(Part("memory", "Recalled memory", text, data_source="memory"))
    if history:
        done = "\n\n".join(f"Step {n} ({s.title}):\n{t}" for n, (s, t) in enumerate(history, 1))
        parts.append(Part("history", "Results of earlier steps", done, data_source="earlier steps"))
    task = f"Task: {request}"
    if total > 1 or planned.kind != "work" or planned.instruction != request:
        task += f"\n\nStep {index} of {total}: {planned.title}\n{planned.instruction}"
    if skill:
        found_skill = workspace.find_skill(skill, space)
        if found_skill is not None:
            # Claude Code commands and skills take the request as `$ARGUMENTS`.
            body = found_skill.body.strip().replace("$ARGUMENTS", request)
            task += f"\n\nFollow the skill '{found_skill.name}':\n{body}"
    parts.append(Part("task", "", task))
    return parts


def workspace_instructions(workspace: Workspace) -> str:
    """agents.md's instructions, then each instruction layer's (`CLAUDE.md`, `SOUL.md`, ...)
    in the documented order, each under its file's name when there is more than one."""
    sources = [(workspace.agents.path, workspace.agents.instructions)] if workspace.agents else []
    sources += [(layer.path, layer.instructions) for layer in workspace.layers]
    texts = [(path, text.strip()) for path, text in sources if text.strip()]
    if len(texts) == 1:
        return texts[0][1]
    return "\n\n".join(f"# From {path}\n\n{text}" for path, text in texts)


def window_of(engine: ChatEngine) -> int:
    return engine.context_window or 8192


def fit_to(
    engine: ChatEngine,
    parts: Sequence[Part],
    turns: tuple[Message, ...],
    reserve: int,
    tools: tuple[ToolSpec, ...] = (),
) -> Assembled:
    """Fit the parts and turns to `engine`'s window, counting tokens as the engine does
    (tool definitions included); at most a quarter of the window is kept for the answer."""
    window = window_of(engine)
    return fit(
        parts,
        count=lambda messages: engine.count_tokens(messages, tools),
        window=window,
        reserve=min(reserve, window // 4),
        turns=turns,
        model=engine.name,
    )


def space_scope(workspace: Workspace, space: str | None) -> str | None:
    found = workspace.spaces.get(space) if space else None
    return found.scope if found else None


def context_files(workspace: Workspace, options: TaskOptions) -> list[str]:
    """The files whose content every step of a task carries: agents.md, the space's readme,
    the operator's lens and the skill followed. Their marks and scopes apply to the task."""
    paths: list[str] = []
    if workspace.agents is not None:
        paths.append(workspace.agents.path)
    paths += [layer.path for layer in workspace.layers]
    space = workspace.spaces.get(options.space) if options.space else None
    if space is not None:
        paths.append(space.path)
    operator = (
        workspace.find_operator(options.operator, options.space) if options.operator else None
    )
    if operator is not None:
        paths.append(operator.path)
    skill = workspace.find_skill(options.skill, options.space) if options.skill else None
    if skill is not None:
        paths.append(skill.path)
    return paths


def read_paths(tool: str, outcome: ToolOutcome) -> list[str]:
    """The files whose content a tool's result put in front of the model."""
    paths = [outcome.path] if outcome.path else []
    return list(dict.fromkeys([*paths, *outcome.read]))
