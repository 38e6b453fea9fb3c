"""One run of an automation: claim its slot, run its task headless, record how it ended.

`execute` is what the CLI's run-now, the scheduler and the app call: it assumes no
terminal. The slot is claimed in the `RunStore` first (a refused claim runs nothing and is
returned as the `Refusal`), unless the caller claimed it already (the scheduler does, in
the same transaction as its decision about missed slots); the automation's body is then
run as a task with the automation's space, skill and operator, traced like `cairn run`,
and the run's row is finished in a `finally`, so a crash still leaves it `failed` (a
Ctrl-C, `interrupted`) instead of `running`. Last, the run is added to the automation's
markdown run log (`cairn.scheduler.run_log`).

The run's output is where the automation's instruction told it to write: the files the
task wrote are the run's outputs, listed in the run log; the row's `output_path` is the
first of them (or the task's record when it wrote none).

How a task's end maps to a run's status:

* `TaskFinished` → `done`; but `needs-approval` when approvals were queued for a person
  during the run (`headless.on_approval: queue`): the task went on without that action.
  With `on_approval: stop` the task is stopped at its first queued approval and the run
  is `needs-approval`; with `on_approval: fail` it is stopped there and `failed`.
* `TaskFailed` → `failed` with its reason; a budget stop (kind `budget`) → `paused`.
* `TaskCancelled` → `interrupted`.

With `headless.on_approval: skip` nothing is queued: actions that need an approval are
denied, the task goes on without them and the run counts as `done`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cairn.core.engine import CancelToken, Usage
from cairn.core.errors import CairnError
from cairn.core.tasks.events import (
    ApprovalDecided,
    TaskCancelled,
    TaskFailed,
    TaskFinished,
    ToolResult,
)
from cairn.core.tasks.options import TaskOptions
from cairn.core.tasks.tools import file_tools
from cairn.core.workspace.entities import Automation
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.infra.redaction import REDACTOR
from cairn.infra.runs import Claim, FinalStatus, Refusal, Run, RunStore, Trigger
from cairn.infra.trace import TraceWriter
from cairn.scheduler.run_log import append_run


class TaskRunnerLike(Protocol):
    """What `execute` needs of a task runner (`cairn.core.tasks.loop.TaskRunner`)."""

    task: str

    def run(
        self, request: str, options: TaskOptions, cancel: CancelToken | None = None
    ) -> Iterable[object]: ...


RunnerFactory = Callable[[WorkspaceModel, Path, str], TaskRunnerLike]
"""Builds the runner for one run: (workspace model, root, automation name) → runner."""


class UnknownAutomationError(CairnError, LookupError):
    """No automation of that name in the workspace."""


def default_runner(model: WorkspaceModel, root: Path, automation: str) -> TaskRunnerLike:
    """The real runner: engines, router, budgets, ledger and approval queue."""
    from cairn.runtime import build_runner

    runner, _ = build_runner(model, root, automation=automation)
    return runner


def find_automation(model: WorkspaceModel, name: str) -> Automation:
    """The automation called `name`, or an error that lists the ones there are."""
    automations = model.load().automations
    if name in automations:
        return automations[name]
    known = ", ".join(sorted(automations)) or "none"
    raise UnknownAutomationError(
        f"no automation '{name}' in this workspace (there are: {known}); `cairn check` shows"
        " automation files that could not be read"
    )


@dataclass
class _Outcome:
    status: FinalStatus = "failed"
    reason: str | None = "the task ended without a result"
    tokens: int = 0
    cost_usd: float = 0.0
    record: str | None = None
    written: list[str] = field(default_factory=list)


def execute(
    root: str | Path,
    name: str,
    *,
    trigger: Trigger,
    slot: datetime,
    store: RunStore,
    claim: Claim | None = None,
    runner_factory: RunnerFactory | None = None,
    on_event: Callable[[object], None] | None = None,
    cancel: CancelToken | None = None,
) -> Run | Refusal:
    """Run automation `name` for `slot`; the finished row, or the `Refusal` of its claim.

    `claim`: the slot was claimed already (then `trigger` and `slot` are the claim's).
    `on_event` sees every task event as it happens (for progress lines); `cancel` stops
    the task early (the run is then `interrupted`). `UnknownAutomationError` when the
    workspace has no such automation (nothing is claimed; a claim given is finished as
    failed)."""
    root = Path(root).resolve()
    try:
        model = WorkspaceModel(LocalFileStore(root))
        automation = find_automation(model, name)
    except BaseException as exc:  # unknown, or the workspace unreadable: a claim ends here
        if claim is not None:
            why = REDACTOR.redact(str(exc) or type(exc).__name__)
            store.finish(claim.id, "failed", cost_usd=0, tokens=0, trace=None, reason=why)
        raise
    if claim is None:
        claimed = store.claim(name, slot, trigger)
        if isinstance(claimed, Refusal):
            return claimed
        claim = claimed
    outcome = _Outcome()
    trace: TraceWriter | None = None
    try:
        runner = (runner_factory or default_runner)(model, root, name)
        trace = TraceWriter(root, runner.task)
        trace.open()
        meta = automation.meta
        options = TaskOptions(
            space=meta.space,
            skill=meta.skill,
            operator=meta.operator,
            automation=name,
            # Nobody is at the keyboard: approvals are queued for a person, or with
            # `on_approval: skip` simply denied.
            approvals="no" if meta.headless.on_approval == "skip" else "queue",
        )
        queued: list[str] = []
        token = cancel or CancelToken()
        stops = meta.headless.on_approval in ("stop", "fail")
        for event in runner.run(automation.instruction, options, token):
            trace.record(event)
            if on_event is not None:
                on_event(event)
            _observe(event, outcome, queued)
            if stops and queued and not token.cancelled:
                token.cancel()  # `on_approval: stop | fail`: the run ends at its first one
        if queued and (stops or outcome.status == "done"):
            waiting = (
                f"{len(queued)} action(s) queued for a person to approve"
                f" ({', '.join(queued)}); `cairn approvals list` shows them"
            )
            if meta.headless.on_approval == "fail":
                outcome.status, outcome.reason = "failed", f"on_approval: fail: {waiting}"
            elif stops:
                outcome.status, outcome.reason = "needs-approval", f"stopped there: {waiting}"
            else:
                outcome.status, outcome.reason = "needs-approval", f"{waiting}; the task went on"
    except KeyboardInterrupt:
        outcome.status, outcome.reason = "interrupted", "interrupted by the user (Ctrl-C)"
        raise
    except BaseException as exc:
        outcome.status, outcome.reason = "failed", f"{type(exc).__name__}: {exc}"
        if trace is not None:
            trace.failed(exc)
        if not isinstance(exc, CairnError):
            raise  # a crash: recorded as failed, and still raised
    finally:
        if trace is not None:
            trace.close()
        finished = store.finish(
            claim.id,
            outcome.status,
            cost_usd=max(outcome.cost_usd, 0.0),
            tokens=max(outcome.tokens, 0),
            trace=trace.task if trace is not None else None,
            reason=REDACTOR.redact(outcome.reason) if outcome.reason else None,
            output_path=outcome.written[0] if outcome.written else outcome.record,
        )
        append_run(model, automation, finished, written=outcome.written, record=outcome.record)
    return finished


_WRITING_TOOLS = frozenset(t.name for t in file_tools() if t.effect == "write")


def _observe(event: object, outcome: _Outcome, queued: list[str]) -> None:
    if isinstance(event, Usage):
        outcome.tokens += event.input_tokens + event.output_tokens
        outcome.cost_usd += event.cost_usd or 0.0
    elif isinstance(event, ToolResult) and event.ok and event.name in _WRITING_TOOLS:
        if event.path and event.path not in outcome.written:
            outcome.written.append(event.path)
    elif isinstance(event, ApprovalDecided) and event.by == "queued":
        queued.append(event.request_id)
    elif isinstance(event, TaskFinished):
        outcome.status, outcome.reason = "done", None
        outcome.tokens = event.input_tokens + event.output_tokens
        outcome.cost_usd = event.cost_usd
        outcome.record = event.record
    elif isinstance(event, TaskFailed):
        outcome.status = "paused" if event.kind == "budget" else "failed"
        outcome.reason = f"{event.kind}: {event.reason}"
    elif isinstance(event, TaskCancelled):
        outcome.status, outcome.reason = "interrupted", event.reason
