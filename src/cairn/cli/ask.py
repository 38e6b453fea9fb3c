"""`cairn ask`: stream one answer from a model, then a line of tokens, time and cost.

Without `--model` the question is routed like any step of kind `work` (or `--kind`):
the policy in agents.md picks the model, sensitive content stays local, budgets are
checked before the call, and the decision is shown. `--model` overrides the choice but
never sends a sensitive question to a cloud model.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cairn.core.budget import BudgetPaused
from cairn.core.dispatch import BudgetWarning, FellBack, Routed, RoutingStopped
from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineError,
    EngineEvent,
    Finished,
    Message,
    TextDelta,
)
from cairn.core.engine import Usage as UsageEvent
from cairn.core.routing import Router, Step
from cairn.core.workspace import Workspace


def _workspace(directory: str) -> tuple[Workspace | None, Path | None]:
    from cairn.core.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.starter import looks_like_workspace

    root = Path(directory).expanduser()
    if not root.is_dir() or not looks_like_workspace(root):
        return None, None
    return WorkspaceModel(LocalFileStore(root)).load(), root


def run_ask(args: argparse.Namespace) -> int:
    from cairn.infra.redaction import install_log_redaction

    install_log_redaction()
    workspace, root = _workspace(args.workspace)
    agents = workspace.agents if workspace else None
    messages = [Message("user", args.prompt)]
    if agents and agents.instructions.strip() and not args.no_instructions:
        messages.insert(0, Message("system", agents.instructions))
    request = ChatRequest(tuple(messages), max_tokens=args.max_tokens)
    space = workspace.spaces.get(args.space) if workspace and args.space else None
    step = Step(
        args.prompt,
        kind=args.kind,
        context="\n".join(m.content for m in messages),
        space=args.space,
        space_scope=space.scope if space else None,
    )
    cancel = CancelToken()
    started = time.perf_counter()
    try:
        if args.model or agents is None or root is None:
            events, name, local = _direct(
                args, agents, root, step=step, request=request, cancel=cancel
            )
        else:
            events, name, local = _routed(agents.policy, root, step, request, cancel), "", False
        return _print(events, name, local, started)
    except KeyboardInterrupt:
        cancel.cancel()
        print("\n[cancelled]", file=sys.stderr)
        return 130


def _direct(
    args: argparse.Namespace,
    agents: object,
    root: Path | None,
    *,
    step: Step,
    request: ChatRequest,
    cancel: CancelToken,
) -> tuple[Iterator[EngineEvent | object], str, bool]:
    from cairn.core.schema import AgentsPolicy
    from cairn.runtime import engine_for

    policy = getattr(agents, "policy", None)
    engine = engine_for(args.model, policy if isinstance(policy, AgentsPolicy) else None, root)
    sensitivity = Router(AgentsPolicy()).assess(step)
    if sensitivity.sensitive and not engine.is_local:
        reasons = "; ".join(sensitivity.reasons)
        raise SystemExit(
            f"cairn: not sent: {engine.name} is a cloud model and this question is sensitive "
            f"({reasons}). Ask a local model instead (--model with a GGUF file or a local "
            "model from agents.md)."
        )
    return engine.stream(request, cancel), engine.name, engine.is_local


def _routed(
    policy: object, root: Path, step: Step, request: ChatRequest, cancel: CancelToken
) -> Iterator[object]:
    from cairn.core.schema import AgentsPolicy
    from cairn.infra.trace import TraceWriter
    from cairn.runtime import build_dispatcher

    assert isinstance(policy, AgentsPolicy)
    task = f"ask-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    dispatcher = build_dispatcher(policy, root, task=task)
    trace = TraceWriter(root, task)
    trace.write("task_started", request=step.description, kind=step.kind, space=step.space)
    while True:
        try:
            for event in dispatcher.run(step, request, cancel=cancel):
                trace.record(event)
                yield event
            trace.close()
            return
        except (RoutingStopped, EngineError) as error:
            trace.failed(error)
            trace.close()
            raise
        except BudgetPaused as pause:
            trace.failed(pause)
            print(f"\ncairn: paused: {pause}", file=sys.stderr)
            if not (sys.stdin.isatty() and input("continue? [y/N] ").strip().lower() == "y"):
                raise
            assert dispatcher.guard is not None and pause.verdict.scope is not None
            dispatcher.guard.continue_past(pause.verdict.scope)


def _print(events: Iterator[object], name: str, local: bool, started: float) -> int:
    usage: UsageEvent | None = None
    reason = "stop"
    try:
        for event in events:
            if isinstance(event, TextDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, UsageEvent):
                usage = event
            elif isinstance(event, Finished):
                reason = event.reason
            elif isinstance(event, Routed) and event.decision.chosen:
                name, local = event.decision.chosen, bool(event.decision.chosen_is_local)
                print(f"→ {_decision_line(event)}", file=sys.stderr)
            elif isinstance(event, FellBack):
                print(
                    f"  {event.model} failed ({event.kind}); trying the next model", file=sys.stderr
                )
            elif isinstance(event, BudgetWarning):
                print(f"  budget: {event.verdict.reason}", file=sys.stderr)
    except RoutingStopped as stop:
        print(f"cairn: no model may answer this:\n{stop.decision.explain()}", file=sys.stderr)
        return 1
    except BudgetPaused as pause:
        print(f"cairn: stopped before the call: {pause}", file=sys.stderr)
        return 1
    except EngineError as exc:
        print(f"\ncairn: {exc.model or name}: {exc.kind}: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print()
    print(_summary(name, local, usage, elapsed, reason), file=sys.stderr)
    return 0


def _decision_line(event: Routed) -> str:
    decision = event.decision
    where = "local" if decision.chosen_is_local else "cloud"
    why = decision.rule
    if decision.sensitivity.sensitive:
        why += "; sensitive: " + "; ".join(decision.sensitivity.reasons)
    return f"{decision.chosen} ({where}) — {why}"


def _summary(name: str, local: bool, usage: UsageEvent | None, elapsed: float, reason: str) -> str:
    where = "local" if local else "cloud"
    if usage is None:
        return f"— {name} ({where}) · {elapsed:.2f} s · {reason}"
    cost = "cost unknown" if usage.cost_usd is None else f"${usage.cost_usd:.6f}"
    cached = f" ({usage.cached_input_tokens} reused)" if usage.cached_input_tokens else ""
    ended = "" if reason == "stop" else f" · stopped: {reason}"
    return (
        f"— {name} ({where}) · {usage.input_tokens} tokens in{cached}, "
        f"{usage.output_tokens} out · {elapsed:.2f} s · {cost}{ended}"
    )
