"""The starter model, for real: a fresh copy of the starter workspace answers a question on
the model scripts/setup installed, with no keys (the README's main job)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.core.tasks.plan import is_simple
from tests.conftest import REPO, copy_starter


@pytest.mark.slow
def test_a_fresh_workspace_answers_on_the_starter_model_with_no_keys(
    tmp_path: Path, starter_models: Path
) -> None:
    root = copy_starter(tmp_path / "ws")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["CAIRN_MODELS_DIR"] = str(starter_models)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn",
            "ask",
            "--model",
            "local-starter",
            "--max-tokens",
            "24",
            "Name one colour of the sky.",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "no answer"
    assert "local-starter (local)" in done.stderr
    assert "$0.000000" in done.stderr  # nothing was spent: it ran here


@pytest.mark.slow
def test_ask_fits_the_starter_instructions_to_a_2048_token_window(
    tmp_path: Path, starter_models: Path
) -> None:
    root = copy_starter(tmp_path / "ws")
    agents = root / "agents.md"
    text = agents.read_text()
    start = text.index("  local-starter:")
    agents.write_text(text[:start] + text[start:].replace("context: 8192", "context: 2048", 1))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["CAIRN_MODELS_DIR"] = str(starter_models)
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "ask", "--model", "local-starter", "Say hello."],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    summary = done.stderr.strip().splitlines()[-1]
    tokens_in = int(summary.split(" tokens in")[0].rsplit(" ", 1)[-1].replace(",", ""))
    tokens_out = int(summary.split(" out")[0].rsplit(" ", 1)[-1])
    assert tokens_in + tokens_out <= 2048


@pytest.mark.slow
@pytest.mark.timeout(960)  # a whole task (plan, step, memory) on a real model
def test_the_readmes_main_command_runs_a_real_task_with_no_keys(
    tmp_path: Path, starter_models: Path
) -> None:
    """The README's first command, as written (after `bash scripts/setup`, which CI has
    run): a fresh starter workspace in ~/cairn-demo and a task on the starter model."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = readme.split("```bash\n", 1)[1].split("\n```", 1)[0].strip()
    setup, main_job = command.split(" && ", 1)
    assert setup == "bash scripts/setup"
    assert "cairn run" in main_job
    # One step, no planning call: a demo-grade model's plan is a coin toss, and a
    # multi-step plan asks for approval, which a terminal without a person refuses.
    request = shlex.split(main_job)[-1]
    assert is_simple(request), f"the README's task is not on the fast path: {request!r}"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        HOME=str(tmp_path),
        CAIRN_MODELS_DIR=str(starter_models),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",  # a machine with no keychain
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    done = subprocess.run(
        ["bash", "-c", main_job.replace(".venv/bin/", "")],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "→ local-starter (local)" in done.stderr
    assert "failed" not in done.stderr  # no cloud model was tried: none has a key
    assert "✔ done" in done.stderr and "$0.000000" in done.stderr
    assert done.stdout.strip(), "the task printed no answer"
    assert (tmp_path / "cairn-demo" / "agents.md").is_file()
