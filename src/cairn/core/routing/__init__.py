"""The routing wing: which model runs a step, and why — and what it may spend.

It owns the policy router (kinds → roles → models, with every decision explained), the
offline sensitivity detector and the one table of secret patterns, file marks and scopes,
failover with cooldowns, and budgets with the spend ledger's protocol. It reads the
workspace wing; it knows nothing of tasks.
"""

from __future__ import annotations

from cairn.core.routing.budget import BudgetGuard, BudgetPaused, SpendLedger, SpendRecord
from cairn.core.routing.dispatch import (
    BudgetWarning,
    Dispatcher,
    FellBack,
    Routed,
    RoutingStopped,
    SensitivityBreach,
)
from cairn.core.routing.marks import file_sensitivity, is_marked, space_of
from cairn.core.routing.router import Decision, ModelHealth, Overrides, Router, Step
from cairn.core.routing.sensitivity import Finding, scan
from cairn.core.routing.steps import build_step, overrides_for

__all__ = [
    "BudgetGuard",
    "BudgetPaused",
    "BudgetWarning",
    "Decision",
    "Dispatcher",
    "FellBack",
    "Finding",
    "ModelHealth",
    "Overrides",
    "Routed",
    "Router",
    "RoutingStopped",
    "SensitivityBreach",
    "SpendLedger",
    "SpendRecord",
    "Step",
    "build_step",
    "file_sensitivity",
    "is_marked",
    "overrides_for",
    "scan",
    "space_of",
]
