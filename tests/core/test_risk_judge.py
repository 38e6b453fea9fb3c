"""The model's risk judgement can only tighten a rule."""

from __future__ import annotations

from cairn.core.approvals import PermissionCheck, tighten
from cairn.core.dispatch import Dispatcher
from cairn.core.engine import EngineError
from cairn.core.loop import model_risk_judge
from cairn.core.routing import Router
from cairn.core.schema import AgentsPolicy
from cairn.testing.scripted_engine import ScriptedEngine

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
    assert tighten(allow, judge("write_file", {"path": "a.md"}, "a.md")).decision == "ask"
    assert engine.requests[0].json_schema is not None  # a structured verdict was asked for
    judge, _ = judge_with('{"risk": "low"}')
    assert tighten(allow, judge("write_file", {}, "a.md")).decision == "allow"


def test_a_model_never_loosens_a_rule() -> None:
    deny = PermissionCheck("deny", 0, "rule 1: deny")
    ask = PermissionCheck("ask", None, "no rule matched")
    assert tighten(deny, "low").decision == "deny"
    assert tighten(ask, "low").decision == "ask"


def test_a_judge_that_fails_changes_nothing() -> None:
    judge, _ = judge_with(EngineError("unavailable", "gone"))
    assert judge("write_file", {}, "a.md") == "low"
    judge, _ = judge_with("not json at all")
    assert judge("write_file", {}, "a.md") == "low"
