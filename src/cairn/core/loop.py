"""The task loop: a request becomes a plan and steps; steps call tools; every move is an event.

`TaskRunner.run` is a generator. Front ends consume it: the CLI prints events, the
desktop shell turns them into Qt signals on a worker thread, the scheduler journals
them. It imports no UI and no network library; models are reached only through the
dispatcher (router + engines), files only through the workspace model.

Content read from files and tools reaches the model labelled as data (`as_data`), and
no tool with side effects runs without passing the permission gate: what a file says
can change what the model asks for, never what it is allowed to do.

The runner keeps the task's state and the order of events; its pieces live beside it:
`task_tools` (the `ToolCalls` half of the runner: one tool call, from the gate to its
result), `task_context` (what a step's model sees, and the routing overrides), `gate`
(approvals by mode, the risk judge), `special_tools` (the tools the loop answers itself)
and `task_record` (the markdown record of a finished task).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from cairn.core.approvals import ApprovalRequest
from cairn.core.budget import BudgetPaused
from cairn.core.context import Assembled, Part, as_data
from cairn.core.dispatch import Dispatcher, Routed, RoutingStopped
from cairn.core.engine import (
    CancelToken,
    ChatEngine,
    ChatRequest,
    EngineError,
    Finished,
    Message,
    TextDelta,
    ToolCall,
    ToolCallRequested,
    ToolSpec,
    Usage,
)
from cairn.core.events import (
    ApprovalNeeded,
    GuardStopped,
    MemoryProposed,
    MemoryRecalled,
    MemorySkipped,
    Plan,
    PlanApprovalNeeded,
    PlanMade,
    PlannedStep,
    StepFinished,
    StepStarted,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)
from cairn.core.gate import (
    RISK_SCHEMA,
    ApprovalMode,
    Queue,
    RiskJudge,
    TaskCancelledError,
    model_risk_judge,
)
from cairn.core.guards import Guard, LoopState
from cairn.core.loader import WorkspaceModel
from cairn.core.memory_step import Transcript
from cairn.core.plan import PLAN_PROMPT, PLAN_SCHEMA, is_simple, parse_plan, single_step
from cairn.core.routing import Step
from cairn.core.task_context import build_parts, fit_to, note_sources, window_of
from cairn.core.task_record import Totals, write_record
from cairn.core.task_tools import ToolCalls
from cairn.core.tools import Tool, ToolEnv, file_tools

__all__ = [
    "ANSWER_RESERVE",
    "RISK_SCHEMA",
    "ApprovalMode",
    "ContextBuilt",
    "Queue",
    "Recall",
    "Remember",
    "RiskJudge",
    "TaskCancelledError",
    "TaskOptions",
    "TaskRunner",
    "model_risk_judge",
]

Recall = Callable[[str, str | None, int], Sequence[tuple[str, str]]]
"""(query, space, token budget) → recalled (source, text) pairs. The memory feature fills it."""
Remember = Callable[[Transcript], Iterator[object]]

ANSWER_RESERVE = 1024


@dataclass(frozen=True, slots=True)
class TaskOptions:
    space: str | None = None
    skill: str | None = None
    operator: str | None = None
    automation: str | None = None
    approvals: ApprovalMode = "ask"
    plan: Literal["auto", "always", "never"] = "auto"
    max_tokens: int = ANSWER_RESERVE


@dataclass(frozen=True, slots=True)
class ContextBuilt:
    """What the model of a step saw: parts in order, what was trimmed, tokens counted."""

    index: int
    model: str
    parts: tuple[str, ...]
    trimmed: tuple[str, ...]
    tokens: int


class _StopTask(Exception):
    def __init__(self, event: TaskFailed) -> None:
        self.event = event


class TaskRunner(ToolCalls):
    def __init__(
        self,
        model: WorkspaceModel,
        dispatcher: Dispatcher,
        *,
        tools: Sequence[Tool] | None = None,
        guards: Sequence[Guard] = (),
        recall: Recall | None = None,
        queue: Queue | None = None,
        risk: RiskJudge | None = None,
        task_id: str | None = None,
        write_record: bool = True,
        remember: Remember | None = None,
    ) -> None:
        self.model = model
        self.dispatcher = dispatcher
        self.tools = {t.name: t for t in (tools if tools is not None else file_tools())}
        self.guards = list(guards)
        self.recall = recall
        self.queue = queue
        self.risk = risk
        self.task = task_id or f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.write_record = write_record
        self.remember = remember
        self._recalled: tuple[tuple[str, str], ...] = ()
        self._proposals: list[MemoryProposed] = []
        self._answers: list[str] = []
        self._last_context: Assembled | None = None
        self._env: ToolEnv | None = None
        self._state: LoopState | None = None
        self._totals: Totals | None = None
        self._cancel = CancelToken()
        # Files whose content entered this task and make it sensitive (marked, or from a
        # private space). Kept for the whole task: later steps and reviews carry it too.
        self._sensitive: dict[str, str] = {}
        self._last_model = ""

    # --- the task -----------------------------------------------------------------------

    def run(
        self, request: str, options: TaskOptions = TaskOptions(), cancel: CancelToken | None = None
    ) -> Iterator[object]:
        cancel = cancel or CancelToken()
        # One tool environment per task: it remembers what the task read, so a write back
        # to a file someone edited meanwhile is refused as a conflict.
        self._env = ToolEnv(self.model, options.space)
        self._sensitive = {}
        self._cancel = cancel
        totals = Totals()
        self._totals = totals
        state = LoopState(self.task)
        self._state = state
        yield TaskStarted(self.task, request, options.space, options.skill, options.operator)
        self._proposals, self._answers = [], []
        self._recalled = tuple(self.recall(request, options.space, 800)) if self.recall else ()
        if self._recalled:
            yield MemoryRecalled(self._recalled)
        results: list[tuple[PlannedStep, str]] = []
        try:
            plan = yield from self._plan(request, options, totals, cancel)
            yield PlanMade(plan)
            yield from self._approve_plan(plan, options)
            for index, planned in enumerate(plan.steps, 1):
                block = self._first_block(lambda g: g.before_step(state))
                if block is not None:
                    yield GuardStopped(block.guard, block.reason)
                    raise _StopTask(TaskFailed(self.task, block.reason, "guard"))  # noqa: TRY301
                state.new_step(index)
                yield StepStarted(index, planned)
                text, calls = yield from self._step(
                    index,
                    planned,
                    plan=plan,
                    request=request,
                    results=results,
                    options=options,
                    state=state,
                    totals=totals,
                    cancel=cancel,
                )
                results.append((planned, text))
                yield StepFinished(index, text, calls)
        except TaskCancelledError:
            yield TaskCancelled(self.task)
            return
        except _StopTask as stop:
            yield stop.event
            return
        except RoutingStopped as stop:
            yield TaskFailed(self.task, f"no model may run this step: {stop}", "routing")
            return
        except BudgetPaused as pause:
            yield TaskFailed(self.task, f"stopped before the call: {pause}", "budget")
            return
        except EngineError as error:
            yield TaskFailed(
                self.task,
                f"{error.model or 'model'}: {error.kind}: {error}",
                "context" if error.kind == "context_too_long" else "engine",
            )
            return
        answer = results[-1][1] if results else ""
        record = (
            write_record(
                self.model,
                self.task,
                request,
                space=options.space,
                plan=plan,
                results=results,
                totals=totals,
            )
            if self.write_record
            else None
        )
        if self.remember is not None:
            yield from self._remember(
                request, answer, results, options=options, record=record, totals=totals
            )
        yield TaskFinished(
            self.task, answer, totals.input_tokens, totals.output_tokens, totals.cost_usd, record
        )

    def _remember(
        self,
        request: str,
        answer: str,
        results: list[tuple[PlannedStep, str]],
        *,
        options: TaskOptions,
        record: str | None,
        totals: Totals,
    ) -> Iterator[object]:
        """The memory step; a failure there never undoes a finished task."""
        assert self.remember is not None
        transcript = Transcript(
            task=self.task,
            request=request,
            answer=answer,
            steps=tuple(text for _, text in results[:-1]),
            proposals=tuple(self._proposals),
            user_answers=tuple(self._answers),
            space=options.space,
            sensitive_sources=tuple(self._sensitive.values()),
            record=record,
        )
        try:
            for event in self.remember(transcript):
                if isinstance(event, Usage):
                    totals.add(event)
                yield event
        except Exception as exc:
            yield MemorySkipped("(the memory step)", f"failed: {exc}")

    # --- planning -----------------------------------------------------------------------

    def _plan(
        self, request: str, options: TaskOptions, totals: Totals, cancel: CancelToken
    ) -> Generator[object, None, Plan]:
        if options.plan == "never" or (
            options.plan == "auto" and is_simple(request, skill=options.skill)
        ):
            return single_step(request)
        parts = self._parts(
            request,
            options,
            PlannedStep("Plan", "plan", PLAN_PROMPT.format(max_steps=6)),
            history=(),
        )
        text = ""
        step = self._routing_step("Plan the task", "plan", parts, (), options=options)

        def build(engine: ChatEngine) -> ChatRequest:
            assembled = self._fit(engine, parts, ())
            return ChatRequest(
                assembled.messages,
                json_schema=PLAN_SCHEMA,
                max_tokens=600,
                prompt_tokens=assembled.tokens,
            )

        for event in self._dispatch(step, build, options, totals, cancel, index=0):
            if isinstance(event, TextDelta):
                text += event.text
            else:
                yield event
        plan, problem = parse_plan(text, request)
        return plan if problem is None else replace(plan, fast_path=False)

    def _approve_plan(self, plan: Plan, options: TaskOptions) -> Generator[object, None, None]:
        policy = self.model.workspace.agents.policy if self.model.workspace.agents else None
        rule = policy.plan_approval if policy else "never"
        needed = rule == "always" or (rule == "multi-step" and len(plan.steps) > 1)
        if not needed:
            return
        outline = "\n".join(
            f"{n}. {s.title} ({s.kind}): {s.instruction}" for n, s in enumerate(plan.steps, 1)
        )
        request = ApprovalRequest(
            tool="plan",
            arguments={},
            path=None,
            reason=f"agents.md: plan_approval is {rule}",
            preview=outline,
        )
        approved, by = yield from self._decide(request, options, PlanApprovalNeeded(plan, request))
        if not approved:
            raise _StopTask(TaskFailed(self.task, f"the plan was not approved ({by})", "plan"))

    # --- one step -----------------------------------------------------------------------

    def _step(
        self,
        index: int,
        planned: PlannedStep,
        *,
        plan: Plan,
        request: str,
        results: list[tuple[PlannedStep, str]],
        options: TaskOptions,
        state: LoopState,
        totals: Totals,
        cancel: CancelToken,
    ) -> Generator[object, None, tuple[str, int]]:
        parts = self._parts(
            request,
            options,
            planned,
            history=tuple(results),
            total=len(plan.steps),
            index=index,
        )
        turns: list[Message] = []
        specs = self._tool_specs()
        calls_made = 0
        text = ""
        while True:
            block = self._first_block(lambda g: g.before_model(state))
            if block is not None:
                yield GuardStopped(block.guard, block.reason)
                return text or f"(stopped: {block.reason})", calls_made
            state.tool_rounds += 1
            step = self._routing_step(
                planned.instruction,
                planned.kind,
                parts,
                tuple(turns),
                options=options,
            )
            frozen_turns = tuple(turns)

            def build(
                engine: ChatEngine, turns_now: tuple[Message, ...] = frozen_turns
            ) -> ChatRequest:
                assembled = self._fit(engine, parts, turns_now, options.max_tokens, specs)
                return ChatRequest(
                    assembled.messages,
                    tools=specs,
                    max_tokens=options.max_tokens,
                    prompt_tokens=assembled.tokens,
                )

            text_parts: list[str] = []
            calls: list[ToolCall] = []
            for event in self._dispatch(step, build, options, totals, cancel, index=index):
                if isinstance(event, TextDelta):
                    text_parts.append(event.text)
                    yield event
                elif isinstance(event, ToolCallRequested):
                    calls.append(event.call)
                else:
                    yield event
            text = "".join(text_parts).strip()
            if not calls:
                return text, calls_made
            turns.append(Message("assistant", text, tool_calls=tuple(calls)))
            for call in calls:
                calls_made += 1
                outcome, block = yield from self._call_tool(call, options, state, index)
                if outcome.ok:
                    note_sources(self.model, self._sensitive, call.name, outcome)
                source = f"{call.name}:{outcome.path}" if outcome.path else call.name
                turns.append(
                    Message(
                        "tool",
                        as_data(source, outcome.output),
                        tool_call_id=call.id,
                        name=call.name,
                    )
                )
                if block is not None:
                    yield GuardStopped(block.guard, block.reason)
                    if block.scope == "task":
                        raise _StopTask(TaskFailed(self.task, block.reason, "guard"))
                    if block.scope == "step":
                        return text or f"(stopped: {block.reason})", calls_made

    def _dispatch(
        self,
        step: Step,
        build: Callable[[ChatEngine], ChatRequest],
        options: TaskOptions,
        totals: Totals,
        cancel: CancelToken,
        *,
        index: int,
    ) -> Iterator[object]:
        overrides = self._overrides(options)
        while True:
            try:
                for event in self.dispatcher.run(step, build, overrides, cancel):
                    if cancel.cancelled:
                        raise TaskCancelledError
                    if isinstance(event, Routed):
                        yield event
                        if self._last_context is not None and event.decision.chosen:
                            ctx = self._last_context
                            yield ContextBuilt(
                                index, event.decision.chosen, ctx.parts, ctx.trimmed, ctx.tokens
                            )
                            totals.models.append(event.decision.chosen)
                    elif isinstance(event, Usage):
                        totals.add(event)
                        yield event
                    elif isinstance(event, Finished):
                        if event.reason == "cancelled":
                            raise TaskCancelledError
                    else:
                        yield event
                if cancel.cancelled:
                    raise TaskCancelledError
                return
            except BudgetPaused as pause:
                if options.approvals != "ask" or self.dispatcher.guard is None:
                    raise
                request = ApprovalRequest(
                    tool="budget", arguments={}, path=None, reason=str(pause), preview=str(pause)
                )
                approved, _ = yield from self._decide(
                    request, options, ApprovalNeeded(request), budget=True
                )
                if not approved or pause.verdict.scope is None:
                    raise
                self.dispatcher.guard.continue_past(pause.verdict.scope)

    # --- context ------------------------------------------------------------------------

    def _routing_step(
        self,
        description: str,
        kind: str,
        parts: Sequence[Part],
        turns: tuple[Message, ...],
        *,
        options: TaskOptions,
    ) -> Step:
        return Step(
            description,
            kind=kind,
            blocks=(*(p.text for p in parts), *(m.content for m in turns)),
            space=options.space,
            space_scope=self._scope(options.space),
            skill=options.skill,
            automation=options.automation,
            sensitive_sources=tuple(self._sensitive.values()),
        )

    def _parts(
        self,
        request: str,
        options: TaskOptions,
        planned: PlannedStep,
        *,
        history: tuple[tuple[PlannedStep, str], ...],
        total: int = 1,
        index: int = 1,
    ) -> list[Part]:
        return build_parts(
            self.model.workspace,
            request,
            planned,
            space=options.space,
            operator=options.operator,
            skill=options.skill,
            recalled=self._recalled,
            history=history,
            total=total,
            index=index,
        )

    def _fit(
        self,
        engine: ChatEngine,
        parts: Sequence[Part],
        turns: tuple[Message, ...],
        reserve: int = ANSWER_RESERVE,
        tools: tuple[ToolSpec, ...] = (),
    ) -> Assembled:
        if self._state is not None:
            self._state.window = window_of(engine)  # for the context-budget guard
        assembled = fit_to(engine, parts, turns, reserve, tools)
        self._last_context = assembled
        return assembled
