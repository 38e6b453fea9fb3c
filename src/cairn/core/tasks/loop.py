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

import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import replace

from cairn.core.engine import (
    CancelToken,
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
from cairn.core.errors import CairnError
from cairn.core.ports import ChatEngine
from cairn.core.routing.budget import BudgetPaused
from cairn.core.routing.dispatch import Dispatcher, Routed, RoutingStopped
from cairn.core.routing.router import Step
from cairn.core.tasks.approvals import ApprovalRequest
from cairn.core.tasks.context import Assembled, Part, as_data
from cairn.core.tasks.events import (
    ApprovalNeeded,
    ContextBuilt,
    GuardStopped,
    MemoryRecalled,
    MemorySkipped,
    Plan,
    PlanApprovalNeeded,
    PlanMade,
    PlannedStep,
    StepFinished,
    StepStarted,
    TaskCancelled,
    TaskEvent,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)
from cairn.core.tasks.gate import (
    RISK_SCHEMA,
    ApprovalMode,
    Queue,
    RiskJudge,
    TaskCancelledError,
    model_risk_judge,
)
from cairn.core.tasks.guards import Guard
from cairn.core.tasks.options import ANSWER_RESERVE, TaskOptions
from cairn.core.tasks.parts import build_parts, context_files, fit_to, read_paths, window_of
from cairn.core.tasks.plan import (
    PLAN_PROMPT,
    is_simple,
    parse_plan,
    plan_schema,
    single_step,
)
from cairn.core.tasks.provenance import Provenance
from cairn.core.tasks.record import write_record
from cairn.core.tasks.run import TaskRun, new_task_id
from cairn.core.tasks.tool_calls import ToolCallHandler, decide_by_mode, first_block, overrides
from cairn.core.tasks.tools import Tool, ToolEnv, ToolOutcome, ToolSource, file_tools
from cairn.core.tasks.transcript import Transcript
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schema import HarnessSettings

__all__ = [
    "ANSWER_NOW",
    "ANSWER_RESERVE",
    "MAX_TOOL_ROUNDS",
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
Remember = Callable[[Transcript], Iterator[TaskEvent]]

ANSWER_NOW = (
    "Stop using tools now. Answer the task in plain words from the tool results above; say "
    "what you could not find."
)

MAX_TOOL_ROUNDS = 40
"""Model calls within one step, even with no guards configured: a step that keeps calling
tools past this ends, so no misbehaving model can run a task forever."""


_DEFAULT_OPTIONS = TaskOptions()

_CUT_SHORT = {
    "repetition": ("repetition", "the answer kept repeating itself, so the model was stopped"),
    "length": ("token limit", "the answer reached the step's token limit and was cut short"),
}
"""Answers that ended before the model finished: the step keeps what it has, and says so."""


def _window_full(stop: RoutingStopped) -> bool:
    """Whether every model was passed over only because the prompt no longer fits."""
    passed = stop.decision.passed_over
    return bool(passed) and all(
        "context_too_long" in p.reason or "too small for the" in p.reason for p in passed
    )


class _StopTask(Exception):
    def __init__(self, event: TaskFailed) -> None:
        self.event = event


class TaskRunner:
    """Runs tasks. Holds configuration only: each `run` keeps its state in a `TaskRun`."""

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
        sources: Sequence[ToolSource] = (),
    ) -> None:
        self.model = model
        self.dispatcher = dispatcher
        self.calls = ToolCallHandler(
            model,
            dispatcher,
            tools if tools is not None else file_tools(),
            guards=guards,
            risk=risk,
            queue=queue,
            sources=sources,
        )
        self.recall = recall
        self.task = task_id or new_task_id()
        self._ids_lock = threading.Lock()
        self._started = False
        self.write_record = write_record
        self.remember = remember

    # --- the task -----------------------------------------------------------------------

    def run(
        self,
        request: str,
        options: TaskOptions = _DEFAULT_OPTIONS,
        cancel: CancelToken | None = None,
        *,
        task_id: str | None = None,
    ) -> Iterator[TaskEvent]:
        """Run one task, as events. Whatever goes wrong inside ends it with `TaskFailed`
        (or `TaskCancelled`): a front end never sees a traceback."""
        task = task_id or self._next_task_id()
        yield TaskStarted(task, request, options.space, options.skill, options.operator)
        try:
            yield from self._run(task, request, options, cancel or CancelToken())
        except Exception as exc:  # the last line of defence: a clear failure, never a crash
            reason = str(exc) or type(exc).__name__
            kind = "sensitivity" if type(exc).__name__ == "SensitivityBreach" else "internal"
            if not isinstance(exc, CairnError):
                reason = f"{type(exc).__name__}: {reason}"
            yield TaskFailed(task, reason, kind)

    def _next_task_id(self) -> str:
        """The runner's own id for its first run (the one its budget guard was built for);
        a fresh one for every later run, so two runs never share a record or a trace."""
        with self._ids_lock:
            first = not self._started
            self._started = True
        return self.task if first else new_task_id()

    def _run(
        self, task: str, request: str, options: TaskOptions, cancel: CancelToken
    ) -> Iterator[TaskEvent]:
        provenance = Provenance(self.model.workspace, options.space)
        # One tool environment per run: it remembers what the task read, so a write back to
        # a file someone edited meanwhile is refused as a conflict.
        env = ToolEnv(self.model, options.space, provenance=provenance, cancel=cancel)
        run = TaskRun(task, request, options, cancel, env, provenance)
        for path in context_files(self.model.workspace, options):
            self._note_read(run, path)
        budget = self._harness.recall_tokens
        recalled = tuple(self.recall(request, options.space, budget)) if self.recall else ()
        run.recalled = recalled
        for path, _ in recalled:
            self._note_read(run, path)
        if recalled:
            yield MemoryRecalled(recalled)
        results: list[tuple[PlannedStep, str]] = []
        state = run.state
        try:
            plan = yield from self._plan(run)
            yield PlanMade(plan)
            yield from self._approve_plan(run, plan)
            for index, planned in enumerate(plan.steps, 1):
                block = first_block(self.calls.guards, lambda g: g.before_step(state))
                if block is not None:
                    yield GuardStopped(block.guard, block.reason)
                    raise _StopTask(TaskFailed(task, block.reason, "guard"))  # noqa: TRY301
                state.new_step(index)
                yield StepStarted(index, planned)
                text, calls = yield from self._step(run, index, planned, plan=plan, results=results)
                results.append((planned, text))
                yield StepFinished(index, text, calls)
        except TaskCancelledError:
            yield TaskCancelled(task)
            return
        except _StopTask as stop:
            yield stop.event
            return
        except RoutingStopped as stop:
            yield TaskFailed(task, f"no model may run this step: {stop}", "routing")
            return
        except BudgetPaused as pause:
            yield TaskFailed(task, f"stopped before the call: {pause}", "budget")
            return
        except EngineError as error:
            yield TaskFailed(
                task,
                f"{error.model or 'model'}: {error.kind}: {error}",
                "context" if error.kind == "context_too_long" else "engine",
            )
            return
        answer = results[-1][1] if results else ""
        totals = run.totals
        record = (
            write_record(
                self.model,
                task,
                request,
                space=provenance.home(),
                plan=plan,
                results=results,
                totals=totals,
                sensitive=provenance.sensitive,
            )
            if self.write_record
            else None
        )
        if self.remember is not None:
            yield from self._remember(run, answer, results, record=record)
        yield TaskFinished(
            task, answer, totals.input_tokens, totals.output_tokens, totals.cost_usd, record
        )

    def _remember(
        self,
        run: TaskRun,
        answer: str,
        results: list[tuple[PlannedStep, str]],
        *,
        record: str | None,
    ) -> Iterator[TaskEvent]:
        """The memory step; a failure there never undoes a finished task."""
        assert self.remember is not None
        transcript = Transcript(
            task=run.task,
            request=run.request,
            answer=answer,
            steps=tuple(text for _, text in results[:-1]),
            proposals=tuple(run.proposals),
            user_answers=tuple(run.answers),
            space=run.options.space,
            sensitive_sources=run.provenance.carried(),
            record=record,
            provenance=run.provenance,
        )
        try:
            for event in self.remember(transcript):
                run.observe(event)
                yield event
        except Exception as exc:
            yield MemorySkipped("(the memory step)", f"failed: {exc}")

    def _note_read(self, run: TaskRun, path: str) -> None:
        """A file's content entered the task: its sensitivity and scope come along."""
        run.provenance.note_stored(self.model.store, path)

    # --- planning -----------------------------------------------------------------------

    def _plan(self, run: TaskRun) -> Generator[TaskEvent, None, Plan]:
        options, request = run.options, run.request
        if options.plan == "never" or (
            options.plan == "auto" and is_simple(request, skill=options.skill)
        ):
            return single_step(request)
        parts = self._parts(
            run,
            PlannedStep("Plan", "plan", PLAN_PROMPT.format(max_steps=self._harness.plan_steps)),
            history=(),
        )
        text = ""
        step = self._routing_step(run, "Plan the task", "plan", parts, ())

        def build(engine: ChatEngine) -> ChatRequest:
            assembled = self._fit(run, engine, parts, ())
            return ChatRequest(
                assembled.messages,
                json_schema=plan_schema(self._harness.plan_steps),
                max_tokens=self._token_limit("plan"),
                prompt_tokens=assembled.tokens,
            )

        for event in self._dispatch(run, step, build, index=0):
            if isinstance(event, TextDelta):
                text += event.text
            elif not isinstance(event, ToolCallRequested):  # a plan offers no tools
                yield event
        plan, problem = parse_plan(text, request, self._harness.plan_steps)
        return plan if problem is None else replace(plan, fast_path=False)

    def _approve_plan(self, run: TaskRun, plan: Plan) -> Generator[TaskEvent, None, None]:
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
        approved, by = yield from decide_by_mode(
            run, self.calls.queue, request, PlanApprovalNeeded(plan, request)
        )
        if not approved:
            raise _StopTask(TaskFailed(run.task, f"the plan was not approved ({by})", "plan"))

    # --- one step -----------------------------------------------------------------------

    def _step(
        self,
        run: TaskRun,
        index: int,
        planned: PlannedStep,
        *,
        plan: Plan,
        results: list[tuple[PlannedStep, str]],
    ) -> Generator[TaskEvent, None, tuple[str, int]]:
        parts = self._parts(
            run, planned, history=tuple(results), total=len(plan.steps), index=index
        )
        state = run.state
        turns: list[Message] = []
        limit = run.options.max_tokens or self._token_limit(planned.kind)
        calls_made = 0
        text = ""
        while True:
            block = first_block(self.calls.guards, lambda g: g.before_model(state))
            if block is not None:
                yield GuardStopped(block.guard, block.reason)
                return text or f"(stopped: {block.reason})", calls_made
            if state.tool_rounds >= MAX_TOOL_ROUNDS:
                reason = f"{MAX_TOOL_ROUNDS} model calls in one step: Cairn's built-in limit"
                yield GuardStopped("tool rounds", reason)
                return text or f"(stopped: {reason})", calls_made
            state.tool_rounds += 1
            # Recomputed each round: a file the step just wrote can be read in the next one.
            specs = self.calls.specs(run.options.space, run.options.automation)
            step = self._routing_step(run, planned.instruction, planned.kind, parts, tuple(turns))
            frozen_turns = tuple(turns)

            def build(
                engine: ChatEngine,
                turns_now: tuple[Message, ...] = frozen_turns,
                offered: tuple[ToolSpec, ...] = specs,
            ) -> ChatRequest:
                assembled = self._fit(run, engine, parts, turns_now, limit, offered)
                return ChatRequest(
                    assembled.messages,
                    tools=offered,
                    max_tokens=limit,
                    prompt_tokens=assembled.tokens,
                )

            text_parts: list[str] = []
            calls: list[ToolCall] = []
            try:
                for event in self._dispatch(run, step, build, index=index):
                    if isinstance(event, TextDelta):
                        text_parts.append(event.text)
                        yield event
                    elif isinstance(event, ToolCallRequested):
                        calls.append(event.call)
                    else:
                        yield event
            except RoutingStopped as stop:
                if not turns or not _window_full(stop):
                    raise
                # This step's own tool traffic filled every window: end the step with what
                # it has rather than failing the whole task.
                reason = "the step's tool calls and results filled the model's window"
                yield GuardStopped("context budget", reason)
                return text or f"(stopped: {reason})", calls_made
            text = "".join(text_parts).strip()
            if not calls:
                return text, calls_made
            turns.append(Message("assistant", text, tool_calls=tuple(calls)))
            for call in calls:
                calls_made += 1
                outcome, block = yield from self.calls.call(run, call)
                if outcome.source is not None:
                    # A connector's text reaches the model whether it succeeded or not (a
                    # failure can quote the server's data): its scope counts either way.
                    run.provenance.note_source(*outcome.source)
                if outcome.ok:
                    self._note_outcome(run, call.name, outcome)
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
                        raise _StopTask(TaskFailed(run.task, block.reason, "guard"))
                    if block.scope == "step":
                        if not text and self._harness.answer_after_guard:
                            text = yield from self._answer_now(run, planned, parts, turns, index)
                        return text or f"(stopped: {block.reason})", calls_made

    def _answer_now(
        self,
        run: TaskRun,
        planned: PlannedStep,
        parts: Sequence[Part],
        turns: list[Message],
        index: int,
    ) -> Generator[TaskEvent, None, str]:
        """A guard ended the step before the model said anything (it kept repeating a call,
        say — small models do): one last call with no tools, so the user gets an answer
        from what the step's tools already returned instead of nothing."""
        if run.cancel.cancelled or not turns:
            return ""
        # The request stays the same shape (tools offered, so a provider accepts the calls in
        # the history) but the model must answer; the note goes at the end of the last
        # turn, as templates refuse two user turns in a row.
        last = turns[-1]
        final = (*turns[:-1], replace(last, content=f"{last.content}\n\n{ANSWER_NOW}"))
        step = self._routing_step(run, planned.instruction, planned.kind, parts, final)
        specs = self.calls.specs(run.options.space, run.options.automation)

        def build(engine: ChatEngine) -> ChatRequest:
            limit = run.options.max_tokens or self._token_limit(planned.kind)
            assembled = self._fit(run, engine, parts, final, limit, specs)
            return ChatRequest(
                assembled.messages,
                tools=specs,
                tool_choice="none",
                max_tokens=limit,
                prompt_tokens=assembled.tokens,
            )

        said: list[str] = []
        try:
            for event in self._dispatch(run, step, build, index=index):
                if isinstance(event, TextDelta):
                    said.append(event.text)
                    yield event
                elif not isinstance(event, ToolCallRequested):
                    yield event
        except (RoutingStopped, EngineError):
            return ""  # no model can answer now: the step ends as the guard said
        return "".join(said).strip()

    @property
    def _harness(self) -> HarnessSettings:
        """agents.md's `harness:` settings, as the router holds them now."""
        return self.dispatcher.router.policy.harness

    def _token_limit(self, kind: str) -> int:
        """agents.md's output limit for calls of `kind` (`token_limits:`, else the default)."""
        return self.dispatcher.router.policy.token_limit(kind)

    def _note_outcome(self, run: TaskRun, tool: str, outcome: ToolOutcome) -> None:
        for path in read_paths(tool, outcome):
            self._note_read(run, path)

    def _dispatch(
        self,
        run: TaskRun,
        step: Step,
        build: Callable[[ChatEngine], ChatRequest],
        *,
        index: int,
    ) -> Iterator[TaskEvent | ToolCallRequested]:
        step_overrides = overrides(self.model, run.options)
        cancel = run.cancel
        while True:
            try:
                for event in self.dispatcher.run(step, build, step_overrides, cancel):
                    if cancel.cancelled:
                        raise TaskCancelledError
                    run.observe(event)
                    if isinstance(event, Routed):
                        yield event
                        if run.last_context is not None and event.decision.chosen:
                            ctx = run.last_context
                            yield ContextBuilt(
                                index, event.decision.chosen, ctx.parts, ctx.trimmed, ctx.tokens
                            )
                    elif isinstance(event, Usage):
                        yield event
                    elif isinstance(event, Finished):
                        if event.reason == "cancelled":
                            raise TaskCancelledError
                        if event.reason in _CUT_SHORT:
                            yield GuardStopped(*_CUT_SHORT[event.reason])
                    else:
                        yield event
                if cancel.cancelled:
                    raise TaskCancelledError
                return
            except BudgetPaused as pause:
                if run.options.approvals != "ask" or self.dispatcher.guard is None:
                    raise
                request = ApprovalRequest(
                    tool="budget", arguments={}, path=None, reason=str(pause), preview=str(pause)
                )
                approved, _ = yield from decide_by_mode(
                    run, self.calls.queue, request, ApprovalNeeded(request), budget=True
                )
                if not approved or pause.verdict.scope is None:
                    raise
                self.dispatcher.guard.continue_past(pause.verdict.scope)

    # --- context ------------------------------------------------------------------------

    def _routing_step(
        self,
        run: TaskRun,
        description: str,
        kind: str,
        parts: Sequence[Part],
        turns: tuple[Message, ...],
    ) -> Step:
        return run.provenance.step(
            description,
            kind,
            (*(p.text for p in parts), *(m.content for m in turns)),
            skill=run.options.skill,
            automation=run.options.automation,
        )

    def _parts(
        self,
        run: TaskRun,
        planned: PlannedStep,
        *,
        history: tuple[tuple[PlannedStep, str], ...],
        total: int = 1,
        index: int = 1,
    ) -> list[Part]:
        options = run.options
        return build_parts(
            self.model.workspace,
            run.request,
            planned,
            space=options.space,
            operator=options.operator,
            skill=options.skill,
            recalled=run.recalled,
            history=history,
            total=total,
            index=index,
        )

    def _fit(  # noqa: PLR0917
        self,
        run: TaskRun,
        engine: ChatEngine,
        parts: Sequence[Part],
        turns: tuple[Message, ...],
        reserve: int = ANSWER_RESERVE,
        tools: tuple[ToolSpec, ...] = (),
    ) -> Assembled:
        run.state.window = window_of(engine)  # for the context-budget guard
        assembled = fit_to(engine, parts, turns, reserve, tools)
        run.last_context = assembled
        return assembled
