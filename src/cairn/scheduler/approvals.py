"""Answering the actions headless runs queued, shared by `cairn approvals` and the app.

* `describe`: exactly what approving one would do, against the workspace as it is now:
  the tool, the file, the full (redacted) arguments, the change as a diff against the file
  now, why it was asked, the rule of agents.md that applies now, when it expires, and why
  approving would be refused, if it would.
* `approve`: claims the approval (only the first answer counts), re-checks the action
  against a freshly read workspace and performs it through the very tool the task would
  have used (`cairn.core.tasks.replay.perform`); the outcome says performed or refused.
* `deny`: drops it; nothing is done.

Each decision moves the record to `.cairn/approvals/decided/` (`ApprovalQueue.resolve`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cairn.core.errors import CairnError
from cairn.core.tasks.change import change_lines as diff_lines
from cairn.core.tasks.replay import QueuedCall, Ready, Refused, perform, prepare
from cairn.core.tasks.tools import Tool, ToolEnv, ToolOutcome
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.approvals import ApprovalQueue, expired, expires_at
from cairn.infra.files import LocalFileStore


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """A queued approval, described for a person deciding it."""

    id: str
    tool: str
    path: str | None
    arguments: Mapping[str, Any]  # in full, as queued (secrets were redacted then)
    reason: str  # why it was asked
    automation: str | None
    task: str | None
    queued_at: datetime | None  # None: the record's time cannot be read
    expires_at: datetime | None  # None: the record's time cannot be read
    expired: bool
    action: str | None  # what approving would do ("create spaces/team/notes.md")
    rule_now: str | None  # the rule of agents.md that applies to it now
    refused: str | None  # why approving would be refused now, if it would
    change: tuple[str, ...]  # a write's diff against the file now; empty otherwise
    preview: str  # the run's own preview of the action

    @property
    def who(self) -> str:
        return f"automation {self.automation}" if self.automation else f"task {self.task}"

    @property
    def shown_change(self) -> str:
        """The diff when there is one, else the run's preview."""
        return "\n".join(self.change) if self.change else self.preview


def describe(
    model: WorkspaceModel, record: Mapping[str, Any], now: datetime | None = None
) -> PendingApproval:
    """What approving `record` would do, checked against the loaded `model` (nothing is
    written)."""
    action = rule_now = refused = None
    ready: Ready | None = None
    try:
        call = QueuedCall.from_record(record)
    except CairnError as exc:
        refused = str(exc)
    else:
        checked = prepare(model, call, _declared(model, call.tool))
        if isinstance(checked, Refused):
            refused = checked.reason
        else:
            ready, action, rule_now = checked, checked.action, checked.check.reason
    arguments = record.get("arguments")
    return PendingApproval(
        id=str(record.get("id")),
        tool=str(record.get("tool")),
        path=_text(record.get("path")),
        arguments=arguments if isinstance(arguments, Mapping) else {},
        reason=str(record.get("reason") or ""),
        automation=_text(record.get("automation")),
        task=_text(record.get("task")),
        queued_at=_moment(record.get("queued_at")),
        expires_at=expires_at(record),
        expired=expired(record, now),
        action=action,
        rule_now=rule_now,
        refused=refused,
        change=tuple(change_lines(ready, record)),
        preview=str(record.get("preview") or ""),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _moment(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def change_lines(ready: Ready | None, record: Mapping[str, Any]) -> list[str]:
    """What a write would change: a diff for a replaced file, the new lines otherwise
    (the same lines an interactive task's card shows, `core.tasks.change`)."""
    if ready is None or ready.tool.effect != "write":
        return []
    arguments = record.get("arguments") or {}
    before = ready.before.decode("utf-8", "replace") if ready.before is not None else None
    return diff_lines(ready.tool.name, ready.path or "", before, arguments)


@dataclass(frozen=True, slots=True)
class Decision:
    """How answering an approval ended."""

    id: str
    decision: Literal["approved", "denied", "expired"]
    performed: bool  # the action was done (approved, and not refused at approval time)
    detail: str | None  # the tool's outcome, or why it was refused
    record: Mapping[str, Any]  # the decided record as written to `decided/`


def approve(root: str | Path, id: str, *, by: str) -> Decision:
    """Approve `id` and perform it, re-checked against the workspace as it is now.
    `ApprovalNotFoundError` when it is not pending (unknown, or answered already)."""
    root = Path(root)

    def act(record: dict[str, Any]) -> dict[str, Any]:
        # The workspace is read only once this caller has won the approval: the checks
        # see the rules and files as they are at the moment of performing.
        try:
            call = QueuedCall.from_record(record)
            model = WorkspaceModel(LocalFileStore(root))
            model.load()
            done = perform(model, call, _connector_tools(model, root, call))
        except CairnError as exc:
            done = Refused(str(exc))
        if isinstance(done, Refused):
            return {"outcome": "refused", "detail": done.reason}
        return {"outcome": "performed", "detail": done.output}

    record = ApprovalQueue(root).resolve(id, approved=True, by=by, perform=act)
    return _decision(id, record)


def _declared(model: WorkspaceModel, name: str) -> list[Tool]:
    """A queued connector call's tool as agents.md declares its connector, for describing
    it without starting the server (the app describes the queue every few seconds). Only
    calls that ask are queued, so it is described as one that acts outside."""
    server = name.split(".", 1)[0] if "." in name else None
    agents = model.workspace.agents
    spec = agents.policy.connectors.get(server) if agents and server else None
    if spec is None:
        return []

    def not_here(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
        return ToolOutcome(False, "described only; approving starts the connector")

    return [Tool(name, "", {"type": "object"}, "write", not_here, outside=True, scope=spec.scope)]


def _connector_tools(model: WorkspaceModel, root: Path, call: QueuedCall) -> list[Tool]:
    """The live tools of the queued call's connector (its server is started), as the task
    that queued it had them."""
    if "." not in call.tool:
        return []
    from cairn.connectors.tools import ConnectorTools
    from cairn.runtime import connector_hub

    agents = model.workspace.agents
    hub = connector_hub(root, agents.policy) if agents else None
    if hub is None:
        return []
    space = call.replay.space if call.replay is not None else None
    source = ConnectorTools(hub)
    tools = list(source.tools(space))
    server = call.tool.split(".", 1)[0]
    if server in source.problems and all(t.name != call.tool for t in tools):
        raise CairnError(f"{call.tool} cannot be performed now: {source.problems[server]}")
    return tools


def deny(root: str | Path, id: str, *, by: str) -> Decision:
    """Deny `id`: nothing is done. `ApprovalNotFoundError` when it is not pending."""
    return _decision(id, ApprovalQueue(Path(root)).resolve(id, approved=False, by=by))


def _decision(id: str, record: Mapping[str, Any]) -> Decision:
    detail = record.get("detail")
    return Decision(
        id,
        record["decision"],
        record.get("outcome") == "performed",
        None if detail is None else str(detail),
        record,
    )


def age(queued_at: object, now: datetime | None = None) -> str:
    """How long ago a record says it was queued, shortly ("5 min"); "?" when unreadable."""
    queued = _moment(queued_at)
    if queued is None:
        return "?"
    seconds = max(((now or datetime.now(UTC)) - queued).total_seconds(), 0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"
