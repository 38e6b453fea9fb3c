"""Guards: small processors on the loop's lifecycle hooks, each testable on its own.

A hook returns a `Block` to stop something, or None to let it be. They never raise:
the loop decides what a block means (skip the tool call, end the step, end the task)
and reports it as a `GuardStopped` event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.core.routing.budget import BudgetGuard, Spend
from cairn.core.tasks.tools import ToolOutcome
from cairn.core.workspace.schema import HarnessSettings


@dataclass(frozen=True, slots=True)
class Block:
    guard: str
    reason: str
    scope: str = "call"  # call: skip this tool call; step: end the step; task: end the task


@dataclass
class LoopState:
    """What guards may look at: the task so far, updated by the loop."""

    task: str
    step_index: int = 0
    steps_started: int = 0
    tool_rounds: int = 0  # model calls within the current step
    calls: list[tuple[str, str]] = field(default_factory=list)  # (tool, arguments) this step
    failures_in_a_row: int = 0
    tool_output_tokens: int = 0  # estimated, this step
    window: int | None = None  # the current model's context window

    def new_step(self, index: int) -> None:
        self.step_index = index
        self.steps_started += 1
        self.tool_rounds = 0
        self.calls.clear()
        self.failures_in_a_row = 0
        self.tool_output_tokens = 0


class Guard:
    """Base class: every hook lets things be."""

    name = "guard"

    def before_step(self, state: LoopState) -> Block | None:
        return None

    def before_model(self, state: LoopState) -> Block | None:
        return None

    def before_tool(
        self, state: LoopState, tool: str, arguments: Mapping[str, Any]
    ) -> Block | None:
        return None

    def after_tool(self, state: LoopState, tool: str, outcome: ToolOutcome) -> Block | None:
        return None


def _key(arguments: Mapping[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, default=str)


class LoopBreaker(Guard):
    """The same tool call with the same arguments, again and again, is a loop."""

    name = "loop breaker"

    def __init__(self, max_repeats: int = 3) -> None:
        self.max_repeats = max_repeats

    def before_tool(
        self, state: LoopState, tool: str, arguments: Mapping[str, Any]
    ) -> Block | None:
        repeats = state.calls.count((tool, _key(arguments)))
        if repeats >= self.max_repeats:
            return Block(
                self.name,
                f"{tool} was called {repeats} times with the same "
                "arguments in this step; ending the step",
                "step",
            )
        return None


class ToolFailureGuard(Guard):
    """Several failed tool calls in a row: the model is stuck; end the step."""

    name = "tool-failure guard"

    def __init__(self, max_in_a_row: int = 3) -> None:
        self.max_in_a_row = max_in_a_row

    def after_tool(self, state: LoopState, tool: str, outcome: ToolOutcome) -> Block | None:
        if state.failures_in_a_row >= self.max_in_a_row:
            return Block(
                self.name,
                f"{state.failures_in_a_row} tool calls failed in a row; ending the step",
                "step",
            )
        return None


class StepLimit(Guard):
    """A task may not plan or run more than `max_steps` steps, nor a step more than
    `max_rounds` model calls."""

    name = "step limit"

    def __init__(self, max_steps: int = 8, max_rounds: int = 12) -> None:
        self.max_steps = max_steps
        self.max_rounds = max_rounds

    def before_step(self, state: LoopState) -> Block | None:
        if state.steps_started >= self.max_steps:
            return Block(self.name, f"the task reached its limit of {self.max_steps} steps", "task")
        return None

    def before_model(self, state: LoopState) -> Block | None:
        if state.tool_rounds >= self.max_rounds:
            return Block(
                self.name, f"the step reached its limit of {self.max_rounds} model calls", "step"
            )
        return None


class CostGuard(Guard):
    """The router's budgets, between steps: a task past its time or money stops cleanly.
    (The dispatcher also checks before every single call.)"""

    name = "cost guard"

    def __init__(self, budget: BudgetGuard) -> None:
        self.budget = budget

    def before_step(self, state: LoopState) -> Block | None:
        verdict = self.budget.check(Spend())
        if verdict.state == "pause":
            return Block(self.name, verdict.reason, "task")
        return None


class ContextBudget(Guard):
    """Tool output piling up in one step may not take more than a share of the window."""

    name = "context budget"

    def __init__(self, share: float = 0.6, chars_per_token: float = 4.0) -> None:
        self.share = share
        self.chars_per_token = chars_per_token

    def after_tool(self, state: LoopState, tool: str, outcome: ToolOutcome) -> Block | None:
        state.tool_output_tokens += int(len(outcome.output) / self.chars_per_token)
        if state.window and state.tool_output_tokens > self.share * state.window:
            return Block(
                self.name,
                f"tool output in this step reached about "
                f"{state.tool_output_tokens:,} tokens, over {self.share:.0%} of the "
                f"{state.window:,}-token window; ending the step",
                "step",
            )
        return None


def default_guards(
    budget: BudgetGuard | None = None, settings: HarnessSettings | None = None
) -> list[Guard]:
    """The guards every task runs with, their thresholds from agents.md's `harness:`."""
    s = settings or HarnessSettings()
    guards: list[Guard] = [
        LoopBreaker(s.max_repeats),
        ToolFailureGuard(s.max_failures),
        StepLimit(s.max_steps, s.max_model_calls),
        ContextBudget(s.tool_output_share),
    ]
    if budget is not None:
        guards.append(CostGuard(budget))
    return guards
