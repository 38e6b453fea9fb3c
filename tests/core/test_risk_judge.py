"""The model's risk judgement can only tighten a rule."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from cairn.core.engine import EngineError, Usage
from cairn.core.routing.dispatch import Dispatcher, Routed
from cairn.core.routing.router import Router
from cairn.core.tasks.approvals import PermissionCheck, tighten
from cairn.core.tasks.loop import model_risk_judge
from cairn.core.tasks.provenance import Provenance
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.schema import AgentsPolicy
from cairn.testing.scripted_engine import ScriptedEngine

EMPTY = Workspace(None, {}, {}, {}, {}, ())


def verdict(judged: Generator[object, None, str], events: list[object] | None = None) -> str:
    """Run a judgement to its verdict, keeping the events it yields."""
    while True:
        try:
            event = next(judged)
        except StopIteration as done:
            return str(done.value)
        if events is not None:
            events.append(event)


def ask(
    judge: Any, arguments: dict[str, Any], path: str, events: list[object] | None = None
) -> str:
    return verdict(judge("write_file", arguments, path, Provenance(EMPTY)), events)


POLICY = AgentsPolicy.model_validate(
    {
        "models": {"gate": {"engine": "local", "path": "gate.gguf"}},
        "roles": {"gate": ["gate"]},
        "routing": {"approval": "gate", "work": "gate"},
    }
)


def judge_with(*answers: object) -> tuple[object, ScriptedEngine]:
    engine = ScriptedEngine("gate", list(answers))  # type: ignore[arg-type]
    return model_risk_judge(Dispatcher(Router(POLICY), lambda _: engine)), engine


def test_high_risk_turns_allow_into_ask_and_low_changes_nothing() -> None:
    judge, engine = judge_with('{"risk": "high", "reason": "overwrites the roadmap"}')
    allow = PermissionCheck("allow", 7, "rule 8: write_file → allow")
    events: list[object] = []
    assert tighten(allow, ask(judge, {"path": "a.md"}, "a.md", events)).decision == "ask"
    # The judgement's routing and usage come out as events: traced and counted.
    assert any(isinstance(e, Routed) and e.decision.kind == "approval" for e in events)
    assert any(isinstance(e, Usage) for e in events)
    assert engine.requests[0].json_schema is not None  # a structured verdict was asked for
    judge, _ = judge_with('{"risk": "low"}')
    assert tighten(allow, ask(judge, {}, "a.md")).decision == "allow"


def test_a_model_never_loosens_a_rule() -> None:
    deny = PermissionCheck("deny", 0, "rule 1: deny")
    ask = PermissionCheck("ask", None, "no rule matched")
    assert tighten(deny, "low").decision == "deny"
    assert tighten(ask, "low").decision == "ask"


def test_a_judge_that_fails_changes_nothing() -> None:
    judge, _ = judge_with(EngineError("unavailable", "gone"))
    assert ask(judge, {}, "a.md") == "low"
    judge, _ = judge_with("not json at all")
    assert ask(judge, {}, "a.md") == "low"
