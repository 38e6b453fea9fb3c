"""Performing a queued tool call after a person approved it, re-checked at that moment.

A headless run that met an `ask` queued the call (`ApprovalRequest` with its `Replay`) and
went on without it. When a person approves it later, the world may have moved: the file
may have been edited, agents.md may now deny the call, the automation may no longer allow
the tool. `prepare` checks all of it against the workspace as it is now, and `perform`
then runs the call through the very tool the task would have used, so the write goes
through the same atomic, conflict-checked writer and the same path checks (links resolved,
nothing hidden, nothing outside the workspace). A call that needed the task itself (its
model, its conversation: a plan, a review, a question) cannot be performed later.

A queued record is read back from a file a person (or anything else) could have edited,
so nothing in it is trusted: every field is checked as if a model had written it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.core.errors import CairnError
from cairn.core.tasks.approvals import PermissionCheck, Replay
from cairn.core.tasks.gate import outside_check, rule_check
from cairn.core.tasks.provenance import Provenance, is_marked
from cairn.core.tasks.tool_calls import headless_allows
from cairn.core.tasks.tools import (
    READ_BYTES,
    Tool,
    ToolEnv,
    ToolOutcome,
    clean_path,
    file_tools,
    real_target,
    validate_arguments,
)
from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.loader import WorkspaceModel

NOT_LATER = {
    "plan": "a plan is approved while its task waits; the run stopped at the plan",
    "budget": "going past a budget is decided while the task waits",
    "consult_operator": "a review needs the task's model and draft",
    "ask_user": "a question needs the task that asked it",
    "propose_memory": "a memory proposal belongs to the task's memory step",
}
"""Calls that cannot be performed outside their task, and why."""


@dataclass(frozen=True, slots=True)
class QueuedCall:
    """A queued call as read back from its record: what `prepare` checks."""

    tool: str
    arguments: Mapping[str, Any]
    path: str | None = None
    automation: str | None = None
    replay: Replay | None = None
    redacted: bool | None = False  # None: not recorded (queued by an older Cairn)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> QueuedCall:
        """The call in a queued record; `CairnError` when the record is not one."""
        tool, arguments = record.get("tool"), record.get("arguments")
        path, automation = record.get("path"), record.get("automation")
        if not isinstance(tool, str) or not isinstance(arguments, Mapping):
            raise CairnError("the queued record names no tool call (it is damaged)")
        if not isinstance(path, str | None) or not isinstance(automation, str | None):
            raise CairnError("the queued record's path or automation is not text (damaged)")
        return cls(
            tool,
            dict(arguments),
            path,
            automation,
            _replay(record.get("replay")),
            record["redacted"] if isinstance(record.get("redacted"), bool) else None,
        )


def _replay(raw: object) -> Replay | None:
    if not isinstance(raw, Mapping):
        return None
    base, space, sensitive = raw.get("base_hash"), raw.get("space"), raw.get("sensitive", [])
    if not isinstance(base, str | None) or not isinstance(space, str | None):
        return None
    if not isinstance(sensitive, list) or not all(isinstance(s, str) for s in sensitive):
        return None
    return Replay(base, space, tuple(sensitive))


@dataclass(frozen=True, slots=True)
class Refused:
    """The call is not performed, and why (a person can act on the reason)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Ready:
    """The call passed every check: what it will do, and what it runs against."""

    tool: Tool
    env: ToolEnv
    path: str | None
    check: PermissionCheck  # the rules of agents.md on the call now
    action: str  # e.g. "create spaces/team/notes.md"
    before: bytes | None = None  # the target's content now (a write to an existing file)


def _rules(model: WorkspaceModel) -> Sequence[Any] | None:
    agents = model.workspace.agents
    return agents.policy.permissions if agents is not None else None


def _redo(call: QueuedCall) -> str:
    return "re-run the automation" if call.automation else "run the task again"


