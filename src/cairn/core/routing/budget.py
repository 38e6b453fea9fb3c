"""Budgets, checked before each model call — never discovered afterwards.

Limits come from `agents.md` (`budgets.task`, `.automation_run`, `.day`), in tokens,
dollars and minutes. Before a call the guard adds what the call could cost (the prompt
plus the most it may generate) to what was already spent: at `warn_at` of a limit it
warns, at 100% it pauses *before* the call that would cross it, and a task that runs
past its minutes pauses too. Spending is kept in an append-only ledger (see
`cairn.infra.ledger`), so the daily limit survives restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from cairn.core.errors import CairnError
from cairn.core.ports import SpendLedger, SpendRecord

__all__ = [
    "BudgetGuard",
    "BudgetPaused",
    "Spend",
    "SpendLedger",
    "SpendRecord",
    "Verdict",
    "conservative_cost",
    "counted_cost",
]
from cairn.core.workspace.schema import BudgetLimit, Budgets

VerdictState = Literal["ok", "warn", "pause"]

UNKNOWN_PRICE_PER_MILLION = (15.0, 75.0)
"""Dollars per million input and output tokens charged against budgets for a cloud model
whose price is unknown (not in litellm's price map): the price of the dearest common
models, so a dollar limit errs on the side of stopping early rather than never."""


def conservative_cost(input_tokens: int, output_tokens: int) -> float:
    per_in, per_out = UNKNOWN_PRICE_PER_MILLION
    return (input_tokens * per_in + output_tokens * per_out) / 1_000_000


@dataclass(frozen=True, slots=True)
class Spend:
    tokens: int = 0
    usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.tokens + other.tokens, self.usd + other.usd)

    def describe(self) -> str:
        return f"{self.tokens:,} tokens, ${self.usd:.4f}"


@dataclass(frozen=True, slots=True)
class Verdict:
    state: VerdictState
    reason: str
    scope: str | None = None  # "task", "automation run", "day"
    spent: Spend = Spend()
    projected: Spend = Spend()
    limit: BudgetLimit | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "reason": self.reason,
            "scope": self.scope,
            "spent": {"tokens": self.spent.tokens, "usd": round(self.spent.usd, 6)},
            "projected": {"tokens": self.projected.tokens, "usd": round(self.projected.usd, 6)},
        }


class BudgetPaused(CairnError):
    """A call was not made: it would cross a budget, or the task ran past its time."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def counted_cost(record: SpendRecord) -> float:
    """What a call counts against dollar limits: its price, or for a cloud call of unknown
    price the conservative one (a local call costs nothing)."""
    if record.cost_usd is not None:
        return record.cost_usd
    return 0.0 if record.local else conservative_cost(record.input_tokens, record.output_tokens)


def _sum(records: Iterable[SpendRecord]) -> Spend:
    total = Spend()
    for record in records:
        total += Spend(record.tokens, counted_cost(record))
    return total


class BudgetGuard:
    """Checks one task's (or automation run's) next call against every limit."""

    def __init__(
        self,
        budgets: Budgets,
        ledger: SpendLedger,
        *,
        task: str,
        automation: str | None = None,
        started: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.budgets = budgets
        self.ledger = ledger
        self.task = task
        self.automation = automation
        self._clock = clock
        self._started = started if started is not None else clock()
        self._today = today
        self.approved_over: set[str] = set()  # scopes the user chose to continue past

    def spent(self) -> dict[str, Spend]:
        today = self._today()
        records = list(self.ledger.records())
        return {
            "task": _sum(r for r in records if r.task == self.task),
            "day": _sum(r for r in records if r.at.date() == today),
        }

    def check(self, projected: Spend) -> Verdict:
        """The verdict for a call that could spend `projected`."""
        minutes = (self._clock() - self._started) / 60
        spent = self.spent()
        scopes: list[tuple[str, BudgetLimit | None, Spend]] = [
            (
                "automation run" if self.automation else "task",
                self.budgets.automation_run if self.automation else self.budgets.task,
                spent["task"],
            ),
            ("day", self.budgets.day, spent["day"]),
        ]
        warning: Verdict | None = None
        for scope, limit, used in scopes:
            if limit is None or scope in self.approved_over:
                continue
            if limit.minutes is not None and scope != "day" and minutes > limit.minutes:
                return Verdict(
                    "pause",
                    f"the {scope} has run {minutes:.1f} minutes, past its "
                    f"limit of {limit.minutes:g}; continue?",
                    scope,
                    used,
                    projected,
                    limit,
                )
            after = used + projected
            for unit, value, cap in (
                ("tokens", after.tokens, limit.tokens),
                ("usd", after.usd, limit.usd),
            ):
                if cap is None:
                    continue
                if value > cap:
                    return Verdict(
                        "pause",
                        f"this call could bring the {scope}'s spend to {_fmt(unit, value)}, "
                        f"over its limit of {_fmt(unit, cap)} (spent so far: "
                        f"{used.describe()}); continue?",
                        scope,
                        used,
                        projected,
                        limit,
                    )
                if warning is None and cap > 0 and value >= self.budgets.warn_at * cap:
                    warning = Verdict(
                        "warn",
                        f"the {scope} is at {value / cap:.0%} of its {unit} limit "
                        f"({_fmt(unit, value)} of {_fmt(unit, cap)})",
                        scope,
                        used,
                        projected,
                        limit,
                    )
        return warning or Verdict("ok", "within every budget", None, spent["task"], projected)

    def continue_past(self, scope: str) -> None:
        """The user saw the pause and chose to go on: stop checking that scope."""
        self.approved_over.add(scope)


def _fmt(unit: str, value: float) -> str:
    return f"${value:.4f}" if unit == "usd" else f"{int(value):,} tokens"
