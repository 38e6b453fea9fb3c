"""The spend ledger survives restarts and torn lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cairn.core.routing.budget import BudgetGuard, Spend, SpendRecord
from cairn.core.workspace.schema import Budgets
from cairn.infra.ledger import JsonlLedger

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def record(cost: float | None, task: str = "t") -> SpendRecord:
    return SpendRecord(AT, "cloud-fast", False, 1000, 200, cost, task, None)


def test_append_and_read_back_after_a_restart(tmp_path: Path) -> None:
    ledger = JsonlLedger.for_workspace(tmp_path)
    ledger.append(record(0.01))
    ledger.append(record(None, task="u"))
    again = JsonlLedger.for_workspace(tmp_path)  # a new process reading the same file
    items = list(again.records())
    assert [(r.cost_usd, r.task) for r in items] == [(0.01, "t"), (None, "u")]
    assert items[0].at == AT and items[0].tokens == 1200
    assert (tmp_path / ".cairn" / "spend.jsonl").stat().st_mode & 0o077 == 0


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    ledger = JsonlLedger(tmp_path / "spend.jsonl")
    ledger.append(record(0.02))
    with (tmp_path / "spend.jsonl").open("a") as handle:
        handle.write('{"at": "2026-11-20T09:31:00+00:00", "model": "cl')  # crash mid-write
    assert [r.cost_usd for r in ledger.records()] == [0.02]
    ledger.append(record(0.03))  # appending after a torn line still works
    assert [r.cost_usd for r in ledger.records()] == [0.02, 0.03]


def test_daily_budget_counts_spend_from_before_a_restart(tmp_path: Path) -> None:
    JsonlLedger.for_workspace(tmp_path).append(record(4.5, task="yesterday's-task"))
    guard = BudgetGuard(
        Budgets.model_validate({"day": {"usd": 5}}),
        JsonlLedger.for_workspace(tmp_path),
        task="new",
        today=AT.date,
    )
    assert guard.check(Spend(100, 0.6)).state == "pause"


def test_reads_only_what_was_appended_since_even_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "spend.jsonl"
    reader, writer = JsonlLedger(path), JsonlLedger(path)  # two processes, one file
    writer.append(record(0.01))
    assert [r.cost_usd for r in reader.records()] == [0.01]
    writer.append(record(0.02))
    assert [r.cost_usd for r in reader.records()] == [0.01, 0.02]
    path.write_text("")  # emptied by hand: start over
    assert list(reader.records()) == []
