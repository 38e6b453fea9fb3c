"""The connectors' tools as the task loop's `Tool`s (`ConnectorTools` is a `ToolSource`).

Each server tool becomes `server.tool` with the server's JSON schema. What a server says
about itself is data, not authority: its description is shortened and labelled as the
server's, and the only thing Cairn takes from it is `readOnlyHint` — a read-only tool is
allowed when no rule of agents.md says otherwise; any other tool acts outside this
machine, so it asks unless a rule naming it allows it (`approval: always` ignores the
hint). A result comes back as text in a labelled block (the loop's `as_data`), with the
connector's scope: a private connector's result makes the task sensitive.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cairn.connectors.hub import CallResult, ConnectorError, ConnectorHub, RemoteTool
from cairn.core.tasks.tools import Tool, ToolEnv, ToolOutcome

log = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 300  # characters of a server's description offered to a model
RESULT_LIMIT = 20_000  # characters of a result a model sees


class ConnectorTools:
    """The tools of every connector a task in a space may use, listed on first need."""

    def __init__(self, hub: ConnectorHub) -> None:
        self.hub = hub
        self.problems: dict[str, str] = {}  # connector -> why its tools are missing

    def tools(self, space: str | None) -> Sequence[Tool]:
        found: list[Tool] = []
        for name, spec in self.hub.specs.items():
            if not spec.enabled or (spec.spaces and space not in spec.spaces):
                continue
            try:
                remote = self.hub.tools(name)
            except ConnectorError as exc:  # offered without it; the reason is kept
                self.problems[name] = str(exc)
                log.warning("%s", exc)
                continue
            self.problems.pop(name, None)
            found += [self._tool(tool) for tool in remote]
        return found

    def _tool(self, remote: RemoteTool) -> Tool:
        spec = self.hub.specs[remote.server]
        read_only = remote.read_only and spec.approval == "annotations"
        name = f"{remote.server}.{remote.name}"
        said = _short(remote.description or remote.title or remote.name, DESCRIPTION_LIMIT)
        description = f"[{remote.server}, {spec.scope} data] {said}"

        def run(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
            try:
                result = self.hub.call(remote.server, remote.name, arguments, cancel=env.cancel)
            except ConnectorError as exc:
                text = _short(str(exc), 2_000)
                return ToolOutcome(False, text, source=(remote.server, spec.scope))
            text = result.text
            if len(text) > RESULT_LIMIT:
                text = (
                    text[:RESULT_LIMIT] + f"\n[… {len(result.text) - RESULT_LIMIT} more characters]"
                )
            if result.is_error:
                text = f"{name} reported a failure: {text}"
            return ToolOutcome(not result.is_error, text, source=(remote.server, spec.scope))

        return Tool(
            name=name,
            description=description,
            parameters=_schema(remote.schema),
            effect="read" if read_only else "write",
            run=run,
            default="allow" if read_only else "ask",
            outside=not read_only,
            scope=spec.scope,
        )


def _schema(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The server's argument schema as Cairn's checks and grammars can hold it: an object
    whose properties are schemas with a plain `type` (a string or a list of them) and
    short descriptions; anything else a server sends is left out, never trusted."""
    if schema.get("type") != "object":
        return {"type": "object", "properties": {}}
    properties: dict[str, Any] = {}
    raw = schema.get("properties")
    for key, value in raw.items() if isinstance(raw, Mapping) else ():
        if not isinstance(key, str) or not isinstance(value, Mapping):
            continue
        kept = {k: v for k, v in value.items() if k != "description"}
        kind = kept.get("type")
        if kind is not None and not (
            isinstance(kind, str)
            or (isinstance(kind, list) and all(isinstance(k, str) for k in kind))
        ):
            kept.pop("type")
        said = value.get("description")
        if isinstance(said, str) and said:
            kept["description"] = _short(said, 200)
        properties[key] = kept
    required = schema.get("required")
    names = (
        [r for r in required if isinstance(r, str) and r in properties]
        if isinstance(required, list)
        else []
    )
    return {"type": "object", "properties": properties, **({"required": names} if names else {})}


def _short(text: str, limit: int) -> str:
    said = " ".join(text.split())
    return said if len(said) <= limit else said[:limit].rstrip() + "…"


def tool_rows(hub: ConnectorHub, name: str, rules: Sequence[Any]) -> list[dict[str, Any]]:
    """Server `name`'s tools (it is started), each with the rule a call meets now: what
    `cairn connectors tools` prints and the app's Connectors page shows."""
    from cairn.core.tasks.gate import outside_check, rule_check

    source = ConnectorTools(hub)
    rows = []
    for remote in hub.tools(name):
        tool = source._tool(remote)
        check = outside_check(
            rule_check(rules, tool.name, tool.effect, None, None, None), tool, rules, None
        )
        rows.append(
            {
                "tool": tool.name,
                "read_only": tool.effect == "read",
                "rule": f"{check.decision} ({check.reason})",
                "description": remote.description,
                "parameters": dict(tool.parameters),
            }
        )
    return rows


def try_call(
    hub: ConnectorHub,
    name: str,
    tool: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    *,
    outside_ok: bool = False,
    rules: Sequence[Any] = (),
) -> tuple[str, CallResult]:
    """One call to try a server: `tool` (default: its first read-only tool that needs no
    arguments). Read-only is as a task sees it (`approval: always` trusts no hint); a
    tool that acts outside is called only with `outside_ok`, and never one the rules deny."""
    from cairn.core.tasks.gate import outside_check, rule_check

    source = ConnectorTools(hub)
    tools = [replace(t, read_only=source._tool(t).effect == "read") for t in hub.tools(name)]
    if tool is None:
        ready = [t for t in tools if t.read_only and not t.schema.get("required")]
        if not ready:
            raise ConnectorError(
                f"{name} has no read-only tool that needs no arguments: name one to call"
            )
        tool, arguments = ready[0].name, {}
    chosen = next((t for t in tools if t.name == tool), None)
    if chosen is None:
        raise ConnectorError(f"{name} has no tool '{tool}'")
    as_task = source._tool(chosen)
    check = rule_check(rules, as_task.name, as_task.effect, None, None, None)
    if outside_check(check, as_task, rules, None).decision == "deny":
        raise ConnectorError(f"agents.md denies {as_task.name} ({check.reason})")
    if not chosen.read_only and not outside_ok:
        raise ConnectorError(
            f"{name}.{tool} is not declared read-only: it may act outside this machine"
        )
    return tool, hub.call(name, tool, arguments or {})
