"""`cairn models` shows how each local model will be offered tools: the format its chat
template declares, Cairn's JSON protocol otherwise, or what agents.md's `tool_format:` says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn.cli.main import main
from cairn.testing.tiny_gguf import write_tiny_model
from tests.conftest import copy_starter
from tests.engines.test_tool_dialects import HERMES_STYLE


def _models(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    assert main(["models", str(root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["configured"]
    return {row["name"]: row for row in rows}


def test_each_local_model_shows_its_tool_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chatml = write_tiny_model(tmp_path / "chatml.gguf")
    hermes = write_tiny_model(tmp_path / "hermes.gguf", chat_template=HERMES_STYLE)
    root = copy_starter(tmp_path / "ws")
    agents = root / "agents.md"
    text = agents.read_text()
    text = text.replace("path: ~/models/qwen2.5-3b-instruct-q4_k_m.gguf", f"path: {hermes}", 1)
    text = text.replace(
        "path: SmolLM2-135M-Instruct.Q4_1.gguf", f"path: {chatml}\n    tool_format: json", 1
    )
    agents.write_text(text)
    rows = _models(root, capsys)
    assert str(rows["local-small"]["tool_format"]).startswith("hermes: ")
    forced = str(rows["local-starter"]["tool_format"])
    assert forced.startswith("json: ") and forced.endswith("(set by tool_format in agents.md)")
    assert main(["models", str(root)]) == 0
    shown = capsys.readouterr().out
    assert "tools: hermes: <tool_call>" in shown
