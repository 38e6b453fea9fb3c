"""`cairn ask` end to end, in a separate process, against a real model and a loopback stub."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from cairn.testing.openai_stub import OpenAIStub
from tests.conftest import copy_starter


def ask(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "ask", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_ask_a_gguf_file(tiny_model_path: Path, tmp_path: Path) -> None:
    workspace = copy_starter(tmp_path / "ws")
    result = ask(
        "--model",
        str(tiny_model_path),
        "--max-tokens",
        "8",
        "--workspace",
        str(workspace),
        "--no-instructions",
        "Say hello.",
    )
    assert result.returncode == 0, result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    assert "tiny (local)" in summary and "tokens in" in summary
    assert re.search(r", [1-8] out", summary)
    assert "$0.000000" in summary


def test_ask_a_configured_cloud_model_with_a_keychain_key(tmp_path: Path) -> None:
    workspace = copy_starter(tmp_path / "ws")
    keyring_file = tmp_path / "keyring.json"
    env = {
        "PYTHON_KEYRING_BACKEND": "cairn.testing.memory_keyring.MemoryKeyring",
        "CAIRN_TEST_KEYRING_FILE": str(keyring_file),
        "HOME": str(tmp_path),
        "OPENAI_API_KEY": "",
    }
    stored = subprocess.run(
        [sys.executable, "-m", "cairn", "keys", "set", "openai"],
        input="sk-test-ask-4242424242\n",
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert stored.returncode == 0, stored.stderr
    with OpenAIStub() as stub:
        agents = workspace / "agents.md"
        text = agents.read_text()
        agents.write_text(
            text.replace(
                "  cloud-fast:\n    engine: litellm\n    model: openai/gpt-4o-mini\n",
                f"  cloud-fast:\n    engine: litellm\n    model: openai/gpt-4o-mini\n"
                f"    api_base: {stub.base_url}\n    local: false\n",
                1,
            )
        )
        result = ask("--model", "cloud-fast", "--workspace", str(workspace), "Hi", env=env)
        assert result.returncode == 0, result.stderr
        assert stub.state.reply in result.stdout
        summary = result.stderr.strip().splitlines()[-1]
        assert "cloud-fast (cloud)" in summary and "$0.000" in summary
        assert stub.requests[-1].headers["Authorization"] == "Bearer sk-test-ask-4242424242"
        # agents.md's instructions went along as the system prompt.
        assert stub.requests[-1].body["messages"][0]["role"] == "system"


def test_ask_explains_what_is_wrong(tmp_path: Path, tiny_model_path: Path) -> None:
    missing = ask("--model", str(tmp_path / "nope.gguf"), "--workspace", str(tmp_path), "hi")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    unknown = ask("--model", "no-such-model", "--workspace", str(tmp_path), "hi")
    assert unknown.returncode == 2 and "not a model in agents.md" in unknown.stderr
    workspace = copy_starter(tmp_path / "ws")
    agents = workspace / "agents.md"
    agents.write_text(
        agents.read_text().replace(
            "    path: ~/models/qwen2.5-3b-instruct-q4_k_m.gguf\n    context: 8192",
            f"    path: {tiny_model_path}\n    context: 900000000",
            1,
        )
    )
    too_big = ask("--model", "local-small", "--workspace", str(workspace), "hi")
    assert too_big.returncode == 1
    assert "out_of_memory" in too_big.stderr and "Lower 'context:'" in too_big.stderr


def _workspace_with(tmp_path: Path, stub: OpenAIStub, local_model: Path) -> Path:
    workspace = copy_starter(tmp_path / "ws")
    agents = workspace / "agents.md"
    text = agents.read_text()
    text = text.replace(
        "    model: openai/gpt-4o-mini\n",
        f"    model: openai/gpt-4o-mini\n    api_base: {stub.base_url}\n    local: false\n",
        1,
    )
    text = text.replace(
        "    path: ~/models/qwen2.5-3b-instruct-q4_k_m.gguf\n    context: 8192",
        f"    path: {local_model}\n    context: 8192",
        1,
    )
    agents.write_text(text)
    return workspace


def test_ask_is_routed_and_sensitive_questions_stay_local(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    with OpenAIStub() as stub:
        workspace = _workspace_with(tmp_path, stub, tiny_model_path)
        env = {"OPENAI_API_KEY": "sk-test-routed-ask-000000"}
        plain = ask(
            "--workspace",
            str(workspace),
            "--no-instructions",
            "--max-tokens",
            "8",
            "What is on the roadmap?",
            env=env,
        )
        assert plain.returncode == 0, plain.stderr
        assert "→ cloud-fast (cloud)" in plain.stderr
        assert len(stub.requests) == 1
        secret = ask(
            "--workspace",
            str(workspace),
            "--no-instructions",
            "--max-tokens",
            "8",
            "Reply to ana@example.com about her invoice",
            env=env,
        )
        assert secret.returncode == 0, secret.stderr
        assert "→ local-small (local)" in secret.stderr and "email" in secret.stderr
        forced = ask(
            "--workspace",
            str(workspace),
            "--model",
            "cloud-fast",
            "Reply to ana@example.com about her invoice",
            env=env,
        )
        # --model is honoured as `cairn run --model` honours it: a sensitive question still
        # only runs locally, through the same router, budget guard, ledger and trace.
        assert forced.returncode == 0, forced.stderr
        assert "→ local-small (local)" in forced.stderr and "sensitive" in forced.stderr
        assert len(stub.requests) == 1
        assert "ana@example.com" not in "".join(str(r.body) for r in stub.requests)
        # Every routed question leaves a trace with its decision; secrets are redacted.
        traces = sorted((workspace / ".cairn" / "traces").glob("ask-*.jsonl"))
        assert len(traces) == 3
        events = [json.loads(line) for t in traces for line in t.read_text().splitlines()]
        routed = [e for e in events if e["event"] == "routed"]
        assert {e["decision"]["chosen"] for e in routed} == {"cloud-fast", "local-small"}
        assert any(e["decision"]["sensitive"] for e in routed)
        assert all("sk-test-routed-ask-000000" not in t.read_text() for t in traces)
        spend = (workspace / ".cairn" / "spend.jsonl").read_text().splitlines()
        assert len(spend) == 3


def test_with_no_keys_ask_goes_straight_to_the_local_model(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    """A fresh machine has no keys: the cloud models are passed over before any call, so
    the user sees the local answer, not a keychain error per cloud model first."""
    workspace = copy_starter(tmp_path / "ws")
    agents = workspace / "agents.md"
    agents.write_text(
        agents.read_text().replace(
            "path: ~/models/qwen2.5-3b-instruct-q4_k_m.gguf", f"path: {tiny_model_path}", 1
        )
    )
    no_keys = {name: "" for name in os.environ if name.endswith("_API_KEY")}
    no_keys["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    result = ask("--workspace", str(workspace), "--max-tokens", "4", "Hello", env=no_keys)
    assert result.returncode == 0, result.stderr
    assert "→ local-small (local)" in result.stderr
    assert "failed" not in result.stderr and "keychain" not in result.stderr


def test_ask_leaves_a_cloud_models_output_limit_to_the_provider() -> None:
    """A local model may use the whole room left in its window; a cloud model is not asked
    for 100,000 output tokens (providers refuse it, and the budget would price it)."""
    from cairn.cli.ask import _fitted
    from cairn.core.engine import Message
    from cairn.testing.scripted_engine import ScriptedEngine

    build = _fitted((Message("system", "Be brief."), Message("user", "Hello")), None)
    local = build(ScriptedEngine("local", context_window=4096))
    assert local.max_tokens is not None and 4000 < local.max_tokens < 4096
    cloud = build(ScriptedEngine("cloud", is_local=False, context_window=128_000))
    assert cloud.max_tokens is None
    unknown = build(ScriptedEngine("cloud", is_local=False, context_window=None))
    assert unknown.messages[0] == Message("system", "Be brief.") and unknown.max_tokens is None
