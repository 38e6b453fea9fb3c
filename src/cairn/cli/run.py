"""`cairn run`: a task, headless, streamed to the terminal; `cairn trace`: what tasks did."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from cairn.core.errors import CairnError, WorkspaceNotFoundError


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ask_terminal(prompt: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{prompt} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run_run(args: argparse.Namespace) -> int:
    from cairn.core.engine import CancelToken
    from cairn.core.tasks.loop import ApprovalMode, TaskOptions
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.redaction import install_log_redaction
    from cairn.infra.starter import looks_like_workspace
    from cairn.infra.trace import TraceWriter
    from cairn.runtime import build_runner

    install_log_redaction()
    root = Path(args.workspace).expanduser().resolve()
    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(f"{root} is not a Cairn workspace; see `cairn init`")
    model = WorkspaceModel(LocalFileStore(root))
    workspace = model.load()
    for name, found in (
        ("space", args.space and args.space in workspace.spaces),
        ("skill", args.skill and workspace.find_skill(args.skill, args.space)),
        ("operator", args.operator and workspace.find_operator(args.operator, args.space)),
    ):
        if getattr(args, name) and not found:
            raise CairnError(f"no {name} '{getattr(args, name)}' in this workspace")
    runner, _ = build_runner(model, root, model_override=args.model)
    approvals: ApprovalMode = "ask" if sys.stdin.isatty() else "queue"
    if args.yes or args.no_approve:
        approvals = "yes" if args.yes else "no"
    options = TaskOptions(
        space=args.space,
        skill=args.skill,
        operator=args.operator,
        approvals=approvals,
        plan=args.plan,
    )
    trace = TraceWriter(root, runner.task)
    trace.open()  # an unwritable `.cairn/` fails here, clearly, before anything runs
    cancel = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.cancelled:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        cancel.cancel()
        _err("\n[cancelling… press Ctrl-C again to stop at once]")

    signal.signal(signal.SIGINT, interrupt)
    try:
        return _consume(runner.run(args.request, options, cancel), trace, args.json, root)
    finally:
        signal.signal(signal.SIGINT, previous)
        trace.close()


def _consume(events: Any, trace: Any, as_json: bool, root: Path) -> int:
    from cairn.core.engine import TextDelta
    from cairn.core.routing.dispatch import BudgetWarning, FellBack, Routed
    from cairn.core.tasks.events import (
        ApprovalDecided,
        ApprovalNeeded,
        GuardStopped,
        MemoryProposed,
        MemoryRecalled,
        MemorySkipped,
        MemoryStaged,
        MemoryWritten,
        PlanApprovalNeeded,
        PlanMade,
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
    from cairn.infra.trace import EVENTS_VERSION, event_data, redacted_line

    code = 0
    for event in events:
        trace.record(event)
        if isinstance(event, TaskFailed | TaskCancelled):
            code = 1 if isinstance(event, TaskFailed) else 130
        if as_json:
            data = event_data(event)
            if data is not None:
                print(redacted_line({"v": EVENTS_VERSION, **data}), flush=True)
            if isinstance(event, ApprovalNeeded | PlanApprovalNeeded | QuestionAsked):
                _answer_headless(event)
            continue
        if isinstance(event, TextDelta):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, TaskStarted):
            _err(f"▶ task {event.task}" + (f" in space {event.space}" if event.space else ""))
        elif isinstance(event, PlanMade) and len(event.plan.steps) > 1:
            _err("plan:")
            for n, step in enumerate(event.plan.steps, 1):
                _err(f"  {n}. {step.title} ({step.kind})")
        elif isinstance(event, PlanApprovalNeeded):
            _err(event.request.preview)
            answer = _ask_terminal("approve this plan?")
            (event.request.approve if answer else event.request.deny)()
        elif isinstance(event, StepStarted):
            _err(f"── step {event.index}: {event.step.title} ({event.step.kind})")
        elif isinstance(event, Routed) and event.decision.chosen:
            decision = event.decision
            where = "local" if decision.chosen_is_local else "cloud"
            why = (
                "; sensitive: " + "; ".join(decision.sensitivity.reasons)
                if decision.sensitivity.sensitive
                else ""
            )
            _err(f"   → {decision.chosen} ({where}) — {decision.rule}{why}")
        elif isinstance(event, FellBack):
            _err(f"   {event.model} failed ({event.kind}: {event.message}); trying the next model")
        elif isinstance(event, BudgetWarning):
            _err(f"   budget: {event.verdict.reason}")
        elif isinstance(event, ToolCalled):
            args = ", ".join(f"{k}={str(v)[:40]!r}" for k, v in event.arguments.items())
            _err(f"\n   ⚙ {event.name}({args}) — {event.permission}")
        elif isinstance(event, ApprovalNeeded):
            request = event.request
            _err(f"   approval needed: {request.tool} {request.path or ''} — {request.reason}")
            if request.preview:
                _err("     " + request.preview.replace("\n", "\n     "))
            answer = _ask_terminal("   allow it?")
            (request.approve if answer else request.deny)()
        elif isinstance(event, ApprovalDecided):
            _err(f"   {'approved' if event.approved else 'denied'} ({event.by})")
        elif isinstance(event, ToolResult):
            first = (event.output.splitlines() or [""])[0][:100]
            _err(f"   {'✓' if event.ok else '✗'} {event.name}: {first}")
        elif isinstance(event, QuestionAsked):
            _err(f"   question: {event.question}")
            try:
                event.answer.give(input("   answer: ") if sys.stdin.isatty() else "")
            except EOFError:
                event.answer.give("")
        elif isinstance(event, MemoryProposed):
            _err(f"   ✎ memory proposed ({event.source}): {event.text}")
        elif isinstance(event, MemoryRecalled):
            _err(
                f"   ↺ recalled {len(event.items)} memories: "
                + "; ".join(path for path, _ in event.items)
            )
        elif isinstance(event, MemoryWritten):
            _err(f"   ✎ remembered in {event.space} ({event.tier}): {event.text}")
        elif isinstance(event, MemoryStaged):
            _err(
                f"   ✎ staged for you to decide ({event.reason}): {event.text} "
                f"— `cairn memory approve {event.id}`"
            )
        elif isinstance(event, MemorySkipped):
            _err(f"   ✎ not kept ({event.reason}): {event.text}")
        elif isinstance(event, GuardStopped):
            _err(f"   ■ {event.guard}: {event.reason}")
        elif isinstance(event, StepFinished):
            print()
        elif isinstance(event, TaskFinished):
            _err(
                f"✔ done · {event.input_tokens:,} tokens in, {event.output_tokens:,} out · "
                f"${event.cost_usd:.6f}"
                + (f" · record: {event.record}" if event.record else "")
                + f" · trace: {trace.path.relative_to(root)}"
            )
        elif isinstance(event, TaskFailed):
            _err(f"✘ failed ({event.kind}): {event.reason}")
        elif isinstance(event, TaskCancelled):
            _err(f"✘ cancelled: {event.reason}")
    return code


def _answer_headless(event: Any) -> None:
    """With --json nobody reads a prompt: questions get no answer and approvals are
    denied (a headless run queues them instead when stdin is not a terminal)."""
    if hasattr(event, "answer"):
        event.answer.give("")
    else:
        event.request.deny(by="--json (no one to ask)")


def run_trace(args: argparse.Namespace) -> int:
    from cairn.infra.trace import find_trace, list_traces, read_trace

    root = Path(args.workspace).expanduser()
    if args.trace_command == "list":
        traces = list_traces(root)
        for trace in traces:
            shown = f"${trace.cost_usd:.6f}" if trace.cost_usd is not None else ""
            print(f"{trace.task}  {trace.status:<9} {shown:>10}  {trace.request[:70]}")
        if not traces:
            print("no traces yet")
        return 0
    for event in read_trace(find_trace(root, args.id)):
        name = event.pop("event", "?")
        event.pop("task", None)
        at = str(event.pop("at", ""))[11:19]
        print(f"{at} {name:<16} {json.dumps(event, ensure_ascii=False)[:300]}")
    return 0
