"""A fixed set of small tasks that each need a tool, and a harness that measures how often a
model's first move is a valid tool call — through the real task loop, router and engine.

Used by `bench/tool_calls.py` (prints the rates) and by the starter-model test (keeps a
floor). Each task runs in its own copy of the starter workspace with a few notes added,
headless (approvals: yes), one step (no planning call). What counts, for the step's first
model reply:

- called: the reply is a tool call, not an answer;
- valid: a known tool, with arguments its schema accepts and that the tool can act on
  (the file exists, the folder exists) — the tool's result is not an error;
- right: the tool the task needs, with its key argument as the task names it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOTES: dict[str, str] = {
    "spaces/team/notes/standup.md": (
        "# Standup 2026-11-27\n\n- Ana: vendor contract review due Friday.\n"
        "- Ben: release candidate blocked on the login bug.\n- Chloe: hiring loop on track.\n"
    ),
    "spaces/team/notes/roadmap.md": (
        "# Roadmap\n\n## Q1\n- Single sign-on\n- Faster search\n\n## Q2\n- Mobile app beta\n"
    ),
    "spaces/team/notes/vendor-contract.md": (
        "# Vendor contract (draft)\n\nTerm: 24 months. Renewal: automatic unless cancelled "
        "90 days before. Liability cap: fees paid in the last 12 months.\n"
    ),
    "spaces/company/policies/travel.md": (
        "# Travel policy\n\nEconomy class for flights under 6 hours. Hotels up to 180 EUR a "
        "night. Book through the company portal.\n"
    ),
    "spaces/chief-of-staff/inbox/board-meeting.md": (
        "# Board meeting prep\n\nSlides due 2026-12-04. Agenda: results, hiring, budget 2027.\n"
    ),
}


@dataclass(frozen=True, slots=True)
class ToolTask:
    request: str
    tool: str  # the tool the task needs
    argument: str = ""  # its key argument
    expected: str = ""  # what that argument should be (a path, a word to contain)
    space: str | None = None


TASKS: tuple[ToolTask, ...] = (
    ToolTask(
        "Read spaces/team/notes/standup.md and tell me who is blocked.",
        "read_file",
        "path",
        "spaces/team/notes/standup.md",
        "team",
    ),
    ToolTask(
        "Open spaces/team/notes/roadmap.md and list what is planned for Q1.",
        "read_file",
        "path",
        "spaces/team/notes/roadmap.md",
        "team",
    ),
    ToolTask(
        "What does spaces/team/notes/vendor-contract.md say about renewal?",
        "read_file",
        "path",
        "spaces/team/notes/vendor-contract.md",
        "team",
    ),
    ToolTask(
        "Read spaces/company/policies/travel.md: what is the hotel limit?",
        "read_file",
        "path",
        "spaces/company/policies/travel.md",
        "company",
    ),
    ToolTask(
        "Read the file spaces/chief-of-staff/inbox/board-meeting.md and give me the deadline.",
        "read_file",
        "path",
        "spaces/chief-of-staff/inbox/board-meeting.md",
        "chief-of-staff",
    ),
    ToolTask(
        "Summarise spaces/team/readme.md in one sentence.",
        "read_file",
        "path",
        "spaces/team/readme.md",
        "team",
    ),
    ToolTask(
        "Read skills/decision-memo/SKILL.md and tell me its steps.",
        "read_file",
        "path",
        "skills/decision-memo/SKILL.md",
    ),
    ToolTask(
        "List the files in spaces/team/notes.",
        "list_files",
        "folder",
        "spaces/team/notes",
        "team",
    ),
    ToolTask(
        "Which files are in the folder spaces/company/policies?",
        "list_files",
        "folder",
        "spaces/company/policies",
        "company",
    ),
    ToolTask("List the folder skills.", "list_files", "folder", "skills"),
    ToolTask(
        "Show me what is in spaces/chief-of-staff/inbox.",
        "list_files",
        "folder",
        "spaces/chief-of-staff/inbox",
        "chief-of-staff",
    ),
    ToolTask("List the operators folder.", "list_files", "folder", "operators"),
    ToolTask("Search the workspace for 'login bug'.", "search", "query", "login bug", "team"),
    ToolTask("Search for the word 'renewal'.", "search", "query", "renewal", "team"),
    ToolTask("Find every note that mentions 'hiring'.", "search", "query", "hiring", "team"),
    ToolTask("Search the notes for 'Liability cap'.", "search", "query", "liability cap", "team"),
    ToolTask(
        "Where is 'single sign-on' mentioned? Search for it.",
        "search",
        "query",
        "single sign-on",
        "team",
    ),
    ToolTask(
        "Write a short note to spaces/team/drafts/reply-ana.md saying the review is on track.",
        "write_file",
        "path",
        "spaces/team/drafts/reply-ana.md",
        "team",
    ),
    ToolTask(
        "Create spaces/team/drafts/agenda.md with a three-item agenda for Monday.",
        "write_file",
        "path",
        "spaces/team/drafts/agenda.md",
        "team",
    ),
    ToolTask(
        "Save a draft thank-you note to Chloe in spaces/team/drafts/thanks-chloe.md.",
        "write_file",
        "path",
        "spaces/team/drafts/thanks-chloe.md",
        "team",
    ),
    ToolTask(
        "Load the skill decision-memo and tell me what it is for.",
        "load_skill",
        "name",
        "decision-memo",
    ),
    ToolTask("Load the skill draft-a-reply.", "load_skill", "name", "draft-a-reply", "team"),
)


@dataclass(slots=True)
class Outcome:
    task: ToolTask
    called: str | None = None  # the first tool the model called
    arguments: Mapping[str, Any] = field(default_factory=dict)
    valid: bool = False
    answer: str = ""  # what it said instead, when it did not call a tool
    seconds: float = 0.0

    @property
    def right(self) -> bool:
        if not self.valid or self.called != self.task.tool:
            return False
        if not self.task.argument:
            return True
        value = str(self.arguments.get(self.task.argument, "")).strip().strip("/").lower()
        expected = self.task.expected.lower()
        return (
            value == expected
            if self.task.argument in ("path", "folder", "name")
            else (expected in value)
        )


@dataclass(frozen=True, slots=True)
class Report:
    outcomes: tuple[Outcome, ...]

    def rate(self, what: Callable[[Outcome], bool]) -> float:
        return sum(1 for o in self.outcomes if what(o)) / len(self.outcomes)

    @property
    def called(self) -> float:
        return self.rate(lambda o: o.called is not None)

    @property
    def valid(self) -> float:
        return self.rate(lambda o: o.valid)

    @property
    def right(self) -> float:
        return self.rate(lambda o: o.right)

    def lines(self) -> list[str]:
        rows = []
        for o in self.outcomes:
            mark = "right" if o.right else "valid" if o.valid else "call " if o.called else "none "
            what = f"{o.called}({dict(o.arguments)})" if o.called else repr(o.answer[:60])
            rows.append(f"  {mark}  {o.seconds:5.1f} s  {o.task.request[:58]:<58}  {what}")
        return rows


def workspace_for_tasks(target: Path) -> Path:
    """A fresh starter workspace with the notes the tasks refer to."""
    from cairn.infra.starter import copy_starter

    target.mkdir(parents=True, exist_ok=True)
    copy_starter(target)
    for relative, text in NOTES.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def first_move(root: Path, task: ToolTask, model: str) -> Outcome:
    """Run `task` until its first tool call has a result (or the step ends without one)."""
    from cairn.core.engine import CancelToken, TextDelta
    from cairn.core.tasks.events import StepFinished, ToolCalled, ToolResult
    from cairn.core.tasks.options import TaskOptions
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.runtime import build_runner

    workspace = WorkspaceModel(LocalFileStore(root))
    workspace.load()
    runner, _ = build_runner(workspace, root, model_override=model)
    options = TaskOptions(space=task.space, approvals="yes", plan="never")
    cancel = CancelToken()
    outcome = Outcome(task)
    started = time.perf_counter()
    events = iter(runner.run(task.request, options, cancel))
    try:
        for event in events:
            if isinstance(event, ToolCalled) and outcome.called is None:
                outcome.called, outcome.arguments = event.name, dict(event.arguments)
            elif isinstance(event, ToolResult):
                outcome.valid = event.ok
                break
            elif isinstance(event, TextDelta):
                outcome.answer += event.text
            elif isinstance(event, StepFinished):
                break
    finally:
        cancel.cancel()
        close = getattr(events, "close", None)
        if close is not None:
            close()  # ends the task's generator: nothing more runs
        outcome.seconds = time.perf_counter() - started
    return outcome


def evaluate(model: str, tasks: tuple[ToolTask, ...] = TASKS) -> Report:
    """Every task in its own fresh workspace, one after the other, in this process (so
    the model stays loaded and its prompt prefix warm, as in an app session)."""
    outcomes = []
    folder = Path(tempfile.mkdtemp(prefix="cairn-tool-tasks-"))
    try:
        for n, task in enumerate(tasks):
            root = workspace_for_tasks(folder / f"ws{n}")
            outcomes.append(first_move(root, task, model))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Report(tuple(outcomes))
