"""The canary: sensitive content never reaches a cloud model.

A loopback stub stands in for every cloud provider and records all it receives. Many
generated tasks carry planted personal data, secrets, private-space notes and files
marked sensitive; every step goes through the real router, dispatcher and engines (the
tiny llama.cpp model as the local model, litellm for the cloud ones). Afterwards no
planted value may appear anywhere in what the stub received — while the non-sensitive
steps did reach it, so the canary is alive.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cairn.core.dispatch import Dispatcher, RoutingStopped
from cairn.core.engine import ChatRequest, Message
from cairn.core.routing import Router, Step
from cairn.core.schema import AgentsPolicy
from cairn.runtime import Engines
from cairn.testing.openai_stub import OpenAIStub

KINDS = ["plan", "work", "summarise", "memory", "approval"]


def plant(rng: random.Random, n: int) -> tuple[str, str]:
    """A sensitive value of a random shape, unique to this step, and its kind."""
    choice = rng.choice(
        [
            "email",
            "phone",
            "iban",
            "card",
            "ssn",
            "key",
            "password",
            "pem",
            "private-space",
            "marked-file",
        ]
    )
    values = {
        "email": f"canary{n}.person@example.org",
        "phone": f"+44 20 7946 {n % 10000:04d}",
        "iban": "DE89 3704 0044 0532 0130 00",
        "card": "4111 1111 1111 1111",
        "ssn": f"123-45-{6000 + n % 3000:04d}",
        "key": f"sk-proj-canary{n:06d}abcdefghijklmnopqrstuv",
        "password": f"password: Canary-{n}-Secret",
        "pem": f"-----BEGIN PRIVATE KEY-----\nMIIcanary{n}\n-----END PRIVATE KEY-----",
        "private-space": f"Private note {n}: the merger codename is Bluefin{n}.",
        "marked-file": f"Salary band {n}: level 5 earns {100 + n}k.",
    }
    return values[choice], choice


def policy(stub: OpenAIStub, model_path: Path) -> AgentsPolicy:
    cloud = {"engine": "litellm", "api_base": stub.base_url, "local": False}
    return AgentsPolicy.model_validate(
        {
            "models": {
                "cloud-strong": {**cloud, "model": "openai/gpt-4o"},
                "cloud-fast": {**cloud, "model": "openai/gpt-4o-mini"},
                "local-small": {"engine": "local", "path": str(model_path), "context": 2048},
            },
            "roles": {
                "planner": ["cloud-strong", "cloud-fast", "local-small"],
                "worker": ["cloud-fast", "cloud-strong", "local-small"],
                "fast": ["cloud-fast", "local-small"],
                "local": ["local-small"],
            },
            "routing": {
                "plan": "planner",
                "work": "worker",
                "summarise": "fast",
                "approval": "fast",
                "memory": "fast",
                "sensitive": "local",
            },
        }
    )


def generated_steps(count: int) -> list[tuple[Step, str | None]]:
    rng = random.Random(20261120)
    steps: list[tuple[Step, str | None]] = []
    for n in range(count):
        kind = rng.choice(KINDS)
        if rng.random() < 0.6:
            value, shape = plant(rng, n)
            filler = "Project notes: the launch moves to March; budget is unchanged."
            context = f"{filler}\n{value}\n{filler}"
            if shape == "private-space":
                step = Step(
                    f"Task {n}", kind=kind, context=context, space="me", space_scope="private"
                )
            elif shape == "marked-file":
                step = Step(
                    f"Task {n}",
                    kind=kind,
                    context=context,
                    space="team",
                    space_scope="team",
                    sensitive_sources=(f"spaces/team/pay-{n}.md",),
                )
            else:
                step = Step(
                    f"Task {n}", kind=kind, context=context, space="team", space_scope="team"
                )
            steps.append((step, value))
        else:
            context = f"Summarise the roadmap item {n}: ship the importer, then the exporter."
            steps.append(
                (
                    Step(f"Task {n}", kind=kind, context=context, space="team", space_scope="team"),
                    None,
                )
            )
    return steps


def request_for(step: Step) -> ChatRequest:
    return ChatRequest(
        (Message("system", "Be brief."), Message("user", step.context)), max_tokens=4
    )


@pytest.mark.slow
def test_no_sensitive_content_reaches_any_cloud_provider(tiny_model_path: Path) -> None:
    with OpenAIStub() as stub:
        agents = policy(stub, tiny_model_path)
        engines = Engines(agents)
        dispatcher = Dispatcher(Router(agents), engines)
        planted: list[str] = []
        local_runs = cloud_runs = 0
        for step, value in generated_steps(120):
            events = list(dispatcher.run(step, request_for(step)))
            chosen = [e.decision for e in events if hasattr(e, "decision")][-1]
            if value is not None:
                planted.append(value)
                assert chosen.chosen == "local-small", chosen.explain()
                local_runs += 1
            else:
                cloud_runs += 1
        received = "\n".join(json.dumps(r.body) for r in stub.requests)
        for value in planted:
            for fragment in value.splitlines():
                assert fragment not in received, f"leaked: {fragment!r}"
        assert local_runs >= 50 and cloud_runs >= 30
        assert len(stub.requests) == cloud_runs  # the canary heard every cloud step


@pytest.mark.slow
def test_with_the_local_model_down_sensitive_steps_stop_and_send_nothing(tmp_path: Path) -> None:
    with OpenAIStub() as stub:
        agents = policy(stub, tmp_path / "missing.gguf")
        dispatcher = Dispatcher(Router(agents), Engines(agents))
        stopped = 0
        for step, value in generated_steps(40):
            if value is None:
                continue
            with pytest.raises(RoutingStopped) as caught:
                list(dispatcher.run(step, request_for(step)))
            assert "sensitive" in caught.value.decision.explain()
            stopped += 1
        assert stopped > 10
        assert stub.requests == []
