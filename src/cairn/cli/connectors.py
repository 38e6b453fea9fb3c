"""`cairn connectors list | tools NAME | test NAME | serve-folder FOLDER`.

`list` reads agents.md only (no server starts); `tools` and `test` start the server,
show what it offers with the rule each call would meet, and `test` makes one call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.core.errors import CairnError, WorkspaceNotFoundError

if TYPE_CHECKING:
    from cairn.connectors.hub import ConnectorHub
    from cairn.core.workspace.entities import Workspace


def run_connectors(args: argparse.Namespace) -> int:
    action = args.connectors_command
    if action == "serve-folder":
        from cairn.connectors.folder_server import main

        return main(args.folder)
    workspace = _workspace(Path(args.workspace))
    policy = workspace.agents.policy if workspace.agents else None
    connectors = dict(policy.connectors) if policy else {}
    if action == "list":
        return _list(connectors, args.json)
    if args.name not in connectors:
        known = ", ".join(connectors) or "none"
        raise CairnError(f"no connector '{args.name}' in agents.md (connectors: {known})")
    from cairn.connectors.hub import ConnectorHub

    # Its own hub, the connector turned on: trying one out comes before enabling it.
    spec = connectors[args.name].model_copy(update={"enabled": True})
    hub = ConnectorHub(Path(args.workspace), {args.name: spec})
    try:
        if action == "tools":
            return _tools(hub, workspace, args.name, args.json)
        return _test(hub, workspace, args)
    finally:
        hub.close()


def _workspace(root: Path) -> Workspace:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.starter import looks_like_workspace

    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(f"{root} is not a Cairn workspace (cairn init {root})")
    return WorkspaceModel(LocalFileStore(root)).load()


def _list(connectors: dict[str, Any], as_json: bool) -> int:
    rows = []
    for name, spec in connectors.items():
        where = spec.url or " ".join([spec.command, *spec.args])
        rows.append(
            {
                "name": name,
                "transport": "http" if spec.url else "stdio",
                "where": where,
                "scope": spec.scope,
                "spaces": list(spec.spaces),
                "enabled": spec.enabled,
                "approval": spec.approval,
            }
        )
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not rows:
        print("No connectors in agents.md (docs/connectors.md says how to add one).")
        return 0
    for row in rows:
        spaces = f" · spaces: {', '.join(row['spaces'])}" if row["spaces"] else ""
        off = "" if row["enabled"] else " · turned off"
        print(f"{row['name']}  [{row['scope']}, {row['transport']}]{spaces}{off}")
        print(f"    {row['where']}")
    print(
        "\n(Servers start when a task first needs them; `cairn connectors tools NAME` starts one.)"
    )
    return 0


def _rule_of(workspace: Workspace, tool: Any) -> str:
    from cairn.core.tasks.gate import outside_check, rule_check

    rules = workspace.agents.policy.permissions if workspace.agents else ()
    check = rule_check(rules, tool.name, tool.effect, None, None, None)
    check = outside_check(check, tool, rules, None)
    return f"{check.decision} ({check.reason})"


def _tools(hub: ConnectorHub, workspace: Workspace, name: str, as_json: bool) -> int:
    from cairn.connectors.tools import ConnectorTools

    started = time.perf_counter()
    source = ConnectorTools(hub)
    remote = {f"{name}.{t.name}": t for t in hub.tools(name)}
    tools = [source._tool(t) for t in remote.values()]
    took = time.perf_counter() - started
    rows = [
        {
            "tool": tool.name,
            "read_only": remote[tool.name].read_only,
            "rule": _rule_of(workspace, tool),
            "description": remote[tool.name].description,
            "parameters": tool.parameters,
        }
        for tool in tools
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(f"{name}: {len(rows)} tool(s), started and listed in {took:.2f} s")
    for row in rows:
        kind = "read-only" if row["read_only"] else "acts outside"
        print(f"  {row['tool']}  [{kind}] → {row['rule']}")
        if row["description"]:
            print(f"      {' '.join(str(row['description']).split())[:160]}")
    return 0


def _test(hub: ConnectorHub, workspace: Workspace, args: argparse.Namespace) -> int:
    name = args.name
    started = time.perf_counter()
    tools = hub.tools(name)
    took = time.perf_counter() - started
    print(f"{name}: started, {len(tools)} tool(s) in {took:.2f} s")
    if args.call is None:
        read_only = [t.name for t in tools if t.read_only and not _required(t.schema)]
        if not read_only:
            print("(no read-only tool without arguments to try: pass --call TOOL --args JSON)")
            return 0
        args.call, args.args = read_only[0], "{}"
    arguments = json.loads(args.args or "{}")
    if not isinstance(arguments, dict):
        raise CairnError("--args must be a JSON object")
    chosen = next((t for t in tools if t.name == args.call), None)
    if chosen is None:
        raise CairnError(f"{name} has no tool '{args.call}'")
    if not chosen.read_only and not args.yes:
        raise CairnError(
            f"{name}.{args.call} is not declared read-only: it may act outside this machine. "
            "Add --yes to call it anyway."
        )
    started = time.perf_counter()
    result = hub.call(name, args.call, arguments)
    took = time.perf_counter() - started
    mark = "✘ failed" if result.is_error else "✔"
    print(f"{mark} {name}.{args.call} in {took * 1000:.0f} ms:")
    print(result.text[:2000])
    return 1 if result.is_error else 0


def _required(schema: Any) -> list[str]:
    required = schema.get("required") if isinstance(schema, dict) else None
    return list(required) if isinstance(required, list) else []


def add_parser(commands: Any) -> None:
    connectors = commands.add_parser(
        "connectors", help="MCP servers named in agents.md: list, their tools, a test call"
    )
    actions = connectors.add_subparsers(dest="connectors_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the connectors agents.md names (starts none)")
    tools = actions.add_parser("tools", help="start NAME and list its tools with their rule")
    test = actions.add_parser("test", help="start NAME and make one call (a read-only tool)")
    for sub in (tools, test):
        sub.add_argument("name", metavar="NAME")
    test.add_argument("--call", metavar="TOOL", help="the tool to call (default: a read-only one)")
    test.add_argument("--args", metavar="JSON", help="its arguments, a JSON object")
    test.add_argument(
        "--yes", action="store_true", help="allow calling a tool that is not read-only"
    )
    for sub in (listing, tools, test):
        sub.add_argument("--workspace", default=".", metavar="DIR")
    for sub in (listing, tools):
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    serve = actions.add_parser(
        "serve-folder", help="run the example MCP server over FOLDER on stdio (read-only)"
    )
    serve.add_argument("folder", metavar="FOLDER")


if __name__ == "__main__":
    sys.exit("use: cairn connectors")
