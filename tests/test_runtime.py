"""The composition root: --model overrides routing but never the sensitivity rule."""

from __future__ import annotations

from pathlib import Path

from cairn.core.routing.router import Router, Step
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.runtime import policy_with_model


def test_model_override_routes_everything_there_but_sensitive_steps_stay_local(
    starter: Path,
) -> None:
    policy = WorkspaceModel(LocalFileStore(starter)).load().agents.policy  # type: ignore[union-attr]
    forced = Router(policy_with_model(policy, "cloud-strong", starter))
    for kind in ("plan", "work", "summarise", "memory", "made-up"):
        assert forced.decide(Step("Outline the roadmap", kind=kind)).chosen == "cloud-strong"
    private = forced.decide(Step("Plan my week", space="me", space_scope="private"))
    assert private.chosen == "local-small"
    leaked = forced.decide(Step("Reply", context="bob@example.com"))
    assert leaked.chosen == "local-small" and leaked.chosen_is_local


def test_model_override_accepts_a_gguf_path(starter: Path, tmp_path: Path) -> None:
    from cairn.testing.tiny_gguf import write_tiny_model

    model = write_tiny_model(tmp_path / "tiny.gguf")
    policy = WorkspaceModel(LocalFileStore(starter)).load().agents.policy  # type: ignore[union-attr]
    forced = policy_with_model(policy, str(model), starter)
    # Known by its file name, as `cairn models` shows it.
    assert forced.models["tiny"].engine == "local"
    assert forced.models["tiny"].path == str(model)
    assert Router(forced).decide(Step("x")).chosen == "tiny"
