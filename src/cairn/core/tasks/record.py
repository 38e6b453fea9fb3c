"""The task record: a finished task written as markdown into the workspace's history.

`history/<task>-<slug>.md` (or `spaces/<space>/history/...` for a task in a space) holds
front matter (request, models, tokens, cost), the plan when there was more than one step,
each step's result and the answer. Memories link to it; the event trace stays the full
account, so failing to write a record never fails the task.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cairn.core.engine import Usage
from cairn.core.tasks.events import Plan, PlannedStep
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.names import slug


@dataclass
class Totals:
    """What a task has spent so far, and on which models."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    models: list[str] = field(default_factory=list)

    def add(self, usage: Usage) -> None:
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd += usage.cost_usd or 0.0


def record_path(task: str, request: str, space: str | None, folder: str | None = None) -> str:
    """`history/...`, or `<the space's folder>/history/...` (`spaces/<space>/` for Cairn's
    spaces, a Rebel space's own folder)."""
    base = f"{folder or f'spaces/{space}'}/history" if space else "history"
    return f"{base}/{task}-{slug(request) or 'task'}.md"


def render_record(
    task: str,
    request: str,
    *,
    space: str | None,
    plan: Plan,
    results: Sequence[tuple[PlannedStep, str]],
    totals: Totals,
    sensitive: bool = False,
) -> str:
    front: dict[str, object] = {
        "task": task,
        "request": request,
        "space": space,
        "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
        "models": sorted(set(totals.models)),
        "tokens": {"in": totals.input_tokens, "out": totals.output_tokens},
        "cost_usd": round(totals.cost_usd, 6),
    }
    if sensitive:
        # The record repeats what the task read and said: it carries the task's mark, so a
        # later task that reads it stays on local models too.
        front["sensitive"] = True
    lines = [
        "---",
        *(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in front.items()),
        "---",
        f"# {(request.splitlines() or ['Task'])[0][:100]}",
        "",
    ]
    if len(plan.steps) > 1:
        lines += (
            ["## Plan", ""]
            + [f"{n}. {s.title} ({s.kind})" for n, s in enumerate(plan.steps, 1)]
            + [""]
        )
    for n, (planned, text) in enumerate(results, 1):
        heading = "## Answer" if n == len(results) else f"## Step {n}: {planned.title}"
        lines += [heading, "", text or "(no text)", ""]
    return "\n".join(lines)


def write_record(
    model: WorkspaceModel,
    task: str,
    request: str,
    *,
    space: str | None,
    plan: Plan,
    results: Sequence[tuple[PlannedStep, str]],
    totals: Totals,
    sensitive: bool = False,
) -> str | None:
    """Write the record; its workspace path, or None when it could not be written."""
    found = model.workspace.spaces.get(space) if space else None
    path = record_path(task, request, space, found.root if found else None)
    text = render_record(
        task,
        request,
        space=space,
        plan=plan,
        results=results,
        totals=totals,
        sensitive=sensitive,
    )
    try:
        model.write(path, text, base_hash=None)
    except Exception:
        return None  # the trace still has everything; a record is a convenience
    return path
