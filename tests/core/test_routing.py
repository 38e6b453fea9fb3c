"""Routing decisions from a policy: pure, no models called."""

from __future__ import annotations

from typing import Any

from cairn.core.routing.router import ModelHealth, Overrides, Router, Step
from cairn.core.workspace.schema import AgentsPolicy


def policy(**changes: Any) -> AgentsPolicy:
    data: dict[str, Any] = {
        "models": {
            "small": {"engine": "local", "path": "small.gguf", "context": 8192},
            "fast": {"engine": "litellm", "model": "openai/gpt-4o-mini", "context": 128000},
            "strong": {
                "engine": "litellm",
                "model": "anthropic/claude-sonnet-4-5",
                "context": 200000,
            },
            "ollama": {
                "engine": "litellm",
                "model": "ollama/llama3",
                "api_base": "http://127.0.0.1:11434",
            },
        },
        "roles": {
            "planner": ["strong", "fast", "small"],
            "worker": ["fast", "strong"],
            "local": ["small"],
        },
        "routing": {"plan": "planner", "work": "worker", "sensitive": "local", "memory": "local"},
    }
    data.update(changes)
    return AgentsPolicy.model_validate(data)


def test_kind_goes_to_its_role_in_order() -> None:
    decision = Router(policy()).decide(Step("Outline the launch plan", kind="plan"))
    assert decision.role == "planner" and decision.chosen == "strong"
    assert decision.chosen_is_local is False
    assert "agents.md routes 'plan'" in decision.rule
    assert not decision.sensitivity.sensitive


def test_unknown_kind_falls_back_to_work() -> None:
    decision = Router(policy()).decide(Step("Tidy the notes", kind="tidy"))
    assert decision.role == "worker" and "no route for 'tidy'" in decision.rule


def test_overrides_most_specific_wins() -> None:
    router = Router(policy())
    step = Step("Draft", kind="work", space="team", skill="draft-a-reply", automation="brief")
    assert router.decide(step, Overrides(space={"work": "planner"})).role == "planner"
    both = Overrides(skill={"work": "local"}, space={"work": "planner"})
    assert router.decide(step, both).role == "local"
    everything = Overrides(
        automation={"work": "worker"}, skill={"work": "local"}, space={"work": "planner"}
    )
    decision = router.decide(step, everything)
    assert decision.role == "worker" and "automation 'brief'" in decision.rule


def test_detected_personal_data_stays_local() -> None:
    step = Step("Reply to the customer", context="Her email is ana@example.com")
    decision = Router(policy()).decide(step)
    assert decision.sensitivity.sensitive
    assert decision.chosen == "small" and decision.chosen_is_local
    assert {p.model for p in decision.passed_over} == {"fast", "strong"}
    assert all("sensitive" in p.reason for p in decision.passed_over)
    assert "email" in decision.explain()
    assert "ana@example.com" not in decision.explain()


def test_private_space_and_marked_files_are_sensitive() -> None:
    router = Router(policy())
    private = router.decide(Step("Plan my week", kind="plan", space="me", space_scope="private"))
    assert private.chosen == "small"
    assert "space 'me' is private" in private.sensitivity.reasons
    marked = router.decide(Step("Summarise", sensitive_sources=("spaces/team/salaries.md",)))
    assert marked.chosen == "small"


def test_loopback_endpoint_counts_as_local() -> None:
    p = policy(roles={"worker": ["fast", "ollama"]})
    decision = Router(p).decide(Step("x", context="call +44 20 7946 0958"))
    assert decision.chosen == "ollama" and decision.chosen_is_local


def test_sensitive_without_a_local_model_stops_with_the_fix() -> None:
    p = policy(
        models={"fast": {"engine": "litellm", "model": "openai/gpt-4o-mini"}},
        roles={"worker": ["fast"]},
        routing={"work": "worker"},
    )
    decision = Router(p).decide(Step("x", context="IBAN DE89 3704 0044 0532 0130 00"))
    assert decision.chosen is None
    assert decision.stop_reason is not None and "no local model" in decision.stop_reason
    assert "cairn models" in decision.stop_reason


def test_no_local_model_still_works_in_the_cloud() -> None:
    p = policy(
        models={"fast": {"engine": "litellm", "model": "openai/gpt-4o-mini"}},
        roles={"worker": ["fast"]},
        routing={"work": "worker"},
    )
    assert Router(p).decide(Step("Summarise the roadmap")).chosen == "fast"


def test_opted_out_providers() -> None:
    denied = Router(policy(providers={"deny": ["openai"]})).decide(Step("x"))
    assert denied.chosen == "strong"
    assert "opted out" in denied.passed_over[0].reason
    allowed = Router(policy(providers={"allow": ["anthropic"]})).decide(Step("x"))
    assert allowed.chosen == "strong"


def test_cooldown_back_off_and_retry_after() -> None:
    now = [100.0]
    health = ModelHealth(clock=lambda: now[0], base_s=5)
    router = Router(policy(), health)
    assert health.failed("fast", "rate_limited", retry_after=30) == 30
    decision = router.decide(Step("x"))
    assert decision.chosen == "strong"
    assert "cooling down for 30 s after rate_limited" in decision.passed_over[0].reason
    now[0] += 31
    assert router.decide(Step("x")).chosen == "fast"
    assert health.failed("fast", "timeout") == 10  # second strike: backed off
    health.succeeded("fast")
    assert router.decide(Step("x")).chosen == "fast"


def test_context_window_and_tried() -> None:
    router = Router(policy())
    big = router.decide(Step("x", kind="plan", prompt_tokens=150_000))
    assert big.chosen == "strong"
    tried = router.decide(Step("x", kind="plan"), tried=["strong"])
    assert tried.chosen == "fast" and tried.tried == ("strong",)
    none_fit = router.decide(Step("x", kind="plan", prompt_tokens=500_000))
    assert none_fit.chosen is None and "window" in (none_fit.stop_reason or "")


def test_decision_is_data_for_the_trace() -> None:
    data = Router(policy()).decide(Step("card 4111 1111 1111 1111")).to_json()
    assert data["sensitive"] is True and data["local"] is True
    assert data["findings"] == [{"kind": "card", "start": 5, "end": 24, "hint": "…1111"}]


def test_a_model_that_cannot_run_now_is_passed_over_up_front_with_its_reason() -> None:
    missing = {"strong": "no API key for anthropic (`cairn keys set anthropic`)"}
    router = Router(policy(), readiness=missing.get)
    decision = router.decide(Step("Outline the launch plan", kind="plan"))
    assert decision.chosen == "fast"
    assert [(p.model, p.reason) for p in decision.passed_over] == [
        ("strong", "no API key for anthropic (`cairn keys set anthropic`)")
    ]
