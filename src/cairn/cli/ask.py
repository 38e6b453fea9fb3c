"""`cairn ask`: stream one answer from a model, then a line of tokens, time and cost."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cairn.core.engine import CancelToken, ChatRequest, EngineError, Finished, Message, TextDelta
from cairn.core.engine import Usage as UsageEvent
from cairn.core.schema import AgentsPolicy


def _policy(directory: str) -> tuple[AgentsPolicy | None, str, Path | None]:
    from cairn.core.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.starter import looks_like_workspace

    root = Path(directory).expanduser()
    if not root.is_dir() or not looks_like_workspace(root):
        return None, "", None
    workspace = WorkspaceModel(LocalFileStore(root)).load()
    if workspace.agents is None:
        return None, "", root
    return workspace.agents.policy, workspace.agents.instructions, root


def run_ask(args: argparse.Namespace) -> int:
    from cairn.infra.redaction import install_log_redaction
    from cairn.runtime import engine_for

    install_log_redaction()

    policy, instructions, root = _policy(args.workspace)
    engine = engine_for(args.model, policy, root)
    messages = [Message("user", args.prompt)]
    if instructions.strip() and not args.no_instructions:
        messages.insert(0, Message("system", instructions))
    request = ChatRequest(tuple(messages), max_tokens=args.max_tokens)
    cancel = CancelToken()
    started = time.perf_counter()
    usage: UsageEvent | None = None
    reason = "stop"
    try:
        for event in engine.stream(request, cancel):
            if isinstance(event, TextDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, UsageEvent):
                usage = event
            elif isinstance(event, Finished):
                reason = event.reason
    except KeyboardInterrupt:
        cancel.cancel()
        print("\n[cancelled]", file=sys.stderr)
        return 130
    except EngineError as exc:
        print(f"\ncairn: {engine.name}: {exc.kind}: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print()
    print(_summary(engine.name, engine.is_local, usage, elapsed, reason), file=sys.stderr)
    return 0


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
