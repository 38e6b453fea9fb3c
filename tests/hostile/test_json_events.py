"""`cairn run --json`: every event as one JSON object per line, versioned, secrets redacted."""

from __future__ import annotations

import json

import pytest
from tests.hostile.conftest import PRIVATE_MARKER, Hostile, tool

pytestmark = pytest.mark.slow


def test_run_json_prints_each_event_as_one_versioned_object(hostile: Hostile) -> None:
    hostile.cloud.state.script = [
        tool("read_file", path="spaces/team/readme.md"),
        "The team ships on Fridays. Key: sk-proj-abcdefghijklmnopqrstuvwx1234",
    ]
    result = hostile.run("When does the team ship?", "--space", "team", "--json", "--yes")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(r["v"] == 1 for r in records)
    names = [r["event"] for r in records]
    assert names[0] == "task_started" and names[-1] == "task_finished"
    for expected in ("routed", "context_built", "tool_called", "tool_result", "usage"):
        assert expected in names, names
    routed = next(r for r in records if r["event"] == "routed")
    assert routed["decision"]["chosen"] == "cloud-fast" and routed["decision"]["kind"] == "work"
    text = "".join(r["text"] for r in records if r["event"] == "text_delta")
    assert "Fridays" in text and "sk-proj-abcdefghijklmnopqrstuvwx1234" not in result.stdout
    assert PRIVATE_MARKER not in result.stdout


def test_run_json_exit_code_follows_the_task(hostile: Hostile) -> None:
    failed = hostile.run("Hello", "--space", "team", "--json", "--model", "/nowhere/x.gguf")
    assert failed.returncode != 0
