"""Guards, each alone on a `LoopState`, and then inside the task loop."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cairn.core.engine import TextDelta, ToolCall
from cairn.core.routing.budget import BudgetGuard, SpendRecord
from cairn.core.tasks.events import (
    GuardStopped,
    StepFinished,
    StepStarted,
    TaskFailed,
    TaskFinished,
    ToolResult,
)
from cairn.core.tasks.guards import (
    Block,
    ContextBudget,
    CostGuard,
    Guard,
    LoopBreaker,
    LoopState,
    StepLimit,
    ToolFailureGuard,
    default_guards,
)
from cairn.core.tasks.loop import ANSWER_NOW, TaskOptions
from cairn.core.tasks.tools import ToolOutcome
from cairn.core.workspace.schema import Budgets
from tests.core.test_loop import (
    MULTI,
    SIMPLE,
    TASK,
    ListLedger,
    kinds,
    make_rig,
    of,
    one,
    plan_json,
)

pytestmark = pytest.mark.timeout(30)

OK = ToolOutcome(True, "fine")
FAILED = ToolOutcome(False, "there is no file x.md")


def key(arguments: dict[str, object]) -> str:
    """How the loop records a call's arguments in `LoopState.calls`."""
    return json.dumps(arguments, sort_keys=True, default=str)


# --- the state -------------------------------------------------------------------------------


def test_a_new_step_resets_the_per_step_counters() -> None:
    state = LoopState(
        "t",
        step_index=1,
        steps_started=1,
        tool_rounds=5,
        calls=[("read_file", "{}")],
        failures_in_a_row=2,
        tool_output_tokens=900,
        window=8192,
    )
    state.new_step(2)
    assert state == LoopState("t", step_index=2, steps_started=2, window=8192)


def test_the_base_guard_lets_everything_be() -> None:
    guard, state = Guard(), LoopState("t")
    assert guard.before_step(state) is None
    assert guard.before_model(state) is None
    assert guard.before_tool(state, "write_file", {"path": "agents.md"}) is None
    assert guard.after_tool(state, "write_file", FAILED) is None


def test_default_guards() -> None:
    names = [type(g) for g in default_guards()]
    assert names == [LoopBreaker, ToolFailureGuard, StepLimit, ContextBudget]
    budget = BudgetGuard(Budgets(), ListLedger(), task="t")
    with_budget = default_guards(budget)
    assert isinstance(with_budget[-1], CostGuard) and with_budget[-1].budget is budget


# --- LoopBreaker -----------------------------------------------------------------------------


def test_loop_breaker_blocks_the_fourth_identical_call() -> None:
    guard, state = LoopBreaker(), LoopState("t")
    arguments = {"path": "a.md", "n": 1}
    for _ in range(3):
        assert guard.before_tool(state, "read_file", arguments) is None
        state.calls.append(("read_file", key(arguments)))
    block = guard.before_tool(state, "read_file", {"n": 1, "path": "a.md"})  # key order ignored
    assert block == Block(
        "loop breaker",
        "read_file was called 3 times with the same arguments in this step; ending the step",
        "step",
    )


def test_loop_breaker_tells_calls_apart_by_tool_and_arguments() -> None:
    guard, state = LoopBreaker(max_repeats=2), LoopState("t")
    state.calls += [("read_file", key({"path": "a.md"}))] * 2
    assert guard.before_tool(state, "read_file", {"path": "b.md"}) is None
    assert guard.before_tool(state, "search", {"path": "a.md"}) is None
    assert guard.before_tool(state, "read_file", {"path": "a.md"}) is not None
    state.new_step(2)
    assert guard.before_tool(state, "read_file", {"path": "a.md"}) is None


# --- ToolFailureGuard ------------------------------------------------------------------------


def test_tool_failure_guard_ends_the_step_after_failures_in_a_row() -> None:
    guard, state = ToolFailureGuard(max_in_a_row=3), LoopState("t")
    state.failures_in_a_row = 2
    assert guard.after_tool(state, "read_file", FAILED) is None
    state.failures_in_a_row = 3
    assert guard.after_tool(state, "read_file", FAILED) == Block(
        "tool-failure guard", "3 tool calls failed in a row; ending the step", "step"
    )


# --- StepLimit -------------------------------------------------------------------------------


def test_step_limit_on_steps_ends_the_task() -> None:
    guard, state = StepLimit(max_steps=2, max_rounds=3), LoopState("t")
    assert guard.before_step(state) is None
    state.new_step(1)
    assert guard.before_step(state) is None
    state.new_step(2)
    assert guard.before_step(state) == Block(
        "step limit", "the task reached its limit of 2 steps", "task"
    )


