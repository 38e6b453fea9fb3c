"""Real task runs for the impact tests: the real `TaskRunner`, router, budget guard, spend
ledger (`.cairn/spend.jsonl`), traces and automation runner, over `ScriptedEngine`s (the
starter's models: cloud-fast and cloud-strong in the cloud, local-small local).

`run_sample(root)` runs a fixed mix of tasks and automation runs and returns the tally a
reader of the event streams counts by hand, to compare the impact figures with.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cairn.core.engine import CancelToken, EngineError, ToolCall, Usage
from cairn.core.routing.budget import BudgetGuard
from cairn.core.routing.dispatch import Dispatcher
from cairn.core.routing.router import Router
from cairn.core.tasks.loop import TaskOptions, TaskRunner
from cairn.core.tasks.run import new_task_id
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.approvals import ApprovalQueue
from cairn.infra.files import LocalFileStore
from cairn.infra.ledger import JsonlLedger
from cairn.infra.runs import Run, RunStore
from cairn.infra.trace import TraceWriter
from cairn.scheduler.execute import execute
from cairn.testing.scripted_engine import ScriptedEngine, ScriptItem

CLOUD_COST = 1e-5  # dollars per token, both cloud engines
SECRET = "zebra-quartz-4471-lantern"  # planted in task content; must never reach the figures


@dataclass
class Tally:
    """What the event streams said, counted as they went by."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    local: list[Usage] = field(default_factory=list)
    cloud: list[Usage] = field(default_factory=list)

    def count(
        self, events: Iterable[object], engines: dict[str, ScriptedEngine]
    ) -> Iterator[object]:
        """`events`, passed on one by one as they are counted."""
        local = False
        for event in events:
            chosen = getattr(getattr(event, "decision", None), "chosen", None)
            if chosen is not None:
                local = engines[chosen].is_local
            if isinstance(event, Usage):
                self.input_tokens += event.input_tokens
                self.output_tokens += event.output_tokens
                self.cost_usd += event.cost_usd or 0.0
                (self.local if local else self.cloud).append(event)
            yield event


def engines_for(scripts: dict[str, list[ScriptItem]]) -> dict[str, ScriptedEngine]:
    return {
        name: ScriptedEngine(
            name,
            list(scripts.get(name, ["(unused)"])),
            is_local=name.startswith("local"),
            cost_per_token=0.0 if name.startswith("local") else CLOUD_COST,
        )
        for name in ("cloud-fast", "cloud-strong", "local-small")
    }


def runner_for(
    model: WorkspaceModel,
    root: Path,
    engines: dict[str, ScriptedEngine],
    *,
    automation: str | None = None,
) -> TaskRunner:
    """A runner put together as `cairn.runtime.build_runner` does, on scripted engines."""
    agents = model.workspace.agents
    assert agents is not None
    task = new_task_id()
    ledger = JsonlLedger.for_workspace(root)
    guard = BudgetGuard(agents.policy.budgets, ledger, task=task, automation=automation)
    dispatcher = Dispatcher(Router(agents.policy), engines.__getitem__, ledger=ledger, guard=guard)
    queue = ApprovalQueue(root)
    return TaskRunner(
        model,
        dispatcher,
        queue=lambda request, task_id: queue.queue(request, task_id, automation),
        task_id=task,
    )


def run_task(
    root: Path,
    tally: Tally,
    request: str,
    options: TaskOptions,
    scripts: dict[str, list[ScriptItem]],
    *,
    cancelled: bool = False,
) -> list[object]:
    """One task, traced as `cairn run` traces it."""
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    engines = engines_for(scripts)
    runner = runner_for(model, root, engines)
    cancel = CancelToken()
    if cancelled:
        cancel.cancel()
    events = []
    with TraceWriter(root, runner.task) as trace:
        for event in tally.count(runner.run(request, options, cancel), engines):
            trace.record(event)
            events.append(event)
    return events


def run_automation(
    root: Path, tally: Tally, name: str, body: str, scripts: dict[str, list[ScriptItem]]
) -> Run:
    """One run of automation `name` (written to automations/), through the scheduler's own
    `execute`, which traces it and records it in `.cairn/runs.sqlite`."""
    (root / "automations" / f"{name}.md").write_text(
        f"---\nschedule: every 1 day\nspace: chief-of-staff\n---\n{body}\n", encoding="utf-8"
    )
    engines = engines_for(scripts)

    def factory(model: WorkspaceModel, where: Path, automation: str) -> TaskRunner:
        runner = runner_for(model, where, engines, automation=automation)
        original = runner.run

        def counted(*args: object, **kwargs: object) -> Iterable[object]:
            return tally.count(original(*args, **kwargs), engines)  # type: ignore[arg-type]

        runner.run = counted  # type: ignore[method-assign]
        return runner

    with RunStore(root) as store:
        run = execute(
            root,
            name,
            trigger="run-now",
            slot=datetime.now(UTC),
            store=store,
            runner_factory=factory,
        )
    assert isinstance(run, Run)
    return run


def run_sample(root: Path) -> Tally:
    """Five tasks and two automation runs, with `SECRET` in their requests, answers, a file
    a tool reads and a tool's arguments:

    | run                               | ends       | model calls           |
    | --------------------------------- | ---------- | --------------------- |
    | task in team                      | done       | 1 cloud               |
    | task in chief-of-staff (private)  | done       | 2 local (a tool call) |
    | task, cancelled before its call   | cancelled  | none                  |
    | task whose model refuses          | failed     | none                  |
    | task whose write is queued        | waiting    | 2 cloud               |
    | automation in chief-of-staff      | done       | 1 local               |
    | automation whose model refuses    | failed     | none                  |
    """
    readme = root / "spaces/chief-of-staff/readme.md"
    readme.write_text(readme.read_text() + f"\nThe vault word is {SECRET}.\n")
    tally = Tally()
    team = TaskOptions(space="team", plan="never", approvals="queue")
    private = TaskOptions(space="chief-of-staff", plan="never", approvals="queue")
    refused = EngineError("bad_request", f"refused: {SECRET}")
    run_task(root, tally, f"Summarise the week {SECRET}", team, {"cloud-fast": [f"Done {SECRET}"]})
    read = ToolCall("c1", "read_file", {"path": "spaces/chief-of-staff/readme.md"})
    run_task(
        root, tally, "What is the vault word?", private, {"local-small": [read, f"It is {SECRET}"]}
    )
    run_task(root, tally, f"Never mind {SECRET}", team, {}, cancelled=True)
    run_task(root, tally, f"Try this {SECRET}", team, {"cloud-fast": [refused]})
    write = ToolCall("c2", "write_file", {"path": "spaces/team/notes.md", "content": SECRET})
    run_task(
        root, tally, f"Note {SECRET}", team, {"cloud-fast": [write, "Queued the note for you."]}
    )
    done = run_automation(root, tally, "tidy", f"Tidy up {SECRET}.", {"local-small": ["Tidied."]})
    assert done.status == "done", done.reason
    failed = run_automation(root, tally, "stuck", "Try.", {"local-small": [refused]})
    assert failed.status == "failed", failed.reason
    return tally
