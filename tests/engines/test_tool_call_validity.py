"""The starter model makes valid tool calls: over the fixed task set of
`cairn.testing.tool_tasks` (22 small tasks that each need a tool), through the real task
loop, router, tool protocol and grammar. bench/tool_calls.py prints the same figures.

Measured on 2026-11-30 (this machine, the starter model): valid 100%, right tool and
argument 36-50% across runs; before the compact protocol, argument choices and examples:
valid 18%, right 18%. The floors below leave room for sampling noise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

FLOOR_VALID = 0.75  # kept in step with bench/tool_calls.py
FLOOR_RIGHT = 0.25


@pytest.mark.slow
@pytest.mark.timeout(1200)  # 22 tasks on a real model: ~3 min on two quiet cores, more if busy
def test_the_starter_model_calls_tools_validly_on_the_task_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, starter_models: Path
) -> None:
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(starter_models))
    from cairn.testing.tool_tasks import TASKS, evaluate, workspace_for_tasks

    assert len(TASKS) >= 20
    report = evaluate("local-starter")
    summary = "\n".join(report.lines())
    assert report.valid >= FLOOR_VALID, summary
    assert report.right >= FLOOR_RIGHT, summary
    # Every read or listing named something that exists: the grammar offers nothing else.
    root = workspace_for_tasks(tmp_path / "ws")
    for outcome in report.outcomes:
        if outcome.called == "read_file":
            assert (root / str(outcome.arguments["path"])).is_file(), summary
        if outcome.called == "list_files" and outcome.arguments.get("folder"):
            assert (root / str(outcome.arguments["folder"])).is_dir(), summary