def prepare(model: WorkspaceModel, call: QueuedCall, extra: Sequence[Tool] = ()) -> Ready | Refused:
    """Every check the task's gate and tool would make, against the workspace now.
    `extra`: the connectors' tools (a queued call of `server.tool`)."""
    tools = {t.name: t for t in (*file_tools(), *extra)}
    tool = tools.get(call.tool)
    if tool is None:
        why = NOT_LATER.get(call.tool, f"there is no tool '{call.tool}' Cairn can perform")
        return Refused(f"{call.tool} cannot be performed outside its task: {why}")
    if call.redacted is None:
        return Refused(
            "the queue does not record whether its arguments were changed when it was "
            f"saved (an older or damaged record), so it is not performed; {_redo(call)}"
        )
    if call.redacted:
        return Refused(
            "its arguments held a secret, which was removed before it was saved, so it "
            f"cannot be performed as it was asked; {_redo(call)}"
        )
    problem = validate_arguments(tool, call.arguments)
    if problem is not None:
        return Refused(f"the queued call is not valid: {problem}")
    path = tool.target(call.arguments)
    if path != call.path:
        return Refused(
            f"the queued record says it touches {call.path!r}, but its arguments name "
            f"{path!r}: it was changed after it was queued"
        )
    rules = _rules(model)
    if rules is None:
        return Refused("agents.md is missing or invalid, so its rules cannot be checked now")
    real = None
    if path is not None:
        try:
            clean_path(path)
            real = real_target(model, path)
        except CairnError as exc:
            return Refused(f"{path} cannot be used: {exc}")
    check = rule_check(rules, tool.name, tool.effect, path, real, None)
    if tool.outside:
        check = outside_check(check, tool, rules, None)
    if check.decision == "deny":
        return Refused(f"agents.md now denies it ({check.reason})")
    found = model.workspace.automations.get(call.automation) if call.automation else None
    allowed = found.meta.headless.allow if found is not None else ()
    if allowed and not headless_allows(tool.name, allowed):
        return Refused(
            f"automation '{call.automation}' now allows only {', '.join(sorted(allowed))} "
            "(headless.allow)"
        )
    replay = call.replay
    before: bytes | None = None
    if tool.outside:  # a connector's: no file to check; approving is the consent it needs
        server = tool.name.split(".", 1)[0]
        action = f"call {tool.name} (the {tool.scope} connector '{server}')"
        return Ready(tool, _env(model, None, replay), None, check, action, None)
    if tool.effect == "write":
        if replay is None or path is None:
            return Refused(
                "the queue holds no record of the file as the run saw it, so the write "
                f"cannot be checked against it; {_redo(call)}"
            )
        try:
            before = model.store.read(path, READ_BYTES)
        except (FileNotFoundError, NotADirectoryError):
            before = None
        except (CairnError, OSError) as exc:
            return Refused(f"{path} cannot be read now: {exc}")
        now = content_hash(before) if before is not None else None
        if now != replay.base_hash:
            detail = (
                " (it did not exist then)"
                if replay.base_hash is None
                else " (it has been deleted since)"
                if now is None
                else ""
            )
            return Refused(f"{path} changed since the run queued this{detail}; {_redo(call)}")
    env = _env(model, path, replay)
    verb = {"write_file": "replace" if before is not None else "create", "append_file": "append to"}
    action = f"{verb[tool.name]} {path}" if tool.name in verb else f"run {tool.name}"
    text = str(call.arguments.get("content", call.arguments.get("text", "")))
    provenance = env.provenance
    if (
        tool.effect == "write"
        and real is not None
        and provenance is not None
        and not is_marked(text)
        and provenance.needs_mark(real, text)
    ):
        action += " (marked `sensitive: true`: its content is sensitive)"
    return Ready(tool, env, path, check, action, before)


def _env(model: WorkspaceModel, path: str | None, replay: Replay | None) -> ToolEnv:
    """The tool's environment as the task had it: its view of the target (so the writer
    refuses a change made after this check), its space, and its sensitivity (so the file
    carries the mark the task's write would have given it)."""
    space = replay.space if replay is not None else None
    provenance = Provenance(model.workspace, space=space)
    for number, reason in enumerate(replay.sensitive if replay is not None else (), 1):
        provenance.sources[f"queued task, reason {number}"] = reason
    env = ToolEnv(model, space=space, provenance=provenance)
    if path is not None and replay is not None and replay.base_hash is not None:
        env.seen[path] = replay.base_hash
    return env


def perform(
    model: WorkspaceModel, call: QueuedCall, extra: Sequence[Tool] = ()
) -> ToolOutcome | Refused:
    """Re-check the call (`prepare`), then run it through its tool: the tool's outcome
    when it was done, `Refused` when a check or the tool itself refused it."""
    ready = prepare(model, call, extra)
    if isinstance(ready, Refused):
        return ready
    outcome = ready.tool.run(call.arguments, ready.env)
    if not outcome.ok:
        return Refused(outcome.output)
    return outcome
