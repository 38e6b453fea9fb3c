"""A task's tool calls: the permission gate, the guards' hooks, approval, then the tool.

`ToolCallHandler` handles what a step's model asks to run, in order: the rules of agents.md
for the call — on the path as written *and* on what it really is (links resolved), the
stricter decision winning — then the scope rule
(content may not move to a wider scope without a person), the risk judge (which may only
tighten), the guards' `before_tool` hook, the arguments, a person's approval where the
decision asks for one, the tool itself (or one the loop answers itself, see
`special_tools`), and the guards' `after_tool` hook.

`TaskRunner` builds one from its tools, gate (rules, risk judge, queue) and guards; it holds
that configuration only, and everything one run changes is in the run's `TaskRun`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Generator, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from cairn.core.engine import ToolCall, ToolSpec
from cairn.core.errors import CairnError
from cairn.core.routing.dispatch import Dispatcher
from cairn.core.routing.router import Overrides
from cairn.core.routing.steps import overrides_for
from cairn.core.tasks.approvals import ApprovalRequest, PermissionCheck, Replay, tighten
from cairn.core.tasks.events import ApprovalNeeded, TaskEvent, ToolCalled, ToolResult
from cairn.core.tasks.gate import Queue, RiskJudge, decide, outside_check, preview, rule_check
from cairn.core.tasks.guards import Block, Guard
from cairn.core.tasks.options import TaskOptions
from cairn.core.tasks.run import TaskRun
from cairn.core.tasks.special_tools import (
    PROPOSED,
    SPECIAL_TOOLS,
    ask_user,
    consult,
    missing_arguments,
    proposal,
)
from cairn.core.tasks.tools import (
    Tool,
    ToolOutcome,
    ToolSource,
    argument_choices,
    new_file_pattern,
    real_target,
    task_view,
    validate_arguments,
)
from cairn.core.workspace.loader import WorkspaceModel

_T = TypeVar("_T")


def headless_allows(name: str, allowed: Collection[str]) -> bool:
    """`name` is in an automation's `headless.allow`, by name or as `server.*`."""
    return name in allowed or ("." in name and f"{name.split('.', 1)[0]}.*" in allowed)


def first_block(guards: Sequence[Guard], hook: Callable[[Guard], Block | None]) -> Block | None:
    """The first guard that blocks, asked in order; None when all let it be."""
    for guard in guards:
        block = hook(guard)
        if block is not None:
            return block
    return None


def decide_by_mode(
    run: TaskRun,
    queue: Queue | None,
    request: ApprovalRequest,
    event: TaskEvent,
    budget: bool = False,
) -> Generator[TaskEvent, None, tuple[bool, str]]:
    """A pending request decided by the run's approval mode (see `gate.decide`)."""
    return (
        yield from decide(
            request,
            run.options.approvals,
            event,
            task=run.task,
            queue=queue,
            cancel=run.cancel,
            budget=budget,
        )
    )


def overrides(model: WorkspaceModel, options: TaskOptions) -> Overrides:
    return overrides_for(
        model.workspace, space=options.space, automation=options.automation, skill=options.skill
    )


