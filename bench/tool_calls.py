"""Benchmark: how often the starter model's first move on a task that needs a tool is a
valid tool call — the fixed task set of `cairn.testing.tool_tasks`, through the real task
loop, router and local engine (tool protocol, grammar, prompt and all).

Prints, over the task set: the share of tasks whose first reply is a tool call at all, a
valid one (a known tool, arguments that pass its schema and that it can act on), and the
right one (the tool the task needs, with the key argument the task names); then a line per
task. There is no baseline to divide by: the rates are counts, not times. The floor kept
by tests/engines/test_tool_call_validity.py is printed beside them.

Run from the repository root:
    .venv/bin/python bench/tool_calls.py [--model local-starter]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

FLOOR_VALID = 0.75  # kept in step with tests/engines/test_tool_call_validity.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="local-starter", help="a model named in agents.md")
    args = parser.parse_args()
    # Prefixes saved by earlier runs would make the first task faster than the rest.
    os.environ.setdefault("CAIRN_CACHE_DIR", tempfile.mkdtemp(prefix="cairn-bench-cache-"))
    from cairn.testing.tool_tasks import TASKS, evaluate

    started = time.perf_counter()
    report = evaluate(args.model)
    for line in report.lines():
        print(line)
    n = len(TASKS)
    print(
        f"tool calls on {n} tasks with {args.model}: called {report.called:.0%}, "
        f"valid {report.valid:.0%} (floor {FLOOR_VALID:.0%}), right tool and argument "
        f"{report.right:.0%}; {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
