"""The composition root: --model overrides routing but never the sensitivity rule."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_bare_model_file_name_is_found_in_cairns_models_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One agents.md for every machine: `path: Name.gguf` is the workspace's file when it
    has one, else the file in Cairn's models folder (where setup puts the starter)."""
    from cairn.runtime import model_path

    models = tmp_path / "models"
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(models))
    root = tmp_path / "ws"
    root.mkdir()
    assert model_path("Starter.gguf", root) == models / "Starter.gguf"
    (root / "Starter.gguf").write_bytes(b"GGUF")
    assert model_path("Starter.gguf", root) == root / "Starter.gguf"
    assert model_path("sub/Other.gguf", root) == root / "sub/Other.gguf"
    assert model_path("~/x.gguf", root) == Path.home() / "x.gguf"
