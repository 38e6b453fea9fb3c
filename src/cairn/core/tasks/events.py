"""The task loop's events: what front ends (CLI, desktop shell, scheduler) consume.

The loop yields these, mixed with the router's events (`Routed`, `FellBack`,
`BudgetWarning`) and the engine's (`TextDelta`, `Usage`, ...). Events that need an
answer (`ApprovalNeeded`, `QuestionAsked`, `PlanApprovalNeeded`) carry a request object
the consumer answers — from any thread — before or while the loop waits.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.core.engine import TextDelta, Usage
from cairn.core.routing.dispatch import BudgetWarning, FellBack, Routed
from cairn.core.tasks.approvals import ApprovalRequest


@dataclass(frozen=True, slots=True)
class PlannedStep:
    title: str
    kind: str
    instruction: str


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[PlannedStep, ...]
    fast_path: bool = False  # a simple request: one step, no planning call


@dataclass(frozen=True, slots=True)
class TaskStarted:
    task: str
    request: str
    space: str | None
    skill: str | None = None
    operator: str | None = None


@dataclass(frozen=True, slots=True)
class PlanMade:
    plan: Plan


@dataclass(frozen=True, slots=True)
class PlanApprovalNeeded:
    plan: Plan
    request: ApprovalRequest


@dataclass(frozen=True, slots=True)
class StepStarted:
    index: int
    step: PlannedStep


@dataclass(frozen=True, slots=True)
class ToolCalled:
    call_id: str
    name: str
    arguments: Mapping[str, Any]
    permission: str  # allow | ask | deny, and why


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    name: str
    ok: bool
    output: str  # as the model sees it (before the data label)
    path: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalNeeded:
    request: ApprovalRequest


@dataclass(frozen=True, slots=True)
class ApprovalDecided:
    request_id: str
    approved: bool
    by: str  # user, --yes, --no-approve, queue, rule
    why: str = ""


class Answer:
    """An answer slot for a question to the user, filled from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._text: str | None = None

    def give(self, text: str) -> bool:
        """Answer once: the first answer wins, from any thread; False if already answered."""
        with self._lock:
            if self._event.is_set():
                return False
            self._text = text
            self._event.set()
            return True

    def wait(self, timeout: float | None = None) -> str | None:
        self._event.wait(timeout)
        return self._text


@dataclass(frozen=True, slots=True)
class QuestionAsked:
    question: str
    answer: Answer = field(default_factory=Answer)


@dataclass(frozen=True, slots=True)
class MemoryProposed:
    text: str
    space: str | None
    source: str  # user-said | user-confirmed | tool-output | inference
    task: str


@dataclass(frozen=True, slots=True)
class MemoryRecalled:
    """Dormant memory brought into this task's context: (file, text) pairs."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class MemoryWritten:
    id: str
    text: str
    space: str
    tier: str  # readme | topic | archive
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MemoryStaged:
    id: str
    text: str
    reason: str
    path: str


@dataclass(frozen=True, slots=True)
class MemorySkipped:
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class GuardStopped:
    guard: str
    reason: str


@dataclass(frozen=True, slots=True)
class StepFinished:
    index: int
    text: str
    tool_calls: int


@dataclass(frozen=True, slots=True)
class TaskFinished:
    task: str
    answer: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    record: str | None = None  # the markdown record written to the space's history


@dataclass(frozen=True, slots=True)
class TaskFailed:
    task: str
    reason: str
    kind: str  # routing | budget | engine | guard | plan | context | error


@dataclass(frozen=True, slots=True)
class TaskCancelled:
    task: str
    reason: str = "cancelled by the user"


@dataclass(frozen=True, slots=True)
class ContextBuilt:
    """What the model of a step saw: parts in order, what was trimmed, tokens counted."""

    index: int
    model: str
    parts: tuple[str, ...]
    trimmed: tuple[str, ...]
    tokens: int


TaskEvent = (
    TaskStarted
    | PlanMade
    | PlanApprovalNeeded
    | StepStarted
    | ToolCalled
    | ToolResult
    | ApprovalNeeded
    | ApprovalDecided
    | QuestionAsked
    | MemoryProposed
    | GuardStopped
    | StepFinished
    | TaskFinished
    | TaskFailed
    | TaskCancelled
    | ContextBuilt
    | MemoryRecalled
    | MemoryStaged
    | MemoryWritten
    | MemorySkipped
    | Routed
    | FellBack
    | BudgetWarning
    | TextDelta
    | Usage
)
"""Everything `TaskRunner.run` yields: the loop's events, the router's and the engine's."""
