"""The composition root: build real engines (and later the router and loop) from settings.

Nothing else in Cairn constructs engines or reaches for the keychain; front ends ask
this module. Heavy libraries stay unimported until an engine actually runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cairn.core.engine import ChatEngine
from cairn.core.errors import CairnError
from cairn.core.schema import AgentsPolicy, ModelSpec

if TYPE_CHECKING:
    from cairn.core.dispatch import Dispatcher


class ModelNotFoundError(CairnError):
    """`--model` names nothing Cairn can run."""


def resolve_key(provider: str) -> str | None:
    """The provider's API key from the OS keychain (or the documented env fallback)."""
    from cairn.infra.keychain import KeyStore

    found = KeyStore().get(provider)
    return found.value if found else None


def model_path(spec_path: str, root: Path | None) -> Path:
    """A GGUF `path:` from agents.md: `~` expands; a relative path is the workspace's."""
    path = Path(spec_path).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    return path


def build_engine(name: str, spec: ModelSpec, root: Path | None = None) -> ChatEngine:
    if spec.engine == "local":
        from cairn.engines.local import LocalEngine

        assert spec.path is not None  # the schema requires it for local models
        return LocalEngine(
            name,
            model_path(spec.path, root),
            context=spec.context,
            gpu_layers=spec.gpu_layers or 0,
            threads=spec.threads,
            chat_format=spec.chat_format,
        )
    from cairn.engines.cloud import CloudEngine

    assert spec.model is not None
    return CloudEngine(
        name,
        spec.model,
        api_base=spec.api_base,
        context=spec.context,
        resolve_key=resolve_key,
        local=spec.local,
    )


def engine_for(
    choice: str | None, policy: AgentsPolicy | None, root: Path | None = None
) -> ChatEngine:
    """`--model NAME_OR_GGUF_PATH`: a model named in agents.md, a GGUF file, or a litellm id.

    Without a choice, the first model of the role that handles `work` steps.
    """
    models = policy.models if policy else {}
    if choice is None:
        if policy is None or not models:
            raise ModelNotFoundError(
                "no model to use: pass --model with a GGUF file or a litellm model id, or "
                "define models in agents.md"
            )
        role = policy.routing.get("work")
        candidates = list(policy.roles.get(role, ())) if role else []
        choice = candidates[0] if candidates else next(iter(models))
    if choice in models:
        return build_engine(choice, models[choice], root)
    path = Path(choice).expanduser()
    if choice.lower().endswith(".gguf") or path.is_file():
        if not path.is_file():
            raise ModelNotFoundError(f"{path} does not exist; `cairn models` lists GGUF files")
        return build_engine(path.stem, ModelSpec(engine="local", path=str(path)))
    if "/" in choice:
        return build_engine(choice, ModelSpec(engine="litellm", model=choice))
    known = ", ".join(models) or "none defined"
    raise ModelNotFoundError(
        f"'{choice}' is not a model in agents.md ({known}), a GGUF file, or a litellm id "
        "like openai/gpt-4o-mini"
    )


class Engines:
    """Engines for the models of one `agents.md`, built on first use and kept (warm)."""

    def __init__(self, policy: AgentsPolicy, root: Path | None = None) -> None:
        self.policy = policy
        self.root = root
        self._built: dict[str, ChatEngine] = {}

    def __call__(self, name: str) -> ChatEngine:
        if name not in self._built:
            if name not in self.policy.models:
                raise ModelNotFoundError(f"'{name}' is not defined under models in agents.md")
            self._built[name] = build_engine(name, self.policy.models[name], self.root)
        return self._built[name]

    def price(self, name: str, input_tokens: int, output_tokens: int) -> float | None:
        engine = self(name)
        estimate = getattr(engine, "estimate_cost", None)
        return estimate(input_tokens, output_tokens) if callable(estimate) else 0.0


def build_dispatcher(
    policy: AgentsPolicy,
    root: Path,
    *,
    task: str,
    automation: str | None = None,
    engines: Engines | None = None,
) -> Dispatcher:
    """The router, engines, budget guard and spend ledger for one task in a workspace."""
    from cairn.core.budget import BudgetGuard
    from cairn.core.dispatch import Dispatcher
    from cairn.core.routing import Router
    from cairn.infra.ledger import JsonlLedger

    engines = engines or Engines(policy, root)
    ledger = JsonlLedger.for_workspace(root)
    guard = BudgetGuard(policy.budgets, ledger, task=task, automation=automation)
    return Dispatcher(Router(policy), engines, ledger=ledger, guard=guard, price=engines.price)