def test_step_limit_on_rounds_ends_the_step() -> None:
    guard, state = StepLimit(max_steps=2, max_rounds=3), LoopState("t")
    state.tool_rounds = 2
    assert guard.before_model(state) is None
    state.tool_rounds = 3
    assert guard.before_model(state) == Block(
        "step limit", "the step reached its limit of 3 model calls", "step"
    )
    state.new_step(2)
    assert guard.before_model(state) is None


# --- CostGuard -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def cost_guard(budgets: dict[str, object]) -> tuple[CostGuard, ListLedger, FakeClock]:
    ledger, clock = ListLedger(), FakeClock()
    budget = BudgetGuard(
        Budgets.model_validate(budgets), ledger, task="t", clock=clock, today=NOW.date
    )
    return CostGuard(budget), ledger, clock


def test_cost_guard_stops_a_task_past_its_minutes() -> None:
    guard, _, clock = cost_guard({"task": {"minutes": 2}})
    state = LoopState("t")
    clock.now += 60
    assert guard.before_step(state) is None
    clock.now += 90
    block = guard.before_step(state)
    assert block == Block(
        "cost guard", "the task has run 2.5 minutes, past its limit of 2; continue?", "task"
    )
    guard.budget.continue_past("task")
    assert guard.before_step(state) is None


def test_cost_guard_stops_a_task_past_its_money() -> None:
    guard, ledger, _ = cost_guard({"task": {"usd": 1.0}, "day": {"usd": 10.0}})
    state = LoopState("t")
    ledger.append(SpendRecord(NOW, "cloud-fast", False, 10, 10, 0.99, "t"))
    assert guard.before_step(state) is None  # at 99%: a warning is not a stop
    ledger.append(SpendRecord(NOW, "cloud-fast", False, 10, 10, 0.02, "t"))
    block = guard.before_step(state)
    assert block is not None
    assert (block.guard, block.scope) == ("cost guard", "task")
    assert "over its limit of $1.0000" in block.reason
    # Another task's spend counts for the day, not for this task.
    other, other_ledger, _ = cost_guard({"task": {"usd": 1.0}})
    other_ledger.append(SpendRecord(NOW, "cloud-fast", False, 10, 10, 5.0, "another task"))
    assert other.before_step(state) is None


def test_cost_guard_checks_only_between_steps() -> None:
    guard, _, clock = cost_guard({"task": {"minutes": 1}})
    clock.now += 600
    state = LoopState("t")
    assert guard.before_model(state) is None
    assert guard.before_tool(state, "read_file", {}) is None
    assert guard.after_tool(state, "read_file", OK) is None


# --- ContextBudget ---------------------------------------------------------------------------


def test_context_budget_counts_tool_output_against_the_window() -> None:
    guard = ContextBudget(share=0.5, chars_per_token=4.0)
    state = LoopState("t", window=1000)
    assert guard.after_tool(state, "read_file", ToolOutcome(True, "x" * 1600)) is None
    assert state.tool_output_tokens == 400
    block = guard.after_tool(state, "read_file", ToolOutcome(True, "x" * 800))
    assert state.tool_output_tokens == 600
    assert block == Block(
        "context budget",
        "tool output in this step reached about 600 tokens, over 50% of the "
        "1,000-token window; ending the step",
        "step",
    )
    state.new_step(2)
    assert state.tool_output_tokens == 0


def test_context_budget_without_a_known_window_only_counts() -> None:
    guard, state = ContextBudget(share=0.01), LoopState("t")
    assert guard.after_tool(state, "read_file", ToolOutcome(True, "x" * 100_000)) is None
    assert state.tool_output_tokens == 25_000


# --- guards inside the loop ------------------------------------------------------------------


def test_a_model_repeating_the_same_call_forever_is_stopped_by_the_loop_breaker(
    starter: Path,
) -> None:
    forever = ToolCall("c1", "list_files", {"folder": "spaces/team"})
    rig = make_rig(starter, fast=[forever])  # the script repeats its last item for ever
    events = rig.run(SIMPLE, TaskOptions(space="team"), guards=default_guards())
    stopped = one(events, GuardStopped)
    assert stopped.guard == "loop breaker"
    results = [r.ok for r in of(events, ToolResult)]
    assert results == [True, True, True, False]
    # The step said nothing yet: one last call, with no tools, asks for an answer; this
    # script only ever calls, so the step ends as the guard said.
    assert len(rig.fast.requests) == 5
    last = rig.fast.requests[-1]
    # Same tools (providers refuse tool history without them), but the model must answer;
    # the note ends the last turn (templates refuse two user turns in a row).
    assert last.tool_choice == "none" and last.tools
    assert last.messages[-1].role == "tool" and last.messages[-1].content.endswith(ANSWER_NOW)
    finished_step = one(events, StepFinished)
    assert finished_step == StepFinished(1, f"(stopped: {stopped.reason})", 4)
    assert kinds(events)[-2:] == ["StepFinished", "TaskFinished"]
    assert isinstance(events[-1], TaskFinished)


