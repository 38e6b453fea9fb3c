"""The task loop: a request becomes a plan and steps; steps call tools; every move is an event.

`TaskRunner.run` is a generator. Front ends consume it: the CLI prints events, the
desktop shell turns them into Qt signals on a worker thread, the scheduler journals
them. It imports no UI and no network library; models are reached only through the
dispatcher (router + engines), files only through the workspace model.

Content read from files and tools reaches the model labelled as data (`as_data`), and
no tool with side effects runs without passing the permission gate: what a file says
can change what the model asks for, never what it is allowed to do.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from cairn.core.approvals import ApprovalRequest, check_permission, tighten
from cairn.core.budget import BudgetPaused
from cairn.core.context import Assembled, Part, as_data, fit
from cairn.core.dispatch import Dispatcher, FellBack, Routed, RoutingStopped
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
    ApprovalDecided,
    ApprovalNeeded,
    GuardStopped,
    MemoryProposed,
    MemoryRecalled,
    MemorySkipped,
    Plan,
    PlanApprovalNeeded,
    PlanMade,
    PlannedStep,
    QuestionAsked,
    StepFinished,
    StepStarted,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    ToolCalled,
    ToolResult,
)
from cairn.core.guards import Block, Guard, LoopState
from cairn.core.loader import WorkspaceModel
from cairn.core.memory_step import Transcript
from cairn.core.plan import PLAN_PROMPT, PLAN_SCHEMA, is_simple, parse_plan, single_step
from cairn.core.routing import Overrides, Step
from cairn.core.steps import file_sensitivity
from cairn.core.tools import Tool, ToolEnv, ToolOutcome, file_tools, validate_arguments

ApprovalMode = Literal["ask", "yes", "no", "queue"]
Recall = Callable[[str, str | None, int], Sequence[tuple[str, str]]]
"""(query, space, token budget) → recalled (source, text) pairs. The memory feature fills it."""
Queue = Callable[[ApprovalRequest, str], object]
Remember = Callable[[Transcript], Iterator[object]]
RiskJudge = Callable[[str, Mapping[str, Any], str | None], str]
"""(tool, arguments, path) → "low" or "high". May only tighten a rule."""

ANSWER_RESERVE = 1024
_HIT = re.compile(r"^([^\s:][^:\n]*):\d+:", re.MULTILINE)  # search results: path:line: text
_MEMORY_SOURCES = frozenset({"user-said", "user-confirmed", "tool-output", "inference"})


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


_SPECIAL_TOOLS = (
    ToolSpec(
        "consult_operator",
        "Ask a reviewer with the named operator's lens to review a draft. Returns the review.",
        {
            "type": "object",
            "properties": {"operator": {"type": "string"}, "draft": {"type": "string"}},
            "required": ["operator", "draft"],
        },
    ),
    ToolSpec(
        "propose_memory",
        "Propose something worth remembering for future tasks.",
        {
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "source": {
                    "type": "string",
                    "enum": ["user-said", "user-confirmed", "tool-output", "inference"],
                },
            },
            "required": ["text"],
        },
    ),
    ToolSpec(
        "ask_user",
        "Ask the user a question and wait for the answer.",
        {
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"],
        },
    ),
)


@dataclass
class _Totals:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    models: list[str] = field(default_factory=list)

    def add(self, usage: Usage) -> None:
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd += usage.cost_usd or 0.0


class TaskCancelledError(Exception):
    pass


class _StopTask(Exception):
    def __init__(self, event: TaskFailed) -> None:
        self.event = event


class TaskRunner:
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
        self._totals: _Totals | None = None
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
        totals = _Totals()
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
        record = self._write_record(request, options, plan, results, totals)
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
        totals: _Totals,
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

    def _first_block(self, hook: Callable[[Guard], Block | None]) -> Block | None:
        for guard in self.guards:
            block = hook(guard)
            if block is not None:
                return block
        return None

    # --- planning -----------------------------------------------------------------------

    def _plan(
        self, request: str, options: TaskOptions, totals: _Totals, cancel: CancelToken
    ) -> Generator[object, None, Plan]:
        if options.plan == "never" or (
            options.plan == "auto" and is_simple(request, skill=options.skill)
        ):
            return single_step(request)
        parts = self._parts(
            request,
            options,
            PlannedStep("Plan", "plan", PLAN_PROMPT.format(max_steps=6)),
            (),
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
        totals: _Totals,
        cancel: CancelToken,
    ) -> Generator[object, None, tuple[str, int]]:
        parts = self._parts(
            request,
            options,
            planned,
            tuple(results),
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
                    self._note_sources(call.name, outcome)
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
        totals: _Totals,
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

    # --- tools --------------------------------------------------------------------------

    def _tool_specs(self) -> tuple[ToolSpec, ...]:
        specs = [ToolSpec(t.name, t.description, t.parameters) for t in self.tools.values()]
        return (*specs, *_SPECIAL_TOOLS)

    def _call_tool(
        self, call: ToolCall, options: TaskOptions, state: LoopState, index: int
    ) -> Generator[object, None, tuple[ToolOutcome, Block | None]]:
        tool = self.tools.get(call.name)
        special = {s.name for s in _SPECIAL_TOOLS}
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
                    preview=_preview(call.arguments),
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
            spec = next(s for s in _SPECIAL_TOOLS if s.name == call.name)
            missing = [k for k in spec.parameters.get("required", []) if k not in call.arguments]
            return f"missing arguments: {', '.join(missing)}" if missing else None
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
            source = str(args.get("source") or "inference")
            if source not in _MEMORY_SOURCES:
                source = "inference"  # an unknown claim of provenance is not trusted
            proposal = MemoryProposed(str(args["text"]), options.space, source, self.task)
            self._proposals.append(proposal)
            yield proposal
            return ToolOutcome(True, "proposed; the memory step decides whether to keep it")
        if call.name == "ask_user":
            if options.approvals != "ask":
                return ToolOutcome(
                    False,
                    "no one is available to answer in this run; proceed "
                    "with your best judgement and say what you assumed",
                )
            question = QuestionAsked(str(args["question"]))
            yield question
            answer = question.answer.wait(0.2)
            while answer is None:
                if self._cancel.cancelled:
                    raise TaskCancelledError
                answer = question.answer.wait(0.2)
            if answer:
                self._answers.append(answer)
            return ToolOutcome(answer is not None, answer or "no answer")
        return (yield from self._consult(str(args["operator"]), str(args["draft"]), options))

    def _consult(
        self, name: str, draft: str, options: TaskOptions
    ) -> Generator[object, None, ToolOutcome]:
        operator = self.model.workspace.find_operator(name, options.space)
        if operator is None:
            known = ", ".join(self.model.workspace.operators_for(options.space)) or "none"
            return ToolOutcome(False, f"no operator '{name}'; operators: {known}")
        messages = (
            Message("system", f"You are a reviewer. {operator.lens}"),
            Message(
                "user",
                "Review this draft through your lens:\n\n"
                + as_data("the draft under review", draft),
            ),
        )
        step = Step(
            f"Review through {name}",
            kind="work",
            context=draft + operator.lens,
            space=options.space,
            space_scope=self._scope(options.space),
            sensitive_sources=tuple(self._sensitive.values()),
        )
        review = ""
        for event in self.dispatcher.run(
            step, ChatRequest(messages, max_tokens=600), self._overrides(options), self._cancel
        ):
            if isinstance(event, TextDelta):
                review += event.text
            elif isinstance(event, Usage):
                self._totals_add(event)
                yield event
            elif isinstance(event, Routed | FellBack):
                yield event
        return ToolOutcome(True, review.strip() or "(no comments)")

    def _totals_add(self, usage: Usage) -> None:
        if self._totals is not None:
            self._totals.add(usage)

    def _decide(
        self, request: ApprovalRequest, options: TaskOptions, event: object, budget: bool = False
    ) -> Generator[object, None, tuple[bool, str]]:
        mode = options.approvals
        if mode == "yes" and not budget:
            request.approve(by="--yes")
        elif mode in ("no", "yes"):
            request.deny(by="--no-approve" if mode == "no" else "--yes does not cover budgets")
        elif mode == "queue":
            if self.queue is not None:
                self.queue(request, self.task)
            request.deny(by="queued", why="queued for approval; a person will decide later")
        else:
            yield event
            while not request.wait(0.2):
                if self._cancel.cancelled:
                    request.deny(by="cancelled")
                    raise TaskCancelledError
        yield ApprovalDecided(
            request.id, request.approved, request.decided_by or "", request.why or ""
        )
        return request.approved, request.decided_by or ""

    # --- context ------------------------------------------------------------------------

    def _rules(self) -> Sequence[Any]:
        agents = self.model.workspace.agents
        return agents.policy.permissions if agents else ()

    def _scope(self, space: str | None) -> str | None:
        found = self.model.workspace.spaces.get(space) if space else None
        return found.scope if found else None

    def _overrides(self, options: TaskOptions) -> Overrides:
        workspace = self.model.workspace
        space = workspace.spaces.get(options.space) if options.space else None
        auto = workspace.automations.get(options.automation) if options.automation else None
        skill = workspace.find_skill(options.skill, options.space) if options.skill else None
        skill_routing = (skill.meta.model_extra or {}).get("routing") if skill else None
        return Overrides(
            automation=auto.meta.routing if auto else {},
            skill={str(k): str(v) for k, v in skill_routing.items()}
            if isinstance(skill_routing, Mapping)
            else {},
            space=space.meta.routing if space else {},
        )

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

    def _note_sources(self, tool: str, outcome: ToolOutcome) -> None:
        """Remember files whose content a tool put in front of the model, if sensitive."""
        paths = [outcome.path] if outcome.path else []
        if tool == "search":
            paths += [m.group(1) for m in _HIT.finditer(outcome.output)]
        workspace = self.model.workspace
        for path in dict.fromkeys(paths):
            if path not in self._sensitive:
                reason = file_sensitivity(workspace, path, self._peek(path))
                if reason is not None:
                    self._sensitive[path] = reason

    def _peek(self, path: str) -> str:
        try:
            return self.model.store.read(path, 4096).decode("utf-8", "replace")
        except Exception:
            return ""

    def _parts(
        self,
        request: str,
        options: TaskOptions,
        planned: PlannedStep,
        results: tuple[tuple[PlannedStep, str], ...],
        *,
        history: tuple[tuple[PlannedStep, str], ...],
        total: int = 1,
        index: int = 1,
    ) -> list[Part]:
        workspace = self.model.workspace
        parts: list[Part] = []
        if workspace.agents and workspace.agents.instructions.strip():
            parts.append(Part("agents", "", workspace.agents.instructions.strip()))
        if options.operator:
            operator = workspace.find_operator(options.operator, options.space)
            if operator is not None:
                parts.append(Part("operator", f"Lens: {operator.name}", operator.lens.strip()))
        space = workspace.spaces.get(options.space) if options.space else None
        if space is not None:
            parts.append(
                Part(
                    "space",
                    f"Space: {space.name} ({space.scope})",
                    space.body.strip(),
                    data_source=space.path,
                )
            )
        skills = workspace.skills_for(options.space)
        if skills:
            listing = "\n".join(f"{s.name}: {s.description}" for s in skills.values())
            parts.append(Part("skills", "Skills (load one with load_skill to read it)", listing))
        if self._recalled:
            recalled = self._recalled
            if recalled:
                text = "\n".join(f"- {t} ({src})" for src, t in recalled)
                parts.append(Part("memory", "Recalled memory", text, data_source="memory"))
        if history:
            done = "\n\n".join(f"Step {n} ({s.title}):\n{t}" for n, (s, t) in enumerate(history, 1))
            parts.append(
                Part("history", "Results of earlier steps", done, data_source="earlier steps")
            )
        task = f"Task: {request}"
        if total > 1 or planned.kind != "work" or planned.instruction != request:
            task += f"\n\nStep {index} of {total}: {planned.title}\n{planned.instruction}"
        if options.skill:
            skill = workspace.find_skill(options.skill, options.space)
            if skill is not None:
                task += f"\n\nFollow the skill '{skill.name}':\n{skill.body.strip()}"
        parts.append(Part("task", "", task))
        return parts

    def _fit(
        self,
        engine: ChatEngine,
        parts: Sequence[Part],
        turns: tuple[Message, ...],
        reserve: int = ANSWER_RESERVE,
        tools: tuple[ToolSpec, ...] = (),
    ) -> Assembled:
        window = engine.context_window or 8192
        if self._state is not None:
            self._state.window = window  # for the context-budget guard
        assembled = fit(
            parts,
            count=lambda messages: engine.count_tokens(messages, tools),
            window=window,
            reserve=min(reserve, window // 4),
            turns=turns,
            model=engine.name,
        )
        self._last_context = assembled
        return assembled

    # --- the record -----------------------------------------------------------------------

    def _write_record(
        self,
        request: str,
        options: TaskOptions,
        plan: Plan,
        results: list[tuple[PlannedStep, str]],
        totals: _Totals,
    ) -> str | None:
        if not self.write_record:
            return None
        folder = f"spaces/{options.space}/history" if options.space else "history"
        slug = re.sub(r"[^a-z0-9]+", "-", request.lower())[:40].strip("-") or "task"
        path = f"{folder}/{self.task}-{slug}.md"
        front = {
            "task": self.task,
            "request": request,
            "space": options.space,
            "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
            "models": sorted(set(totals.models)),
            "tokens": {"in": totals.input_tokens, "out": totals.output_tokens},
            "cost_usd": round(totals.cost_usd, 6),
        }
        lines = [
            "---",
            *(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in front.items()),
            "---",
            f"# {(request.splitlines() or ['Task'])[0][:100]}",
            "",
        ]
        if len(plan.steps) > 1:
            lines += (
                ["## Plan", ""]
                + [f"{n}. {s.title} ({s.kind})" for n, s in enumerate(plan.steps, 1)]
                + [""]
            )
        for n, (planned, text) in enumerate(results, 1):
            heading = "## Answer" if n == len(results) else f"## Step {n}: {planned.title}"
            lines += [heading, "", text or "(no text)", ""]
        try:
            self.model.write(path, "\n".join(lines), base_hash=None)
        except Exception:
            return None  # the trace still has everything; a record is a convenience
        return path


def _preview(arguments: Mapping[str, Any]) -> str:
    text = "\n".join(f"{k}: {v}" for k, v in arguments.items())
    lines = text.splitlines()
    return "\n".join(lines[:40]) + (f"\n… {len(lines) - 40} more lines" if len(lines) > 40 else "")


RISK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "risk": {"type": "string", "enum": ["low", "high"]},
        "reason": {"type": "string", "maxLength": 200},
    },
    "required": ["risk"],
}


def model_risk_judge(dispatcher: Dispatcher) -> RiskJudge:
    """A gate helper: a model (routed as kind `approval`, local by default) rates an allowed
    write as low or high risk. "high" turns allow into ask; any failure changes nothing."""

    def judge(tool: str, arguments: Mapping[str, Any], path: str | None) -> str:
        question = (
            f"A task wants to run the tool {tool} on {path or 'no file'}. Is it risky: "
            "destructive, hard to undo, touching important files, or sending data away? "
            "Answer with JSON.\n\n" + as_data("the tool call", _preview(arguments))
        )
        request = ChatRequest(
            (Message("user", question),), json_schema=RISK_SCHEMA, max_tokens=80, temperature=0.0
        )
        text = ""
        try:
            for event in dispatcher.run(
                Step("Judge a tool call's risk", kind="approval", context=question), request
            ):
                if isinstance(event, TextDelta):
                    text += event.text
            risk = json.loads(text, strict=False).get("risk")
        except (RoutingStopped, BudgetPaused, EngineError, ValueError, AttributeError):
            return "low"
        return "high" if risk == "high" else "low"

    return judge
