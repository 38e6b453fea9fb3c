"""Traces read back: a list of what tasks did, one trace's events, torn lines skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cairn.core.errors import CairnError
from cairn.core.tasks.events import TaskCancelled, TaskFinished, TaskStarted
from cairn.infra.trace import QUIET_S, TraceWriter, find_trace, list_traces, read_trace


def test_traces_are_listed_with_their_request_status_and_cost(tmp_path: Path) -> None:
    with TraceWriter(tmp_path, "20260301-090000-aaaaaa") as trace:
        trace.record(TaskStarted("20260301-090000-aaaaaa", "Write the update", "team"))
        trace.record(TaskFinished("20260301-090000-aaaaaa", "done", 10, 5, 0.25))
    with TraceWriter(tmp_path, "20260302-090000-bbbbbb") as trace:
        trace.record(TaskStarted("20260302-090000-bbbbbb", "Plan", None))
        trace.record(TaskCancelled("20260302-090000-bbbbbb"))
    with TraceWriter(tmp_path, "20260303-090000-cccccc") as trace:
        trace.record(TaskStarted("20260303-090000-cccccc", "Still going", None))
    with (trace.path).open("a") as handle:
        handle.write('{"torn": ')  # a crash mid-line
    listed = list_traces(tmp_path)
    assert [(t.status, t.request, t.cost_usd) for t in listed] == [
        ("finished", "Write the update", 0.25),
        ("cancelled", "Plan", None),
        ("running", "Still going", None),
    ]
    assert listed[0].started.startswith("20")
    # No ending and nothing written for longer than a task waits: its process died.
    long_ago = trace.path.stat().st_mtime - QUIET_S - 60
    os.utime(trace.path, (long_ago, long_ago))
    assert list_traces(tmp_path)[2].status == "unfinished"
    events = read_trace(find_trace(tmp_path, "20260301"))
    assert [e["event"] for e in events] == ["task_started", "task_finished"]


def test_finding_a_trace_needs_exactly_one_match(tmp_path: Path) -> None:
    assert list_traces(tmp_path) == []
    for task in ("20260301-1", "20260301-2"):
        with TraceWriter(tmp_path, task) as trace:
            trace.open()
    with pytest.raises(CairnError, match="several traces"):
        find_trace(tmp_path, "20260301")
    with pytest.raises(CairnError, match="no trace"):
        find_trace(tmp_path, "nope")
