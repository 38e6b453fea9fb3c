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
        said = " ".join(remote.description.split())
        if len(said) > DESCRIPTION_LIMIT:
            said = said[:DESCRIPTION_LIMIT].rstrip() + "…"
        description = f"[{remote.server}, {spec.scope} data] {said or remote.title or remote.name}"

        def run(arguments: Mapping[str, Any], env: ToolEnv) -> ToolOutcome:
            try:
                result = self.hub.call(remote.server, remote.name, arguments, cancel=env.cancel)
            except ConnectorError as exc:
                return ToolOutcome(False, str(exc), source=(remote.server, spec.scope))
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
    """The server's argument schema, as an object schema (what function calling needs)."""
    if schema.get("type") != "object":
        return {"type": "object", "properties": {}}
    return schema


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
) -> tuple[str, CallResult]:
    """One call to try a server: `tool` (default: its first read-only tool that needs no
    arguments). A tool that acts outside is called only with `outside_ok`."""
    tools = hub.tools(name)
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
    if not chosen.read_only and not outside_ok:
        raise ConnectorError(
            f"{name}.{tool} is not declared read-only: it may act outside this machine"
        )
    return tool, hub.call(name, tool, arguments or {})
