"""Traces: one JSONL file per task under `.cairn/traces/`, secrets redacted before writing.

Each line is one event: `{"at": ..., "event": "routed", ...}`. The workspace model
ignores `.cairn/` (hidden), so traces never show up as workspace content.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from cairn.core.engine import TextDelta, ToolCallRequested
from cairn.core.errors import CairnError
from cairn.core.routing.budget import BudgetPaused
from cairn.core.routing.dispatch import BudgetWarning, Routed, RoutingStopped
from cairn.infra.redaction import REDACTOR
from cairn.infra.state import make_folder


class TraceWriter:
    def __init__(self, root: str | os.PathLike[str], task: str) -> None:
        self.task = task
        self.path = Path(root) / ".cairn" / "traces" / f"{task}.jsonl"
        self._lock = threading.Lock()
        self._handle: TextIO | None = None  # opened on the first event, kept for the task

    def open(self) -> None:
        """Create the trace file now (it is otherwise created by the first event)."""
        with self._lock:
            self._open()

    def _open(self) -> TextIO:
        if self._handle is None:
            make_folder(self.path.parent)
            # Line-buffered: each event is on disk as soon as it is written.
            self._handle = self.path.open("a", encoding="utf-8", buffering=1)
        return self._handle

    def write(self, event: str, **data: Any) -> None:
        record = {
            "at": datetime.now().astimezone().isoformat(),
            "task": self.task,
            "event": event,
            **data,
        }
        line = redacted_line(record) + "\n"
        with self._lock:
            self._open().write(line)

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, event: object) -> None:
        """Write any loop, routing or engine event; streamed text deltas are left out
        (each step's whole text is in its `step_finished` event)."""
        if isinstance(event, TextDelta):
            return
        data = event_data(event)
        if data is not None:
            name = data.pop("event")
            self.write(name, **data)

    def failed(self, error: BaseException) -> None:
        if isinstance(error, RoutingStopped):
            self.write("stopped", reason=str(error), decision=error.decision.to_json())
        elif isinstance(error, BudgetPaused):
            self.write("paused", reason=str(error), verdict=error.verdict.to_json())
        else:
            self.write("failed", error=type(error).__name__, message=str(error))


def redacted_line(record: dict[str, Any]) -> str:
    """`record` as one line of JSON with every string in it redacted.

    Each string is redacted before serialising: once JSON escapes a string's quotes, a
    pattern such as `"apiKey": "…"` inside it would no longer match the escaped text."""
    return json.dumps(REDACTOR.redact_data(record), ensure_ascii=False, default=str)


EVENTS_VERSION = 1
"""The version of the event records in traces and `cairn run --json` (docs/tasks.md)."""


def event_data(event: object) -> dict[str, Any] | None:
    """An event as a JSON-ready record `{"event": "snake_name", ...fields}`; None for an
    object that is not an event. Redaction is the writer's job."""
    if isinstance(event, Routed):
        return {
            "event": "routed",
            "decision": event.decision.to_json(),
            "budget": event.budget.to_json() if event.budget else None,
        }
    if isinstance(event, BudgetWarning):
        return {"event": "budget_warning", "verdict": event.verdict.to_json()}
    if isinstance(event, ToolCallRequested):
        return {
            "event": "tool_call",
            "name": event.call.name,
            "arguments": dict(event.call.arguments),
        }
    if is_dataclass(event) and not isinstance(event, type):
        return {"event": _snake(type(event).__name__), **_plain(event)}
    return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _plain(event: Any) -> dict[str, Any]:
    """An event's fields as JSON-friendly data; answer slots and locks are summarised."""
    data: dict[str, Any] = {}
    for item in fields(event):
        value = getattr(event, item.name)
        if is_dataclass(value) and not isinstance(value, type):
            value = _plain(value)
        elif hasattr(value, "tool") and hasattr(value, "reason"):  # an approval request
            value = {"id": value.id, "tool": value.tool, "path": value.path, "reason": value.reason}
        elif isinstance(value, tuple):
            value = [_plain(v) if is_dataclass(v) else v for v in value]
        elif not isinstance(value, str | int | float | bool | dict | list | type(None)):
            continue
        data[item.name] = value
    return data


# --- reading traces back ------------------------------------------------------------------

_ENDINGS = ("task_finished", "task_failed", "task_cancelled", "finished", "stopped", "failed")


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """One trace as a list shows it: what was asked, how it ended, what it cost."""

    task: str
    path: Path
    status: str  # finished | failed | cancelled | stopped | running | unfinished
    request: str
    started: str  # the first event's time, ISO 8601 ("" when unknown)
    cost_usd: float | None


QUIET_S = 30 * 60  # a trace with no ending, untouched this long, is of a task that died


def trace_folder(root: str | os.PathLike[str]) -> Path:
    return Path(root) / ".cairn" / "traces"


def read_trace(path: Path) -> list[dict[str, Any]]:
    """A trace's events in order; a torn or foreign line (a crash mid-write) is skipped."""
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def summarise(path: Path, events: list[dict[str, Any]] | None = None) -> TraceSummary:
    """`running` when the trace has no ending yet and was written to lately; `unfinished`
    when it has none and nothing was written for `QUIET_S` (its process was killed, or
    the machine went down: the task will not end)."""
    events = read_trace(path) if events is None else events
    start = next((e for e in events if e.get("event") == "task_started"), {})
    end: dict[str, Any] = next((e for e in reversed(events) if e.get("event") in _ENDINGS), {})
    cost = end.get("cost_usd")
    status = str(end.get("event") or "running").replace("task_", "")
    if status == "running":
        try:
            quiet = time.time() - path.stat().st_mtime
        except OSError:
            quiet = 0.0
        if quiet > QUIET_S:
            status = "unfinished"
    return TraceSummary(
        task=path.stem,
        path=path,
        status=status,
        request=str(start.get("request", "")),
        started=str(events[0].get("at", "")) if events else "",
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )


def list_traces(root: str | os.PathLike[str]) -> list[TraceSummary]:
    """Every trace of the workspace, in file-name order (task ids sort by time)."""
    folder = trace_folder(root)
    paths = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return [summarise(path) for path in paths]


def find_trace(root: str | os.PathLike[str], prefix: str) -> Path:
    """The one trace whose task id is `prefix` or starts with it."""
    folder = trace_folder(root)
    traces = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    matches = [p for p in traces if p.stem == prefix or p.stem.startswith(prefix)]
    if len(matches) != 1:
        raise CairnError(
            f"{'no trace' if not matches else 'several traces'} match '{prefix}'"
            "; `cairn trace list` shows them"
        )
    return matches[0]
