"""The state of one run of a task, kept apart from the runner that drives it.

`TaskRunner` holds only configuration (the workspace model, dispatcher, tools, guards,
queue, judge); everything a run changes lives in a `TaskRun` created by `TaskRunner.run`,
so two runs on one runner (two windows of the desktop app, an automation beside a task)
cannot trample each other's tool environment, provenance, totals or answers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from cairn.core.engine import CancelToken, Usage
from cairn.core.routing.dispatch import Routed
from cairn.core.tasks.context import Assembled
from cairn.core.tasks.events import MemoryProposed
from cairn.core.tasks.guards import LoopState
from cairn.core.tasks.options import TaskOptions
from cairn.core.tasks.provenance import Provenance
from cairn.core.tasks.record import Totals
from cairn.core.tasks.tools import ToolEnv


def new_task_id(prefix: str = "") -> str:
    """A task's id: when it started, then random hex (sorts by time, never collides)."""
    return f"{prefix}{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass
class TaskRun:
    task: str
    request: str
    options: TaskOptions
    cancel: CancelToken
    env: ToolEnv
    provenance: Provenance
    totals: Totals = field(default_factory=Totals)
    state: LoopState = field(init=False)
    recalled: tuple[tuple[str, str], ...] = ()
    proposals: list[MemoryProposed] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    last_context: Assembled | None = None

    def __post_init__(self) -> None:
        self.state = LoopState(self.task)

    def observe(self, event: object) -> None:
        """Every model call of the run passes its events here: spend is counted, the model
        kept for the record, and the detector's findings carried into later calls."""
        if isinstance(event, Usage):
            self.totals.add(event)
        elif isinstance(event, Routed):
            self.provenance.note_decision(event.decision)
            if event.decision.chosen:
                self.totals.models.append(event.decision.chosen)
