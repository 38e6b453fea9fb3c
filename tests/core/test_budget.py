"""Budgets are checked before each call: warn at 80%, pause before crossing, minutes too."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cairn.core.routing.budget import BudgetGuard, Spend, SpendRecord
from cairn.core.workspace.schema import Budgets
from cairn.testing.fakes import ListLedger

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def spend(
    ledger: ListLedger, usd: float, tokens: int = 0, task: str = "t1", at: datetime = NOW
) -> None:
    ledger.append(SpendRecord(at, "fast", False, tokens, 0, usd, task))


def budgets(**data: object) -> Budgets:
    return Budgets.model_validate(data)


def test_ok_warn_pause_on_money() -> None:
    ledger = ListLedger()
    guard = BudgetGuard(budgets(task={"usd": 1.0}), ledger, task="t1", today=NOW.date)
    assert guard.check(Spend(100, 0.10)).state == "ok"
    spend(ledger, 0.75)
    warn = guard.check(Spend(100, 0.10))
    assert warn.state == "warn" and "85%" in warn.reason
    pause = guard.check(Spend(100, 0.30))
    assert pause.state == "pause" and pause.scope == "task"
    assert "$1.0500" in pause.reason and "spent so far" in pause.reason
    guard.continue_past("task")
    assert guard.check(Spend(100, 0.30)).state == "ok"


def test_tokens_and_other_tasks() -> None:
    ledger = ListLedger()
    spend(ledger, 0.0, tokens=9_000, task="other")
    guard = BudgetGuard(budgets(task={"tokens": 10_000}), ledger, task="t1", today=NOW.date)
    assert guard.check(Spend(5_000)).state == "ok"  # another task's spend does not count
    spend(ledger, 0.0, tokens=6_000)
    assert guard.check(Spend(5_000)).state == "pause"


def test_day_limit_counts_every_task_today_only() -> None:
    ledger = ListLedger()
    spend(ledger, 4.0, task="a")
    spend(ledger, 9.0, task="b", at=NOW - timedelta(days=1))
    guard = BudgetGuard(budgets(day={"usd": 5.0}), ledger, task="c", today=NOW.date)
    verdict = guard.check(Spend(10, 1.5))
    assert verdict.state == "pause" and verdict.scope == "day"


def test_long_running_task_pauses() -> None:
    clock = [0.0]
    guard = BudgetGuard(
        budgets(task={"minutes": 10}),
        ListLedger(),
        task="t",
        clock=lambda: clock[0],
        today=date.today,
    )
    assert guard.check(Spend()).state == "ok"
    clock[0] = 11 * 60
    verdict = guard.check(Spend())
    assert verdict.state == "pause" and "11.0 minutes" in verdict.reason


def test_automation_runs_use_their_own_limit() -> None:
    ledger = ListLedger()
    guard = BudgetGuard(
        budgets(task={"usd": 10}, automation_run={"usd": 0.1}),
        ledger,
        task="run-1",
        automation="morning-brief",
        today=NOW.date,
    )
    verdict = guard.check(Spend(10, 0.2))
    assert verdict.state == "pause" and verdict.scope == "automation run"
