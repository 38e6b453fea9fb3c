"""Engine fixtures: a real llama.cpp model, written on the spot (no downloaded weights)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.testing.tiny_gguf import write_tiny_model


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight llama GGUF with a ChatML template, written once per session."""
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.gguf")