def test_a_step_stopped_by_a_guard_still_answers_from_what_its_tools_returned(
    starter: Path,
) -> None:
    again = ToolCall("c1", "list_files", {"folder": "spaces/team"})
    rig = make_rig(starter, fast=[again, again, again, again, "The team folder has drafts/."])
    events = rig.run(SIMPLE, TaskOptions(space="team"), guards=default_guards())
    assert one(events, GuardStopped).guard == "loop breaker"
    assert one(events, StepFinished).text == "The team folder has drafts/."
    assert "The team folder has drafts/." in "".join(d.text for d in of(events, TextDelta))


def test_failing_calls_in_a_row_end_the_step(starter: Path) -> None:
    calls = [ToolCall(f"c{n}", "read_file", {"path": f"missing-{n}.md"}) for n in range(5)]
    rig = make_rig(starter, fast=[*calls, "never reached"])
    events = rig.run(SIMPLE, TaskOptions(space="team"), guards=default_guards())
    stopped = one(events, GuardStopped)
    assert stopped == GuardStopped(
        "tool-failure guard", "3 tool calls failed in a row; ending the step"
    )
    # Three calls, then one without tools asking for an answer (this script has none).
    assert len(rig.fast.requests) == 4 and rig.fast.requests[-1].tool_choice == "none"
    assert isinstance(events[-1], TaskFinished)


def test_a_step_may_not_call_its_model_more_than_max_rounds(starter: Path) -> None:
    calls = [ToolCall(f"c{n}", "read_file", {"path": "spaces/team/readme.md"}) for n in range(5)]
    rig = make_rig(starter, fast=calls)
    events = rig.run(SIMPLE, TaskOptions(space="team"), guards=[StepLimit(max_rounds=2)])
    assert one(events, GuardStopped) == GuardStopped(
        "step limit", "the step reached its limit of 2 model calls"
    )
    assert len(rig.fast.requests) == 2
    assert one(events, StepFinished).tool_calls == 2
    assert isinstance(events[-1], TaskFinished)


def test_a_plan_longer_than_max_steps_ends_the_task(starter: Path) -> None:
    plan = plan_json(*((f"S{n}", "work", f"do {n}") for n in range(1, 4)))
    rig = make_rig(starter, strong=[plan], fast=["one", "two", "three"])
    events = rig.run(
        MULTI, TaskOptions(space="team", approvals="yes"), guards=[StepLimit(max_steps=2)]
    )
    assert [s.index for s in of(events, StepStarted)] == [1, 2]
    assert one(events, GuardStopped) == GuardStopped(
        "step limit", "the task reached its limit of 2 steps"
    )
    assert events[-1] == TaskFailed(TASK, "the task reached its limit of 2 steps", "guard")
    assert len(rig.fast.requests) == 2


def test_a_task_past_its_minutes_stops_before_the_next_step(starter: Path) -> None:
    clock = FakeClock()
    budget = BudgetGuard(
        Budgets.model_validate({"task": {"minutes": 1}}), ListLedger(), task=TASK, clock=clock
    )
    clock.now += 120
    rig = make_rig(starter)
    events = rig.run(SIMPLE, TaskOptions(space="team"), guards=[CostGuard(budget)])
    assert kinds(events) == ["TaskStarted", "PlanMade", "GuardStopped", "TaskFailed"]
    failed = events[-1]
    assert isinstance(failed, TaskFailed) and failed.kind == "guard"
    assert rig.fast.requests == []


# Regression: BUG core/tasks/guards.py:162 + loop.py:707 (_fit): the loop never sets
def test_tool_output_over_the_context_budget_ends_the_step(starter: Path) -> None:
    read = ToolCall("c1", "read_file", {"path": "spaces/team/readme.md"})
    rig = make_rig(starter, fast=[read, "done"])
    events = rig.run(SIMPLE, TaskOptions(space="team"), guards=[ContextBudget(share=0.01)])
    assert one(events, GuardStopped).guard == "context budget"
