"""A task's tool calls: the permission gate, the guards' hooks, approval, then the tool.

`ToolCalls` is the half of `TaskRunner` (in `loop`) that handles what a step's model asks
to run, in order: the rule of agents.md for the call (tightened, never loosened, by the
risk judge), the guards' `before_tool` hook, the arguments, a person's approval where the
rule asks for one, the tool itself (or one the loop answers itself, see `special_tools`),
and the guards' `after_tool` hook. It is a mixin: the runner owns the state declared
below and resets it for each task.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from cairn.core.approvals import ApprovalRequest, check_permission, tighten
from cairn.core.dispatch import Dispatcher
from cairn.core.engine import CancelToken, ToolCall, ToolSpec, Usage
from cairn.core.events import ApprovalNeeded, MemoryProposed, ToolCalled, ToolResult
from cairn.core.gate import Queue, RiskJudge, decide, preview
from cairn.core.guards import Block, Guard, LoopState
from cairn.core.loader import WorkspaceModel
from cairn.core.routing import Overrides
from cairn.core.special_tools import (
    PROPOSED,
    SPECIAL_TOOLS,
    ask_user,
    consult,
    missing_arguments,
    proposal,
)
from cairn.core.steps import overrides_for
from cairn.core.task_context import space_scope
from cairn.core.task_record import Totals
from cairn.core.tools import Tool, ToolEnv, ToolOutcome, validate_arguments

if TYPE_CHECKING:  # loop imports this module; the options type is only needed for checking
    from cairn.core.loop import TaskOptions


class ToolCalls:
    """What a step's model asks to run, from the gate to the result; mixed into `TaskRunner`."""

    # Set by TaskRunner: in __init__, and per task in run.
    model: WorkspaceModel
    dispatcher: Dispatcher
    tools: dict[str, Tool]
    guards: list[Guard]
    risk: RiskJudge | None
    queue: Queue | None
    task: str
    _env: ToolEnv | None
    _proposals: list[MemoryProposed]
    _answers: list[str]
    _cancel: CancelToken
    _sensitive: dict[str, str]
    _totals: Totals | None

    # --- tools --------------------------------------------------------------------------

    def _tool_specs(self) -> tuple[ToolSpec, ...]:
        specs = [ToolSpec(t.name, t.description, t.parameters) for t in self.tools.values()]
        return (*specs, *SPECIAL_TOOLS)

    def _call_tool(
        self, call: ToolCall, options: TaskOptions, state: LoopState, index: int
    ) -> Generator[object, None, tuple[ToolOutcome, Block | None]]:
        tool = self.tools.get(call.name)
        special = {s.name for s in SPECIAL_TOOLS}
        path = tool.target(call.arguments) if tool else None
        effect = tool.effect if tool else "read"
        check = check_permission(self._rules(), call.name, action=effect, path=path)
        if self.risk is not None and check.decision == "allow" and effect == "write":
            check = tighten(check, self.risk(call.name, call.arguments, path))
        yield ToolCalled(
            call.id, call.name, dict(call.arguments), f"{check.decision} ({check.reason})"
        )
        block = self._first_block(lambda g: g.before_tool(state, call.name, call.arguments))
        state.calls.append(
            (call.name, json.dumps(dict(call.arguments), sort_keys=True, default=str))
        )
        if block is not None:
            outcome = ToolOutcome(False, f"not run: {block.reason}", path)
        elif tool is None and call.name not in special:
            known = ", ".join([*self.tools, *special])
            outcome = ToolOutcome(False, f"there is no tool '{call.name}'; tools: {known}")
        elif (problem := self._argument_problem(tool, call)) is not None:
            outcome = ToolOutcome(False, problem, path)
        elif check.decision == "deny":
            outcome = ToolOutcome(False, f"not allowed: {check.reason}", path)
        else:
            approved = True
            if check.decision == "ask":
                request = ApprovalRequest(
                    tool=call.name,
                    arguments=dict(call.arguments),
                    path=path,
                    reason=check.reason,
                    preview=preview(call.arguments),
                )
                approved, by = yield from self._decide(request, options, ApprovalNeeded(request))
                if not approved:
                    outcome = ToolOutcome(
                        False, f"not done: the user did not approve it ({by})", path
                    )
            if approved:
                outcome = yield from self._run_tool(tool, call, options)
        state.failures_in_a_row = 0 if outcome.ok else state.failures_in_a_row + 1
        yield ToolResult(call.id, call.name, outcome.ok, outcome.output, outcome.path)
        after = block or self._first_block(lambda g: g.after_tool(state, call.name, outcome))
        return outcome, after if block is None or block.scope != "call" else block

    def _argument_problem(self, tool: Tool | None, call: ToolCall) -> str | None:
        if tool is None:
            return missing_arguments(call)
        return validate_arguments(tool, call.arguments)

    def _run_tool(
        self, tool: Tool | None, call: ToolCall, options: TaskOptions
    ) -> Generator[object, None, ToolOutcome]:
        args = call.arguments
        if tool is not None:
            try:
                return tool.run(args, self._env or ToolEnv(self.model, options.space))
            except Exception as exc:  # a tool bug must not end the task
                return ToolOutcome(False, f"{call.name} failed: {exc}")
        if call.name == "propose_memory":
            proposed = proposal(args, options.space, self.task)
            self._proposals.append(proposed)
            yield proposed
            return PROPOSED
        if call.name == "ask_user":
            question = str(args["question"])
            return (yield from ask_user(question, options.approvals, self._cancel, self._answers))
        return (yield from self._consult(str(args["operator"]), str(args["draft"]), options))

    def _consult(
        self, name: str, draft: str, options: TaskOptions
    ) -> Generator[object, None, ToolOutcome]:
        return (
            yield from consult(
                self.model.workspace,
                self.dispatcher,
                name,
                draft,
                space=options.space,
                scope=lambda: self._scope(options.space),
                sensitive_sources=tuple(self._sensitive.values()),
                overrides=lambda: self._overrides(options),
                cancel=self._cancel,
                on_usage=self._totals_add,
            )
        )

    # --- shared with the runner: guards, approvals, rules, routing ----------------------

    def _first_block(self, hook: Callable[[Guard], Block | None]) -> Block | None:
        for guard in self.guards:
            block = hook(guard)
            if block is not None:
                return block
        return None

    def _decide(
        self, request: ApprovalRequest, options: TaskOptions, event: object, budget: bool = False
    ) -> Generator[object, None, tuple[bool, str]]:
        return (
            yield from decide(
                request,
                options.approvals,
                event,
                task=self.task,
                queue=self.queue,
                cancel=self._cancel,
                budget=budget,
            )
        )

    def _rules(self) -> Sequence[Any]:
        agents = self.model.workspace.agents
        return agents.policy.permissions if agents else ()

    def _scope(self, space: str | None) -> str | None:
        return space_scope(self.model.workspace, space)

    def _overrides(self, options: TaskOptions) -> Overrides:
        return overrides_for(
            self.model.workspace,
            space=options.space,
            automation=options.automation,
            skill=options.skill,
        )

    def _totals_add(self, usage: Usage) -> None:
        if self._totals is not None:
            self._totals.add(usage)
