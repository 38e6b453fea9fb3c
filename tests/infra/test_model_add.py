"""Naming a GGUF file already on this machine in agents.md (`add_local_model`), and a pull
that reports its progress and can be stopped mid-download (`pull(progress=...)`)."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest

from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.edit_values import frontmatter_data
from cairn.infra.model_pull import ModelPullError, PullCancelled, add_local_model, pull
from cairn.testing.hub_stub import HubStub

REPO_ID = "cairn-test/Tiny-GGUF"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port nobody serves: never the real Hub
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("CAIRN_MODELS_DIR", str(tmp_path / "models"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def models(root: Path) -> dict[str, dict[str, object]]:
    return frontmatter_data((root / "agents.md").read_text(encoding="utf-8"))["models"]


def test_a_file_is_named_where_it_is_found(
    starter: Path, tiny_model_path: Path, tmp_path: Path
) -> None:
    before = (starter / "agents.md").read_bytes()
    added = add_local_model(starter, tiny_model_path)
    assert (added.name, added.added) == ("tiny", True)
    assert added.policy_hashes == (
        content_hash(before),
        content_hash((starter / "agents.md").read_bytes()),
    )
    assert models(starter)["tiny"] == {
        "engine": "local",
        "path": str(tiny_model_path),
        "context": 2048,  # the pull's default, lowered to what the model was trained for
    }
    # The same file again is already named: nothing is written.
    again = add_local_model(starter, tiny_model_path)
    assert (again.name, again.added, again.policy_hashes) == ("tiny", False, None)

    # Another file of the same name gets a name of its own; one in the models folder is
    # written by its bare name, one in the workspace by its relative path.
    (tmp_path / "models").mkdir()
    in_models = Path(shutil.copy(tiny_model_path, tmp_path / "models" / "tiny.gguf"))
    assert add_local_model(starter, in_models).name == "tiny-2"
    assert models(starter)["tiny-2"]["path"] == "tiny.gguf"
    (starter / "weights").mkdir()
    local = Path(shutil.copy(tiny_model_path, starter / "weights" / "Mine.gguf"))
    assert add_local_model(starter, local, name="mine").name == "mine"
    assert models(starter)["mine"]["path"] == "weights/Mine.gguf"


def test_what_is_not_a_model_is_refused(starter: Path, tmp_path: Path) -> None:
    junk = tmp_path / "notes.gguf"
    junk.write_bytes(b"not a model at all")
    before = (starter / "agents.md").read_bytes()
    with pytest.raises(ModelPullError, match="not a GGUF model Cairn can read"):
        add_local_model(starter, junk)
    assert junk.exists()  # the user's file: never deleted
    assert (starter / "agents.md").read_bytes() == before


def test_a_pull_reports_progress_and_stops_when_told(
    starter: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tiny_model_path.read_bytes()
    seen: list[tuple[int, int]] = []

    def stop_midway(done: int, total: int) -> None:
        seen.append((done, total))
        if done > 0:
            raise PullCancelled("stopped")

    with HubStub() as hub:
        hub.add_file(REPO_ID, "tiny.gguf", data)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        before = (starter / "agents.md").read_bytes()
        with pytest.raises(PullCancelled):
            pull(f"{REPO_ID}/tiny.gguf", starter, progress=stop_midway, log=lambda _: None)
        assert (starter / "agents.md").read_bytes() == before
        assert not (tmp_path / "models" / "tiny.gguf").exists()
        partial = (
            tmp_path / "models" / f".tiny.gguf.{hashlib.sha256(data).hexdigest()[:16]}.partial"
        )
        assert partial.stat().st_size == seen[-1][0] > 0  # kept for the next pull

        seen.clear()
        result = pull(f"{REPO_ID}/tiny.gguf", starter, progress=lambda d, t: seen.append((d, t)))
    assert result.resumed_from == partial_size(seen) and result.added
    assert seen[-1] == (len(data), len(data))


def partial_size(seen: list[tuple[int, int]]) -> int:
    return seen[0][0]  # the first report of a continued pull: what was already there
