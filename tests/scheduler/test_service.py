"""AutomationScheduler in this process: a real workspace, real files, a real run database,
the real watcher and APScheduler; only the task runner is scripted (task events, no
model), so a run's end is under the test's control."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cairn.core.engine import CancelToken, Usage
from cairn.core.tasks.events import TaskCancelled, TaskFailed, TaskFinished, TaskStarted
from cairn.core.tasks.options import TaskOptions
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.runs import Run, RunStore
from cairn.scheduler import AutomationScheduler
from cairn.scheduler.execute import TaskRunnerLike
from cairn.testing.fakes import ListNotifier

HOURLY = """---
schedule: "every 1 hour"
space: chief-of-staff
headless: {{on_approval: skip}}
enabled: {enabled}
---
{body}
"""


class Runner:
    """Yields a task's events; `hold` keeps the task going until it is cancelled."""

    def __init__(self, outcome: str = "done", hold: threading.Event | None = None) -> None:
        self.task = f"t-{time.monotonic_ns()}"
        self.outcome = outcome
        self.hold = hold

    def run(
        self, request: str, options: TaskOptions, cancel: CancelToken | None = None
    ) -> Iterator[object]:
        yield TaskStarted(self.task, request, options.space)
        if self.hold is not None:
            self.hold.set()
            while cancel is not None and not cancel.cancelled:
                time.sleep(0.01)
            yield TaskCancelled(self.task, "stopped by the scheduler")
            return
        yield Usage(120, 30, 0.0)
        if self.outcome == "budget":
            yield TaskFailed(self.task, "the automation run would pass 100 tokens", "budget")
        else:
            yield TaskFinished(self.task, "ok", 120, 30, 0.0, None)


def factory(make: Callable[[], Runner]) -> Callable[[WorkspaceModel, Path, str], TaskRunnerLike]:
    return lambda model, root, name: make()