class ToolCallHandler:
    """What a step's model asks to run, from the gate to the result."""

    def __init__(
        self,
        model: WorkspaceModel,
        dispatcher: Dispatcher,
        tools: Sequence[Tool],
        *,
        guards: Sequence[Guard] = (),
        risk: RiskJudge | None = None,
        queue: Queue | None = None,
        sources: Sequence[ToolSource] = (),
    ) -> None:
        self.model = model
        self.dispatcher = dispatcher
        self.tools = {t.name: t for t in tools}
        self.sources = list(sources)
        self.guards = list(guards)
        self.risk = risk
        self.queue = queue

    # --- tools --------------------------------------------------------------------------

    def headless_allow(self, automation: str | None) -> frozenset[str] | None:
        """The tools an automation's run may use (`headless.allow`); None: no such limit
        (an interactive task, or an automation whose list is empty). A connector's tools
        may be named one by one or as `server.*`."""
        found = self.model.workspace.automations.get(automation) if automation else None
        allowed = found.meta.headless.allow if found else ()
        return frozenset(allowed) if allowed else None

    def all_tools(self, space: str | None) -> dict[str, Tool]:
        """The workspace's tools and the connectors' for a task in `space`."""
        found = dict(self.tools)
        for source in self.sources:
            for tool in source.tools(space):
                found.setdefault(tool.name, tool)
        return found

    def specs(
        self, space: str | None = None, automation: str | None = None
    ) -> tuple[ToolSpec, ...]:
        """The tools a step may call, with the values their arguments can take now; an
        automation's run is offered only the tools its `headless.allow` lists."""
        choices = argument_choices(self.model, space)
        folders = choices.get("list_files", {}).get("folder")
        files = choices.get("read_file", {})
        # Writing replaces a file that exists or creates one in an existing folder;
        # appending needs a file that exists.
        writes = {
            "write_file": (files, {"path": new_file_pattern(folders)} if folders else {}),
            "append_file": (files, {}),
        }
        specs = []
        for t in self.all_tools(space).values():
            own, patterns = writes.get(t.name, (choices.get(t.name, {}), {}))
            patterns = {**t.patterns, **patterns}
            specs.append(ToolSpec(t.name, t.description, t.parameters, own, t.example, patterns))
        special = [replace(s, choices=choices.get(s.name, {})) for s in SPECIAL_TOOLS]
        allowed = self.headless_allow(automation)
        offered = [
            s for s in (*specs, *special) if allowed is None or headless_allows(s.name, allowed)
        ]
        return tuple(offered)

    def _gate(
        self, run: TaskRun, call: ToolCall, tool: Tool | None, path: str | None
    ) -> Generator[TaskEvent, None, PermissionCheck]:
        """The decision for a call, and why (see `gate.rule_check`), tightened by the judge."""
        effect = tool.effect if tool else "read"
        real = None
        if path is not None:
            try:
                real = real_target(self.model, path)
            except CairnError:
                real = None  # hidden or outside: the tool refuses it, nothing to ask about
        check = rule_check(self._rules(), call.name, effect, path, real, run.provenance)
        if tool is not None:
            check = outside_check(check, tool, self._rules(), run.provenance)
        if self.risk is not None and check.decision == "allow" and effect == "write":
            risk = yield from self._relay(
                run, self.risk(call.name, call.arguments, path, run.provenance)
            )
            check = tighten(check, risk)
        return check

    def call(
        self, run: TaskRun, call: ToolCall
    ) -> Generator[TaskEvent, None, tuple[ToolOutcome, Block | None]]:
        tool = self.tools.get(call.name)
        if tool is None and "." in call.name:  # a connector's: asked for only then
            tool = self.all_tools(run.options.space).get(call.name)
        special = {s.name for s in SPECIAL_TOOLS}
        path = tool.target(call.arguments) if tool else None
        check = yield from self._gate(run, call, tool, path)
        allowed = self.headless_allow(run.options.automation)
        if allowed is not None and not headless_allows(call.name, allowed):
            # Not offered, so a model that names it anyway is refused, whatever the rules say.
            check = PermissionCheck(
                "deny",
                None,
                f"automation '{run.options.automation}' allows only "
                f"{', '.join(sorted(allowed))} (headless.allow)",
            )
        state = run.state
        yield ToolCalled(
            call.id, call.name, dict(call.arguments), f"{check.decision} ({check.reason})"
        )
        block = first_block(self.guards, lambda g: g.before_tool(state, call.name, call.arguments))
        state.calls.append(
            (call.name, json.dumps(dict(call.arguments), sort_keys=True, default=str))
        )
        if block is not None:
            outcome = ToolOutcome(False, f"not run: {block.reason}", path)
        elif tool is None and call.name not in special:
            known = ", ".join([*self.all_tools(run.options.space), *special])
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
                    replay=self._replay(run, tool, path),
                )
                approved, by = yield from decide_by_mode(
                    run, self.queue, request, ApprovalNeeded(request)
                )
                if not approved:
                    outcome = ToolOutcome(
                        False, f"not done: the user did not approve it ({by})", path
                    )
            if approved:
                outcome = yield from self._run_tool(run, tool, call)
        state.failures_in_a_row = 0 if outcome.ok else state.failures_in_a_row + 1
        yield ToolResult(call.id, call.name, outcome.ok, outcome.output, outcome.path)
        after = block or first_block(self.guards, lambda g: g.after_tool(state, call.name, outcome))
        return outcome, after if block is None or block.scope != "call" else block

    def _replay(self, run: TaskRun, tool: Tool | None, path: str | None) -> Replay | None:
        """What performing the call later needs (a queued approval): the target as this
        task sees it, its space and why its content is sensitive. None for a tool the loop
        answers itself, or a write the tool would refuse anyway: nothing to perform."""
        if tool is None:
            return None
        base = None
        if tool.effect == "write" and path is not None:
            try:
                base = task_view(run.env, path)
            except (CairnError, OSError):
                return None
        provenance = run.provenance
        reasons = provenance.reasons() if provenance.sensitive else ()
        return Replay(base, run.options.space, reasons)

    def _argument_problem(self, tool: Tool | None, call: ToolCall) -> str | None:
        if tool is None:
            return missing_arguments(call)
        return validate_arguments(tool, call.arguments)

    def _run_tool(
        self, run: TaskRun, tool: Tool | None, call: ToolCall
    ) -> Generator[TaskEvent, None, ToolOutcome]:
        args = call.arguments
        if tool is not None:
            try:
                return tool.run(args, run.env)
            except Exception as exc:  # a tool bug must not end the task
                return ToolOutcome(False, f"{call.name} failed: {exc}")
        if call.name == "propose_memory":
            proposed = proposal(args, run.options.space, run.task, self._user_words(run))
            run.proposals.append(proposed)
            yield proposed
            return PROPOSED
        if call.name == "ask_user":
            question = str(args["question"])
            return (yield from ask_user(question, run.options.approvals, run.cancel, run.answers))
        return (yield from self._consult(run, str(args["operator"]), str(args["draft"])))

    def _user_words(self, run: TaskRun) -> tuple[str, ...]:
        """What the user said in this task: the request and their answers."""
        return (run.request, *run.answers)

    def _consult(
        self, run: TaskRun, name: str, draft: str
    ) -> Generator[TaskEvent, None, ToolOutcome]:
        return (
            yield from self._relay(
                run,
                consult(
                    self.model.workspace,
                    self.dispatcher,
                    name,
                    draft,
                    provenance=run.provenance,
                    overrides=overrides(self.model, run.options),
                    cancel=run.cancel,
                ),
            )
        )

    # --- side calls and rules ---------------------------------------------------------

    def _relay(
        self, run: TaskRun, events: Generator[TaskEvent, None, _T]
    ) -> Generator[TaskEvent, None, _T]:
        """Pass on a side call's events (judge, review; routing and spend only, see
        `gate.SIDE_CALL_EVENTS`): traced and shown, and counted by the run."""
        while True:
            try:
                event = next(events)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            run.observe(event)
            yield event

    def _rules(self) -> Sequence[Any]:
        agents = self.model.workspace.agents
        return agents.policy.permissions if agents else ()
