"""One line per task event worth following while an automation runs, shared by
`cairn automations run`, `cairn serve -v` and the app's Automations view."""

from __future__ import annotations

from cairn.core.routing.dispatch import Routed
from cairn.core.tasks.events import StepStarted, TaskFailed, ToolCalled, ToolResult


def progress_line(event: object) -> str | None:
    """What a person watching the run is told of `event`; None for the rest (deltas,
    context reports), which would only be noise."""
    if isinstance(event, StepStarted):
        return f"step {event.index}: {event.step.title} ({event.step.kind})"
    if isinstance(event, Routed) and event.decision.chosen:
        where = "local" if event.decision.chosen_is_local else "cloud"
        return f"→ {event.decision.chosen} ({where})"
    if isinstance(event, ToolCalled):
        return f"⚙ {event.name}"
    if isinstance(event, ToolResult):
        return f"{'✓' if event.ok else '✗'} {event.name}"
    if isinstance(event, TaskFailed):
        return f"✘ {event.kind}: {event.reason}"
    return None
