"""`cairn run` end to end: real engines, real files, the trace and the history record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cairn.testing.openai_stub import OpenAIStub
from tests.stub_workspace import stub_workspace


def cairn(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def workspace(tmp_path: Path, stub: OpenAIStub | None, local_model: Path) -> Path:
    return stub_workspace(tmp_path, stub.base_url if stub else None, local_model)


def test_run_with_the_cloud_model_uses_tools_and_writes_a_record(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    with OpenAIStub() as stub:
        root = workspace(tmp_path, stub, tiny_model_path)
        stub.state.script = [
            {
                "name": "write_file",
                "arguments": {"path": "spaces/team/drafts/update.md", "content": "Ship it."},
            },
            "Wrote the update to the drafts.",
        ]
        result = cairn(
            "run",
            "Write the weekly update to the team drafts",
            "--space",
            "team",
            "--workspace",
            str(root),
            "--no-approve",
            env={"OPENAI_API_KEY": "sk-test-run-000000000000"},
        )
        assert result.returncode == 0, result.stderr
        assert (root / "spaces/team/drafts/update.md").read_text() == "Ship it."
        assert "Wrote the update" in result.stdout
        assert "→ cloud-fast (cloud)" in result.stderr and "✔ done" in result.stderr
        # The tool result went back to the model labelled as data.
        tool_messages = [m for m in stub.requests[-1].body["messages"] if m["role"] == "tool"]
        assert "<data source=" in tool_messages[0]["content"]
    records = list((root / "spaces/team/history").glob("*.md"))
    assert len(records) == 1 and "Wrote the update" in records[0].read_text()
    traces = list((root / ".cairn/traces").glob("*.jsonl"))
    events = [json.loads(line)["event"] for line in traces[0].read_text().splitlines()]
    assert events[0] == "task_started" and events[-1] == "task_finished"
    assert {"routed", "tool_called", "tool_result", "usage"} <= set(events)
    assert "sk-test-run-000000000000" not in traces[0].read_text()
    listing = cairn("trace", "list", "--workspace", str(root))
    assert traces[0].stem in listing.stdout and "finished" in listing.stdout
    shown = cairn("trace", "show", traces[0].stem[:15], "--workspace", str(root))
    assert "tool_called" in shown.stdout


def test_gated_write_is_denied_headless(tmp_path: Path, tiny_model_path: Path) -> None:
    with OpenAIStub() as stub:
        root = workspace(tmp_path, stub, tiny_model_path)
        stub.state.script = [
            {"name": "write_file", "arguments": {"path": "spaces/team/notes.md", "content": "x"}},
            "Could not write it.",
        ]
        result = cairn(
            "run",
            "Save a note",
            "--space",
            "team",
            "--workspace",
            str(root),
            env={"OPENAI_API_KEY": "sk-test-run-000000000000"},
        )
        assert result.returncode == 0, result.stderr
        assert not (root / "spaces/team/notes.md").exists()
        queued = list((root / ".cairn/approvals/pending").glob("*.json"))
        assert len(queued) == 1  # no terminal: queued for a person to decide
        assert "not done" in json.dumps(stub.requests[-1].body)


def test_run_on_the_tiny_local_model(tmp_path: Path, tiny_model_path: Path) -> None:
    root = workspace(tmp_path, None, tiny_model_path)
    result = cairn(
        "run",
        "Say hello to the team",
        "--model",
        "local-small",
        "--workspace",
        str(root),
        "--no-approve",
    )
    assert result.returncode == 0, result.stderr
    assert "→ local-small (local)" in result.stderr and "✔ done" in result.stderr


def test_unknown_space_and_failed_routing_exit_non_zero(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    root = workspace(tmp_path, None, tmp_path / "missing.gguf")
    unknown = cairn("run", "x", "--space", "nope", "--workspace", str(root))
    assert unknown.returncode == 2 and "no space 'nope'" in unknown.stderr
    private = cairn(
        "run",
        "Plan my week",
        "--space",
        "chief-of-staff",
        "--workspace",
        str(root),
        "--no-approve",
        env={"OPENAI_API_KEY": "sk-test-run-000000000000"},
    )
    assert private.returncode == 1 and "✘ failed" in private.stderr


def test_ctrl_c_cancels_cleanly_and_the_trace_says_so(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    import signal
    import time

    with OpenAIStub() as stub:
        root = workspace(tmp_path, stub, tiny_model_path)
        agents = root / "agents.md"
        agents.write_text(agents.read_text().replace(stub.base_url, stub.url("slow")))
        stub.state.reply = " ".join(["word"] * 200)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cairn",
                "run",
                "Tell me about the roadmap",
                "--space",
                "team",
                "--workspace",
                str(root),
                "--no-approve",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={
                **os.environ,
                "OPENAI_API_KEY": "sk-test-run-000000000000",
                "PYTHONUNBUFFERED": "1",
            },
        )
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while process.stdout.read(5) != "word " and time.monotonic() < deadline:
            pass  # the answer has started streaming
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
        assert process.stderr is not None and "cancelled" in process.stderr.read()
    trace = next((root / ".cairn/traces").glob("*.jsonl"))
    assert json.loads(trace.read_text().splitlines()[-1])["event"] == "task_cancelled"