def wait_for(check: Callable[[], object], timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def finished_runs(root: Path, name: str) -> list[Run]:
    with RunStore(root) as store:
        return [r for r in store.history(name) if r.status not in ("running", "skipped")]


def test_start_up_catches_up_the_latest_missed_slot_and_records_it(starter: Path) -> None:
    (starter / "automations" / "hourly.md").write_text(
        HOURLY.format(enabled="true", body="Check the inbox.")
    )
    with RunStore(starter) as store:  # seen three hours ago; Cairn has not run since
        store.first_seen("hourly", datetime.now(UTC) - timedelta(hours=3))
    notices = ListNotifier()
    scheduler = AutomationScheduler(starter, notifier=notices, runner_factory=factory(Runner))
    scheduler.start()
    try:
        runs = wait_for(lambda: finished_runs(starter, "hourly"))
    finally:
        scheduler.stop()
    assert [(r.trigger, r.status) for r in runs] == [("catch-up", "done")]  # type: ignore[union-attr]
    with RunStore(starter) as store:
        skipped = [r for r in store.history("hourly") if r.status == "skipped"]
    assert len(skipped) == 2 and all(r.reason for r in skipped)
    assert [n.title for n in notices.notices] == ["hourly: done"]
    log = (starter / "spaces/chief-of-staff/history/automations/hourly.md").read_text()
    assert log.count("\n## ") == 3 and "· done" in log and "· skipped" in log


def test_files_added_edited_paused_and_broken_are_rescheduled_live(starter: Path) -> None:
    scheduler = AutomationScheduler(
        starter, notifier=ListNotifier(), runner_factory=factory(Runner)
    )
    scheduler.start()
    path = starter / "automations" / "hourly.md"

    def state(name: str) -> object:
        return next((s for s in scheduler.states() if s.name == name), None)

    try:
        assert state("hourly") is None
        path.write_text(HOURLY.format(enabled="true", body="Check the inbox."))
        added = wait_for(lambda: (s := state("hourly")) and s.next_run and s)
        assert added.scheduled  # type: ignore[attr-defined]
        path.write_text(HOURLY.format(enabled="false", body="Check the inbox."))
        paused = wait_for(lambda: (s := state("hourly")) and not s.scheduled and s)
        assert "paused" in paused.problem and paused.next_run is None  # type: ignore[attr-defined]
        path.write_text(
            HOURLY.format(enabled="true", body="Check it.").replace("space:", "skill: nope\nspace:")
        )
        broken = wait_for(
            lambda: (s := state("hourly")) and s.problem and "nope" in s.problem and s
        )
        assert not broken.scheduled  # type: ignore[attr-defined]
        assert state("morning-brief").scheduled  # type: ignore[attr-defined]  # the others go on
        path.unlink()
        wait_for(lambda: state("hourly") is None)
    finally:
        scheduler.stop()
    with RunStore(starter) as store:
        assert store.note_resumed("hourly") is not None  # its time away is remembered


def test_stop_interrupts_a_run_in_progress_and_records_it(starter: Path) -> None:
    started = threading.Event()
    scheduler = AutomationScheduler(
        starter, notifier=ListNotifier(), runner_factory=factory(lambda: Runner(hold=started))
    )
    scheduler.start()
    future = scheduler.run_now("morning-brief")
    assert started.wait(15)
    scheduler.stop(interrupt=True, timeout=15)
    run = future.result(timeout=15)
    assert isinstance(run, Run) and run.status == "interrupted"
    assert run.trigger == "run-now"


def test_a_budget_stop_is_a_paused_run_and_a_notice(starter: Path) -> None:
    notices = ListNotifier()
    scheduler = AutomationScheduler(
        starter, notifier=notices, runner_factory=factory(lambda: Runner("budget"))
    )
    scheduler.start()
    try:
        run = scheduler.run_now("morning-brief").result(timeout=15)
    finally:
        scheduler.stop()
    assert isinstance(run, Run) and run.status == "paused"
    (notice,) = notices.notices
    assert notice.title == "morning-brief: paused by budget"
    assert "Did you mean to spend this?" in notice.body and notice.urgency == "attention"


@pytest.mark.parametrize("status", ["needs-approval", "failed"])
def test_notices_say_what_needs_a_person(starter: Path, status: str) -> None:
    from cairn.scheduler import notice_for

    with RunStore(starter) as store:
        claim = store.claim("x", datetime.now(UTC), "schedule")
        run = store.finish(claim.id, status, cost_usd=0, tokens=0, trace=None, reason="why")  # type: ignore[union-attr, arg-type]
    title, body, urgency = notice_for(run)  # type: ignore[misc]
    assert title == f"x: {status.replace('-', ' ')}"
    assert urgency == ("attention" if status == "needs-approval" else "failure")
    assert "why" in body


def test_runs_claimed_but_not_started_are_recorded_when_the_scheduler_stops(
    starter: Path,
) -> None:
    """One run thread: the first catch-up runs (and holds), the second waits for the
    thread. Stopping interrupts the first and records the second: a claim left `running`
    would block that automation for as long as this process lives (the app goes on)."""
    with RunStore(starter) as store:
        for name in ("one", "two"):
            (starter / "automations" / f"{name}.md").write_text(
                HOURLY.format(enabled="true", body="Check the inbox.")
            )
            store.first_seen(name, datetime.now(UTC) - timedelta(hours=3))
    started = threading.Event()
    scheduler = AutomationScheduler(
        starter,
        notifier=ListNotifier(),
        runner_factory=factory(lambda: Runner(hold=started)),
        max_parallel_runs=1,
    )
    scheduler.start()
    assert started.wait(15)
    wait_for(lambda: len([r for r in runs_of(starter) if r.status == "running"]) == 2)
    scheduler.stop(interrupt=True, timeout=15)
    claimed = [r for r in runs_of(starter) if r.status != "skipped"]
    assert sorted(r.status for r in claimed) == ["interrupted", "interrupted"]
    assert any("before the run could start" in (r.reason or "") for r in claimed)


def runs_of(root: Path) -> list[Run]:
    with RunStore(root) as store:
        return store.history()
