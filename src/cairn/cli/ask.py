"""`cairn ask`: stream one answer from a model, then a line of tokens, time and cost.

The question is routed like any step of kind `work` (or `--kind`): the policy in
agents.md picks the model, sensitive content stays local, budgets are checked before the
call, the spend goes into the ledger, and the decision is shown and traced. `--model`
overrides the choice the way `cairn run --model` does: through the same router, budget
guard and ledger, and never sending a sensitive question to a cloud model.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineError,
    Finished,
    Message,
    TextDelta,
)
from cairn.core.engine import Usage as UsageEvent
from cairn.core.errors import CairnError
from cairn.core.ports import ChatEngine
from cairn.core.routing.budget import BudgetPaused
from cairn.core.routing.dispatch import BudgetWarning, FellBack, Routed, RoutingStopped
from cairn.core.routing.router import Step
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.schema import AgentsPolicy

_EMPTY = Workspace(None, {}, {}, {}, {}, ())


def _workspace(directory: str) -> tuple[Workspace | None, Path | None]:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.starter import looks_like_workspace

    root = Path(directory).expanduser()
    if not root.is_dir() or not looks_like_workspace(root):
        return None, None
    return WorkspaceModel(LocalFileStore(root)).load(), root


def run_ask(args: argparse.Namespace) -> int:
    from cairn.core.tasks.parts import workspace_instructions
    from cairn.core.tasks.provenance import Provenance
    from cairn.infra.redaction import install_log_redaction

    install_log_redaction()
    workspace, root = _workspace(args.workspace)
    agents = workspace.agents if workspace else None
    messages = [Message("user", args.prompt)]
    instructions = workspace_instructions(workspace) if workspace else ""
    if instructions and not args.no_instructions:
        messages.insert(0, Message("system", instructions))
    request = _fitted(tuple(messages), args.max_tokens)
    if args.space and (workspace is None or args.space not in workspace.spaces):
        raise CairnError(f"no space '{args.space}' in this workspace")
    # The question's routing step comes from its content, as every model call's does.
    provenance = Provenance(workspace or _EMPTY, args.space)
    if workspace is not None and root is not None:
        from cairn.core.tasks.options import TaskOptions
        from cairn.core.tasks.parts import context_files

        store = _store(root)
        # Only the instructions travel with a question (the space's scope applies through
        # `Provenance.space`): their marks, if any, come along.
        for path in context_files(workspace, TaskOptions()):
            provenance.note_stored(store, path)
    step = provenance.step(args.prompt, args.kind, tuple(m.content for m in messages))
    cancel = CancelToken()
    started = time.perf_counter()
    try:
        policy = _policy(args, agents.policy if agents else None, root)
        events = _routed(policy, root, step, request, cancel)
        return _print(events, "", False, started)
    except KeyboardInterrupt:
        cancel.cancel()
        print("\n[cancelled]", file=sys.stderr)
        return 130


def _fitted(
    messages: tuple[Message, ...], max_tokens: int | None
) -> Callable[[ChatEngine], ChatRequest]:
    """The request for whichever model the router picks, fitted to its window as a task's
    steps are (`cairn.core.tasks.parts.fit_to`): the answer's room is at most a quarter of
    a small window, and a prompt that cannot fit is a clear `context_too_long` (the router
    then tries the next model) rather than a failure inside the model."""
    from cairn.core.tasks.context import Part
    from cairn.core.tasks.options import ANSWER_RESERVE
    from cairn.core.tasks.parts import fit_to

    parts = [Part("agents", "", m.content) for m in messages if m.role == "system"]
    parts += [Part("task", "", m.content) for m in messages if m.role == "user"]

    def build(engine: ChatEngine) -> ChatRequest:
        if engine.context_window is None:  # a window Cairn does not know: send as it is
            return ChatRequest(messages, max_tokens=max_tokens)
        assembled = fit_to(engine, parts, (), max_tokens or ANSWER_RESERVE)
        limit = max_tokens
        if limit is None and engine.is_local:
            # A local model may use all the room left; a cloud model's output has its own
            # cap, and the budget check would price the whole window as output.
            room = engine.context_window - assembled.tokens
            limit = room if room > 0 else None
        fitted = tuple(m for m in assembled.messages if m.content or m.role != "system")
        return ChatRequest(fitted, max_tokens=limit, prompt_tokens=assembled.tokens)

    return build


def _store(root: Path) -> Any:
    from cairn.infra.files import LocalFileStore

    return LocalFileStore(root)


def _policy(
    args: argparse.Namespace, policy: AgentsPolicy | None, root: Path | None
) -> AgentsPolicy:
    """The workspace's policy, with `--model` as every step's model (sensitive steps still
    only run locally); without a workspace, a policy of that one model."""
    from cairn.runtime import ModelNotFoundError, engine_for, policy_with_model

    if args.model:
        return policy_with_model(policy or AgentsPolicy(), args.model, root)
    if policy is None:
        engine_for(None, None, root)  # raises the error that says what to pass
        raise ModelNotFoundError("no model to use")
    return policy


def _routed(
    policy: AgentsPolicy,
    root: Path | None,
    step: Step,
    request: ChatRequest | Callable[[ChatEngine], ChatRequest],
    cancel: CancelToken,
) -> Iterator[object]:
    """One routed call: the budget guard before it, the ledger and a trace after it (both
    only where there is a workspace to keep them in)."""
    from cairn.core.routing.dispatch import Dispatcher
    from cairn.core.routing.router import Router
    from cairn.runtime import Engines, traced_call

    if root is None:
        engines = Engines(policy)
        dispatcher = Dispatcher(Router(policy, readiness=engines.unready), engines)
        yield from dispatcher.run(step, request, cancel=cancel)
        return
    yield from traced_call(policy, root, step, request, cancel, continue_past=_ask_to_continue)


def _ask_to_continue(pause: BudgetPaused) -> bool:
    """A budget pause at a terminal: the person may go on past it."""
    print(f"\ncairn: paused: {pause}", file=sys.stderr)
    return sys.stdin.isatty() and input("continue? [y/N] ").strip().lower() == "y"


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
                    f"  {event.model} failed ({event.kind}: {event.message}); trying the next "
                    "model",
                    file=sys.stderr,
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
    except CairnError as exc:
        print(f"\ncairn: {exc}", file=sys.stderr)
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


_STOPPED = {
    "repetition": "the answer kept repeating itself",
    "length": "token limit reached (--max-tokens)",
}


def _summary(name: str, local: bool, usage: UsageEvent | None, elapsed: float, reason: str) -> str:
    where = "local" if local else "cloud"
    if usage is None:
        return f"— {name} ({where}) · {elapsed:.2f} s · {reason}"
    cost = "cost unknown" if usage.cost_usd is None else f"${usage.cost_usd:.6f}"
    cached = f" ({usage.cached_input_tokens} reused)" if usage.cached_input_tokens else ""
    ended = "" if reason == "stop" else f" · stopped: {_STOPPED.get(reason, reason)}"
    return (
        f"— {name} ({where}) · {usage.input_tokens} tokens in{cached}, "
        f"{usage.output_tokens} out · {elapsed:.2f} s · {cost}{ended}"
    )
