"""Failover, budgets and the sensitivity guard, with scripted engines (real ChatEngines)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cairn.core.engine import ChatRequest, EngineError, Message, TextDelta, Usage
from cairn.core.routing.budget import BudgetGuard, BudgetPaused, SpendRecord
from cairn.core.routing.dispatch import (
    BudgetWarning,
    Dispatcher,
    FellBack,
    Routed,
    RoutingStopped,
    SensitivityBreach,
)
from cairn.core.routing.router import Router, Step
from cairn.core.workspace.schema import AgentsPolicy, Budgets
from cairn.testing.fakes import ListLedger
from cairn.testing.scripted_engine import ScriptedEngine

REQUEST = ChatRequest((Message("user", "Summarise the roadmap in one line."),), max_tokens=50)


def setup(**engines: ScriptedEngine) -> tuple[Dispatcher, dict[str, ScriptedEngine]]:
    policy = AgentsPolicy.model_validate(
        {
            "models": {
                "primary": {"engine": "litellm", "model": "openai/gpt-4o-mini"},
                "backup": {"engine": "litellm", "model": "anthropic/claude-3-5-haiku"},
                "small": {"engine": "local", "path": "small.gguf"},
            },
            "roles": {"worker": ["primary", "backup", "small"], "local": ["small"]},
            "routing": {"work": "worker", "sensitive": "local"},
        }
    )
    pool = {
        "primary": ScriptedEngine("primary", is_local=False, cost_per_token=1e-5),
        "backup": ScriptedEngine("backup", is_local=False, cost_per_token=1e-5),
        "small": ScriptedEngine("small", is_local=True),
        **engines,
    }
    return Dispatcher(Router(policy), pool.__getitem__, ledger=ListLedger()), pool


def run(dispatcher: Dispatcher, step: Step | None = None) -> list[Any]:
    return list(dispatcher.run(step or Step("Summarise"), REQUEST))


@pytest.mark.parametrize(
    "kind",
    [
        "unavailable",
        "timeout",
        "rate_limited",
        "server_error",
        "authentication",
        "context_too_long",
        "out_of_memory",
    ],
)
def test_each_fault_falls_back_and_says_why(kind: str) -> None:
    failing = ScriptedEngine(
        "primary", [EngineError(kind, f"{kind}!", retry_after=7)], is_local=False
    )
    dispatcher, pool = setup(primary=failing)
    events = run(dispatcher)
    fell = [e for e in events if isinstance(e, FellBack)]
    assert [(f.model, f.kind) for f in fell] == [("primary", kind)]
    routed = [e for e in events if isinstance(e, Routed)]
    assert [r.decision.chosen for r in routed] == ["primary", "backup"]
    assert routed[1].decision.tried == ("primary",)
    assert "already tried" in routed[1].decision.explain()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "ok"
    assert len(pool["backup"].requests) == 1


def test_rate_limit_cooldown_outlives_the_step() -> None:
    failing = ScriptedEngine(
        "primary", [EngineError("rate_limited", "429", retry_after=60), "ok"], is_local=False
    )
    dispatcher, _ = setup(primary=failing)
    run(dispatcher)
    second = next(e for e in run(dispatcher) if isinstance(e, Routed)).decision
    assert second.chosen == "backup"
    assert "cooling down for 60 s after rate_limited" in second.explain()


def test_all_models_down_is_a_clear_stop() -> None:
    down = [EngineError("unavailable", "connection refused")]
    dispatcher, _ = setup(
        primary=ScriptedEngine("primary", list(down), is_local=False),
        backup=ScriptedEngine("backup", list(down), is_local=False),
        small=ScriptedEngine("small", list(down)),
    )
    with pytest.raises(RoutingStopped) as caught:
        run(dispatcher)
    text = caught.value.decision.explain()
    assert "primary" in text and "backup" in text and "small" in text
    assert "every model was passed over" in str(caught.value)


def test_bad_request_is_not_retried_elsewhere() -> None:
    dispatcher, pool = setup(
        primary=ScriptedEngine(
            "primary", [EngineError("bad_request", "bad schema")], is_local=False
        )
    )
    with pytest.raises(EngineError):
        run(dispatcher)
    assert pool["backup"].requests == []


def test_no_failover_after_the_answer_started() -> None:
    flaky = ScriptedEngine(
        "primary", [EngineError("server_error", "stream broke")], is_local=False, fail_after=2
    )
    dispatcher, pool = setup(primary=flaky)
    with pytest.raises(EngineError):
        run(dispatcher)
    assert pool["backup"].requests == []


def test_sensitive_step_never_reaches_a_cloud_engine() -> None:
    dispatcher, pool = setup(small=ScriptedEngine("small", [EngineError("unavailable", "gone")]))
    step = Step("Reply", context="my password: hunter22")
    with pytest.raises(RoutingStopped) as caught:
        run(dispatcher, step)
    assert pool["primary"].requests == [] and pool["backup"].requests == []
    assert "sensitive" in caught.value.decision.explain()


def test_engine_must_agree_it_is_local() -> None:
    # agents.md says local, but the engine it builds sends data elsewhere: refuse.
    dispatcher, pool = setup(small=ScriptedEngine("small", is_local=False))
    with pytest.raises(SensitivityBreach):
        run(dispatcher, Step("x", context="IBAN DE89 3704 0044 0532 0130 00"))
    assert pool["small"].requests == []


def test_budget_pauses_before_the_call_that_would_cross_it() -> None:
    dispatcher, pool = setup()
    ledger = ListLedger()
    ledger.append(
        SpendRecord(datetime.now(UTC).astimezone(), "primary", False, 100, 0, 0.0095, "task-1")
    )
    dispatcher.ledger = ledger
    dispatcher.guard = BudgetGuard(
        Budgets.model_validate({"task": {"usd": 0.01}}), ledger, task="task-1"
    )
    dispatcher.price = lambda model, i, o: (i + o) * 1e-5
    with pytest.raises(BudgetPaused) as caught:
        run(dispatcher)
    assert pool["primary"].requests == []  # paused before, not after
    assert caught.value.verdict.scope == "task" and "continue?" in str(caught.value)
    dispatcher.guard.continue_past("task")
    events = run(dispatcher)
    assert any(isinstance(e, Usage) for e in events)
    assert len(ledger.items) == 2 and ledger.items[-1].task == "task-1"


def test_budget_warning_is_an_event() -> None:
    dispatcher, _ = setup()
    ledger = ListLedger()
    dispatcher.ledger = ledger
    dispatcher.guard = BudgetGuard(
        Budgets.model_validate({"task": {"tokens": 70}}), ledger, task="t"
    )
    events = run(dispatcher)
    assert any(isinstance(e, BudgetWarning) for e in events)


def test_context_too_long_moves_to_a_bigger_window() -> None:
    small_window = ScriptedEngine("primary", ["ok"], is_local=False, context_window=5)
    dispatcher, pool = setup(primary=small_window)
    events = run(dispatcher)
    assert pool["primary"].requests == []  # counted before sending: it cannot fit
    decisions = [e.decision for e in events if isinstance(e, Routed)]
    assert [d.chosen for d in decisions] == ["backup"]
    assert "window of 5 tokens is too small" in decisions[0].explain()


def test_a_model_that_fails_to_load_falls_back() -> None:
    class Unloadable(ScriptedEngine):
        def count_tokens(self, messages: Any, tools: Any = ()) -> int:
            raise EngineError("out_of_memory", "needs 40 GiB, 8 GiB available")

    dispatcher, pool = setup(primary=Unloadable("primary", is_local=False))
    events = run(dispatcher)
    assert [f.kind for f in events if isinstance(f, FellBack)] == ["out_of_memory"]
    assert len(pool["backup"].requests) == 1
