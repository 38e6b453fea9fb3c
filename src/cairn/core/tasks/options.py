"""How a task is asked to run: its space, skill, operator, approval mode and plan mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cairn.core.tasks.gate import ApprovalMode

ANSWER_RESERVE = 1024


@dataclass(frozen=True, slots=True)
class TaskOptions:
    space: str | None = None
    skill: str | None = None
    operator: str | None = None
    automation: str | None = None
    approvals: ApprovalMode = "ask"
    plan: Literal["auto", "always", "never"] = "auto"
    max_tokens: int | None = None  # None: agents.md's limit for each step's kind
