"""The permission gate's helpers for the task loop: approvals decided by mode, and the risk judge.

No tool with side effects runs without passing the gate. The rules themselves live in
`approvals` (`check_permission`, `tighten`); here is how a pending request is decided in a
run (asked, approved by `--yes`, denied by `--no-approve`, or queued for a person), what a
person is shown of a tool call, and the optional model that may only tighten an allowed
write into a question.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from typing import Any, Literal

from cairn.core.approvals import ApprovalRequest
from cairn.core.budget import BudgetPaused
from cairn.core.context import as_data
from cairn.core.dispatch import Dispatcher, RoutingStopped
from cairn.core.engine import CancelToken, ChatRequest, EngineError, Message, TextDelta
from cairn.core.events import ApprovalDecided
from cairn.core.routing import Step

ApprovalMode = Literal["ask", "yes", "no", "queue"]
Queue = Callable[[ApprovalRequest, str], object]
RiskJudge = Callable[[str, Mapping[str, Any], str | None], str]
"""(tool, arguments, path) → "low" or "high". May only tighten a rule."""


class TaskCancelledError(Exception):
    pass


def preview(arguments: Mapping[str, Any]) -> str:
    text = "\n".join(f"{k}: {v}" for k, v in arguments.items())
    lines = text.splitlines()
    return "\n".join(lines[:40]) + (f"\n… {len(lines) - 40} more lines" if len(lines) > 40 else "")


def decide(
    request: ApprovalRequest,
    mode: ApprovalMode,
    event: object,
    *,
    task: str,
    queue: Queue | None,
    cancel: CancelToken,
    budget: bool = False,
) -> Generator[object, None, tuple[bool, str]]:
    """Decide a pending request by the run's approval mode; yields the decision as an event.

    In "ask" mode `event` is yielded for a person to answer, and the wait ends early (the
    request denied, the task cancelled) when the task is cancelled meanwhile."""
    if mode == "yes" and not budget:
        request.approve(by="--yes")
    elif mode in ("no", "yes"):
        request.deny(by="--no-approve" if mode == "no" else "--yes does not cover budgets")
    elif mode == "queue":
        if queue is not None:
            queue(request, task)
        request.deny(by="queued", why="queued for approval; a person will decide later")
    else:
        yield event
        while not request.wait(0.2):
            if cancel.cancelled:
                request.deny(by="cancelled")
                raise TaskCancelledError
    yield ApprovalDecided(request.id, request.approved, request.decided_by or "", request.why or "")
    return request.approved, request.decided_by or ""


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
            "Answer with JSON.\n\n" + as_data("the tool call", preview(arguments))
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
