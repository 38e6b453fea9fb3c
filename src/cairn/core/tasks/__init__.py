"""The tasks wing: a request becomes a plan and steps, steps call tools, every move is an event.

It owns the task loop (`TaskRunner.run`, a generator of the events in `events`), the
per-run state and the content's provenance, context assembly, the file tools, the
permission gate and approvals, guards, and the markdown record. It routes through the
routing wing and reads the workspace wing; the memory wing is reached only through the
`Remember` seam (a callable taking a `Transcript`).
"""

from __future__ import annotations

from cairn.core.tasks.events import ContextBuilt, TaskEvent
from cairn.core.tasks.gate import ApprovalMode, TaskCancelledError, model_risk_judge
from cairn.core.tasks.loop import MAX_TOOL_ROUNDS, Recall, Remember, TaskRunner
from cairn.core.tasks.options import TaskOptions
from cairn.core.tasks.provenance import Provenance
from cairn.core.tasks.run import TaskRun
from cairn.core.tasks.tools import Tool, ToolEnv, ToolOutcome, file_tools
from cairn.core.tasks.transcript import Transcript

__all__ = [
    "MAX_TOOL_ROUNDS",
    "ApprovalMode",
    "ContextBuilt",
    "Provenance",
    "Recall",
    "Remember",
    "TaskCancelledError",
    "TaskEvent",
    "TaskOptions",
    "TaskRun",
    "TaskRunner",
    "Tool",
    "ToolEnv",
    "ToolOutcome",
    "Transcript",
    "file_tools",
    "model_risk_judge",
]
