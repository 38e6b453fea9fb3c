"""Benchmark: connectors (MCP servers) — what a tool call costs through Cairn, and what
configured servers cost at start-up, as ratios measured in one run.

1. **Per call over stdio.** The same trivial tool (`wait(0)` of the test server in
   tests/connectors/mcp_servers.py, an async tool) called --calls times through
   `ConnectorHub.call` (a background loop thread, cancellation polling, result text) and
   through the SDK's own client in one asyncio task (the least any caller can do). p50 and
   p95 of each, and what Cairn adds.
2. **Start-up with three servers.** A starter workspace with three stdio connectors
   against the same workspace with none: `cairn --version`, `cairn check` and the app's
   window shown (`CAIRN_APP_TIMING`), median of --runs each. Servers start on first use,
   so these should not move; the time to start all three on first use is printed too.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/connectors.py [--calls 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVERS = REPO / "tests" / "connectors" / "mcp_servers.py"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95) - 1]


def through_cairn(root: Path, calls: int) -> list[float]:
    from cairn.connectors.hub import ConnectorHub
    from cairn.core.workspace.schema import ConnectorSpec

    spec = ConnectorSpec(command=sys.executable, args=(str(SERVERS), "slow"), scope="team")
    hub = ConnectorHub(root, {"slow": spec})
    try:
        hub.tools("slow")
        for _ in range(20):
            hub.call("slow", "wait", {"seconds": 0})
        samples = []
        for _ in range(calls):
            began = time.perf_counter()
            hub.call("slow", "wait", {"seconds": 0})
            samples.append(time.perf_counter() - began)
        return samples
    finally:
        hub.close()


def through_sdk(calls: int) -> list[float]:
    from mcp import Client, StdioServerParameters

    async def run() -> list[float]:
        params = StdioServerParameters(command=sys.executable, args=[str(SERVERS), "slow"])
        async with Client(params, mode="legacy") as client:
            for _ in range(20):
                await client.call_tool("wait", {"seconds": 0})
            samples = []
            for _ in range(calls):
                began = time.perf_counter()
                await client.call_tool("wait", {"seconds": 0})
                samples.append(time.perf_counter() - began)
            return samples

    return asyncio.run(run())


def median_seconds(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True, timeout=120)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def window_shown(cairn: str, root: Path, env: dict[str, str], runs: int) -> float:
    shown = []
    for _ in range(runs):
        done = subprocess.run(
            [cairn, "app", str(root), "--no-automations"],
            env={**env, "CAIRN_APP_TIMING": "exit"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("timing shown=")]
        if not lines:
            raise SystemExit(f"the app printed no timing: {done.stderr[-400:]}")
        shown.append(float(lines[0].split("=", 1)[1]))
    return statistics.median(shown)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cairn = str(Path(sys.executable).parent / "cairn")
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        env["XDG_CONFIG_HOME"] = str(base / "config")
        hub_samples = through_cairn(base, args.calls)
        sdk_samples = through_sdk(args.calls)
        (hub50, hub95), (sdk50, sdk95) = percentiles(hub_samples), percentiles(sdk_samples)
        print(
            f"per call over stdio ({args.calls} calls): through Cairn p50 {hub50 * 1000:.2f} ms"
            f" / p95 {hub95 * 1000:.2f} ms; SDK alone p50 {sdk50 * 1000:.2f} ms / p95"
            f" {sdk95 * 1000:.2f} ms → Cairn adds {(hub50 - sdk50) * 1000:.2f} ms at p50,"
            f" {(hub95 - sdk95) * 1000:.2f} ms at p95 (ratio {hub50 / sdk50:.2f}x)"
        )

        plain, three = base / "plain", base / "three"
        for root in (plain, three):
            subprocess.run([cairn, "init", str(root)], env=env, capture_output=True, check=True)
        block = "connectors:\n" + "".join(
            f"  server-{n}:\n    command: {json.dumps(sys.executable)}\n"
            f"    args: [{json.dumps(str(SERVERS))}, slow]\n    scope: team\n"
            for n in range(1, 4)
        )
        agents = three / "agents.md"
        text = agents.read_text()
        start = text.index("connectors:\n")
        end = text.index("\n\n", start)
        agents.write_text(text[:start] + block.rstrip("\n") + text[end:])
        rows = []
        for label, extra in (("cairn --version", ["--version"]), ("cairn check", ["check"])):

            def command(root: Path, extra: list[str] = extra) -> list[str]:
                return [cairn, *extra, *([str(root)] if extra == ["check"] else [])]

            none = median_seconds(command(plain), env, args.runs)
            with_three = median_seconds(command(three), env, args.runs)
            rows.append((label, none, with_three))
        rows.append(
            (
                "window shown",
                window_shown(cairn, plain, env, args.runs),
                window_shown(cairn, three, env, args.runs),
            )
        )
        for label, none, with_three in rows:
            print(
                f"{label}: no connectors {none:.2f} s, three connectors {with_three:.2f} s"
                f" → {with_three / none:.2f}x (servers start on first use, not here)"
            )
        from cairn.connectors.hub import ConnectorHub
        from cairn.core.workspace.loader import WorkspaceModel
        from cairn.infra.files import LocalFileStore

        workspace = WorkspaceModel(LocalFileStore(three)).load()
        assert workspace.agents is not None
        hub = ConnectorHub(three, workspace.agents.policy.connectors)
        began = time.perf_counter()
        for name in hub.specs:
            hub.tools(name)
        took = time.perf_counter() - began
        hub.close()
        print(f"first use: starting the three servers and listing their tools took {took:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
