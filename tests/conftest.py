"""Shared fixtures: real folders on tmp_path, built from the repository's starter workspace."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Qt must never try to reach a display in tests, and litellm must never fetch its cost map.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Tests never touch the real keychain of the machine they run on.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "cairn.testing.memory_keyring.MemoryKeyring")
# Nor its models folder: whether scripts/setup installed the starter model must not change
# what a test sees. Tests of the real starter model name it explicitly (STARTER_MODELS).
from cairn.infra.starter_model import models_folder  # noqa: E402

STARTER_MODELS = models_folder()
os.environ["CAIRN_MODELS_DIR"] = tempfile.mkdtemp(prefix="cairn-test-models-")
# Nor its cache: evaluated prompt prefixes saved by one test must not speed up another.
os.environ["CAIRN_CACHE_DIR"] = tempfile.mkdtemp(prefix="cairn-test-cache-")


def copy_starter(target: Path) -> Path:
    """The repository's starter workspace in `target`, copied as `cairn init` copies it."""
    target.mkdir(parents=True, exist_ok=True)
    from cairn.infra.starter import copy_starter as init_copy

    init_copy(target)
    return target


@pytest.fixture
def starter_models() -> Path:
    """The folder holding the real starter model that scripts/setup installed. CI runs
    scripts/setup, so there a missing model fails the test; elsewhere it is skipped."""
    from cairn.infra.starter_model import STARTER, installed

    if installed(STARTER, STARTER_MODELS) is None:
        if os.environ.get("CI"):
            pytest.fail("CI ran scripts/setup, so the starter model must be installed")
        pytest.skip(f"the starter model is not in {STARTER_MODELS}: run scripts/setup")
    return STARTER_MODELS


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    """A fresh copy of the starter workspace."""
    return copy_starter(tmp_path / "workspace")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight llama GGUF with a ChatML template, written once per session."""
    from cairn.testing.tiny_gguf import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.gguf")
