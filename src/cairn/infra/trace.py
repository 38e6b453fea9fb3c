"""Traces: one JSONL file per task under `.cairn/traces/`, secrets redacted before writing.

Each line is one event: `{"at": ..., "event": "routed", ...}`. The workspace model
ignores `.cairn/` (hidden), so traces never show up as workspace content.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn.core.budget import BudgetPaused
from cairn.core.dispatch import BudgetWarning, FellBack, Routed, RoutingStopped
from cairn.core.engine import Finished, ToolCallRequested, Usage
from cairn.infra.redaction import REDACTOR


class TraceWriter:
    def __init__(self, root: str | os.PathLike[str], task: str) -> None:
        self.task = task
        self.path = Path(root) / ".cairn" / "traces" / f"{task}.jsonl"
        self._lock = threading.Lock()

    def write(self, event: str, **data: Any) -> None:
        record = {
            "at": datetime.now().astimezone().isoformat(),
            "task": self.task,
            "event": event,
            **data,
        }
        line = json.dumps(REDACTOR.redact_data(record), ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)

    def record(self, event: object) -> None:
        """Write the routing and usage events of a step; text deltas are not traced."""
        if isinstance(event, Routed):
            self.write(
                "routed",
                decision=event.decision.to_json(),
                budget=event.budget.to_json() if event.budget else None,
            )
        elif isinstance(event, FellBack):
            self.write(
                "fell_back",
                model=event.model,
                kind=event.kind,
                message=event.message,
                cooldown_s=event.cooldown_s,
            )
        elif isinstance(event, BudgetWarning):
            self.write("budget_warning", verdict=event.verdict.to_json())
        elif isinstance(event, ToolCallRequested):
            self.write("tool_call", name=event.call.name, arguments=dict(event.call.arguments))
        elif isinstance(event, Usage):
            self.write(
                "usage",
                input_tokens=event.input_tokens,
                output_tokens=event.output_tokens,
                cached_input_tokens=event.cached_input_tokens,
                cost_usd=event.cost_usd,
            )
        elif isinstance(event, Finished):
            self.write("finished", reason=event.reason)

    def failed(self, error: BaseException) -> None:
        if isinstance(error, RoutingStopped):
            self.write("stopped", reason=str(error), decision=error.decision.to_json())
        elif isinstance(error, BudgetPaused):
            self.write("paused", reason=str(error), verdict=error.verdict.to_json())
        else:
            self.write("failed", error=type(error).__name__, message=str(error))
