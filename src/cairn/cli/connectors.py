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


def _tools(hub: ConnectorHub, workspace: Workspace, name: str, as_json: bool) -> int:
    from cairn.connectors.tools import tool_rows

    started = time.perf_counter()
    rules = workspace.agents.policy.permissions if workspace.agents else ()
    rows = tool_rows(hub, name, rules)
    took = time.perf_counter() - started
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(f"{name}: {len(rows)} tool(s), started and listed in {took:.2f} s")
    for kind, names in hub.offers(name).items():
        if names:
            print(
                f"  also offers {len(names)} {kind} ({', '.join(names[:5])}); tasks use tools only"
            )
    for row in rows:
        kind = "read-only" if row["read_only"] else "acts outside"
        print(f"  {row['tool']}  [{kind}] → {row['rule']}")
        if row["description"]:
            print(f"      {' '.join(str(row['description']).split())[:160]}")
    return 0


def _test(hub: ConnectorHub, workspace: Workspace, args: argparse.Namespace) -> int:
    from cairn.connectors.tools import try_call

    name = args.name
    started = time.perf_counter()
    tools = hub.tools(name)
    print(f"{name}: started, {len(tools)} tool(s) in {time.perf_counter() - started:.2f} s")
    arguments = json.loads(args.args) if args.args else None
    if arguments is not None and not isinstance(arguments, dict):
        raise CairnError("--args must be a JSON object")
    started = time.perf_counter()
    try:
        rules = workspace.agents.policy.permissions if workspace.agents else ()
        tool, result = try_call(hub, name, args.call, arguments, outside_ok=args.yes, rules=rules)
    except CairnError as exc:
        if "not declared read-only" in str(exc):
            raise CairnError(f"{exc}. Add --yes to call it anyway.") from None
        raise
    took = time.perf_counter() - started
    mark = "✘ failed" if result.is_error else "✔"
    print(f"{mark} {name}.{tool} in {took * 1000:.0f} ms:")
    print(result.text[:2000])
    return 1 if result.is_error else 0


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
