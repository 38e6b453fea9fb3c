"""The permission gate's helpers for the task loop: approvals decided by mode, and the risk judge.

No tool with side effects runs without passing the gate. The rules themselves live in
`approvals` (`check_permission`, `tighten`); here is how a pending request is decided in a
run (asked, approved by `--yes`, denied by `--no-approve`, or queued for a person), what a
person is shown of a tool call, and the optional model that may only tighten an allowed
write into a question.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from cairn.core.engine import CancelToken, ChatRequest, EngineError, Message, TextDelta, Usage
from cairn.core.routing.budget import BudgetPaused
from cairn.core.routing.dispatch import BudgetWarning, Dispatcher, FellBack, Routed, RoutingStopped
from cairn.core.routing.marks import rank
from cairn.core.tasks.approvals import ApprovalRequest, PermissionCheck, check_permission
from cairn.core.tasks.context import as_data
from cairn.core.tasks.events import ApprovalDecided, TaskEvent
from cairn.core.tasks.provenance import Provenance
from cairn.core.tasks.tools import Tool
from cairn.core.workspace.schema import PermissionRule

ApprovalMode = Literal["ask", "yes", "no", "queue"]
Queue = Callable[[ApprovalRequest, str], object]
RiskJudge = Callable[
    [str, Mapping[str, Any], str | None, Provenance], Generator[TaskEvent, None, str]
]
"""(tool, arguments, path, the task's provenance) → "low" or "high", yielding the judge's
routing and usage events so they are traced and counted. May only tighten a rule."""


class TaskCancelledError(Exception):
    pass


SIDE_CALL_EVENTS = (Routed, FellBack, BudgetWarning, Usage)
"""What a side call (the judge, an operator's review) passes on: routing and spend."""

_STRICTNESS = {"allow": 0, "ask": 1, "deny": 2}


def rule_check(  # noqa: PLR0917 (one call site in the loop, one in `cairn route`)
    rules: Sequence[PermissionRule],
    tool: str,
    effect: str,
    path: str | None,
    real: str | None,
    provenance: Provenance | None,
) -> PermissionCheck:
    """The gate's decision for a call before any judge: the rules of agents.md on the path
    as written and on its real target (links resolved; the stricter decision wins), then
    the scope rule for writes (content may not move to a wider scope without a person)."""
    check = check_permission(rules, tool, action=effect, path=path)
    if path is not None and real is not None and real != path:
        through = check_permission(rules, tool, action=effect, path=real)
        if _STRICTNESS[through.decision] > _STRICTNESS[check.decision]:
            check = replace(through, reason=f"{path} is a link to {real}; {through.reason}")
    if effect == "write" and real is not None and provenance is not None:
        crossing = provenance.crossing(real)
        if crossing is not None and check.decision != "deny":
            check = replace(check, decision="ask", reason=f"{crossing.describe()}; {check.reason}")
    return check


def outside_check(
    check: PermissionCheck,
    tool: Tool,
    rules: Sequence[PermissionRule],
    provenance: Provenance | None,
) -> PermissionCheck:
    """A connector's tool, after the rules (see docs/connectors.md):

    * no rule matched: the tool's own default (a server's read-only tool is allowed, any
      other asks);
    * a tool that acts outside this machine is allowed only by a rule that names it
      (`mail.send` or `mail.*`): a `*` rule, written for the workspace's files, asks;
    * content narrower than the connector's scope (a private note, to a team tracker)
      asks before any of its tools is called, whatever the rules say, unless they deny."""
    if check.rule is None and check.decision == "ask" and tool.default == "allow":
        check = replace(check, decision="allow", reason="declared read-only by its server")
    if tool.outside and check.decision == "allow":
        rule = rules[check.rule] if check.rule is not None else None
        if rule is None or rule.tool == "*":
            check = replace(
                check,
                decision="ask",
                reason=f"{tool.name} acts outside this machine and no rule names it; "
                f"{check.reason}",
            )
    if tool.scope is not None and provenance is not None:
        # Any call's arguments leave for the server, a read's too (a search term built
        # from a private note): a wider connector asks.
        carried = provenance.narrowest()
        if carried is not None and rank(carried[1]) < rank(tool.scope) and check.decision != "deny":
            crossing = (
                f"scope: this task carries content from the {carried[0]}, and {tool.name} "
                f"would send it to a {tool.scope} connector ({carried[1]} → {tool.scope})"
            )
            check = replace(check, decision="ask", reason=f"{crossing}; {check.reason}")
    return check


def preview(arguments: Mapping[str, Any]) -> str:
    text = "\n".join(f"{k}: {v}" for k, v in arguments.items())
    lines = text.splitlines()
    return "\n".join(lines[:40]) + (f"\n… {len(lines) - 40} more lines" if len(lines) > 40 else "")


def decide(
    request: ApprovalRequest,
    mode: ApprovalMode,
    event: TaskEvent,
    *,
    task: str,
    queue: Queue | None,
    cancel: CancelToken,
    budget: bool = False,
) -> Generator[TaskEvent, None, tuple[bool, str]]:
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
    write as low or high risk. "high" turns allow into ask; any failure changes nothing.

    The call carries what is being written, so it carries the task's sensitivity: content
    from a private space is judged by a local model or not at all."""

    def judge(
        tool: str, arguments: Mapping[str, Any], path: str | None, provenance: Provenance
    ) -> Generator[TaskEvent, None, str]:
        question = (
            f"A task wants to run the tool {tool} on {path or 'no file'}. Is it risky: "
            "destructive, hard to undo, touching important files, or sending data away? "
            "Answer with JSON.\n\n" + as_data("the tool call", preview(arguments))
        )
        request = ChatRequest(
            (Message("user", question),),
            json_schema=RISK_SCHEMA,
            max_tokens=dispatcher.router.policy.token_limit("approval"),
            temperature=0.0,
        )
        step = provenance.step("Judge a tool call's risk", "approval", (question,))
        text = ""
        try:
            for event in dispatcher.run(step, request):
                if isinstance(event, TextDelta):
                    text += event.text
                elif isinstance(event, SIDE_CALL_EVENTS):
                    yield event
            risk = json.loads(text, strict=False).get("risk")
        except (RoutingStopped, BudgetPaused, EngineError, ValueError, AttributeError):
            return "low"
        return "high" if risk == "high" else "low"

    return judge
