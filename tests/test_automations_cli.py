"""`cairn automations` and `execute`: real workspaces, a real run database, real traces.

The status mapping is checked with a scripted runner (real task events, no model); one
run-now goes end to end through the CLI on a tiny generated GGUF model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cairn.cli.main import main
from cairn.core.engine import CancelToken, Usage
from cairn.core.tasks.events import ApprovalDecided, TaskFailed, TaskFinished, TaskStarted
from cairn.core.tasks.options import TaskOptions
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.runs import Refusal, Run, RunStore
from cairn.scheduler.execute import TaskRunnerLike, execute
from cairn.testing.tiny_gguf import write_tiny_model
from tests.conftest import copy_starter

NAME = "morning-brief"


class ScriptedRunner:
    """A task runner that yields the given events and remembers what it was asked."""

    def __init__(self, events: list[object], crash: BaseException | None = None) -> None:
        self.task = "t-scripted"
        self.events = events
        self.crash = crash
        self.asked: list[tuple[str, TaskOptions]] = []

    def run(
        self, request: str, options: TaskOptions, cancel: CancelToken | None = None
    ) -> Iterator[object]:
        self.asked.append((request, options))
        yield TaskStarted(self.task, request, options.space)
        yield from self.events
        if self.crash is not None:
            raise self.crash


def run_with(root: Path, runner: ScriptedRunner) -> Run | Refusal:
    def factory(model: WorkspaceModel, where: Path, name: str) -> TaskRunnerLike:
        return runner

    with RunStore(root) as store:
        return execute(
            root,
            NAME,
            trigger="run-now",
            slot=datetime.now(UTC),
            store=store,
            runner_factory=factory,
        )


def finished(tokens_in: int = 100, tokens_out: int = 20, cost: float = 0.01) -> list[object]:
    return [
        Usage(tokens_in, tokens_out, cost),
        TaskFinished("t-scripted", "ok", tokens_in, tokens_out, cost, "history/x.md"),
    ]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["automations", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_finished_task_is_a_done_run_with_its_tokens_and_cost(starter: Path) -> None:
    runner = ScriptedRunner(finished())
    run = run_with(starter, runner)
    assert isinstance(run, Run)
    assert (run.status, run.trigger, run.tokens, run.cost_usd) == ("done", "run-now", 120, 0.01)
    assert run.output_path == "history/x.md" and run.reason is None
    assert (starter / ".cairn" / "traces" / f"{run.trace}.jsonl").is_file()
    request, options = runner.asked[0]
    assert "morning brief" in request
    assert (options.space, options.skill, options.operator) == (
        "chief-of-staff",
        "morning-brief",
        "clarity-editor",
    )
    assert options.automation == NAME and options.approvals == "queue"


def test_task_ends_map_to_run_statuses(starter: Path) -> None:
    failed = run_with(starter, ScriptedRunner([TaskFailed("t", "the model broke", "engine")]))
    assert isinstance(failed, Run) and failed.status == "failed"
    assert failed.reason == "engine: the model broke"
    budget = run_with(starter, ScriptedRunner([TaskFailed("t", "over $0.10", "budget")]))
    assert isinstance(budget, Run) and budget.status == "paused"
    queued = [ApprovalDecided("req-1", False, "queued", "queued for approval"), *finished()]
    waiting = run_with(starter, ScriptedRunner(queued))
    assert isinstance(waiting, Run) and waiting.status == "needs-approval"
    assert waiting.reason is not None and "req-1" in waiting.reason
    assert waiting.tokens == 120


def test_a_crash_is_recorded_failed_and_a_ctrl_c_interrupted(starter: Path) -> None:
    with pytest.raises(RuntimeError):
        run_with(starter, ScriptedRunner([Usage(5, 5, 0.0)], crash=RuntimeError("boom")))
    with pytest.raises(KeyboardInterrupt):
        run_with(starter, ScriptedRunner([], crash=KeyboardInterrupt()))
    with RunStore(starter) as store:
        interrupted, crashed = store.history(NAME)
    assert crashed.status == "failed" and crashed.reason == "RuntimeError: boom"
    assert crashed.tokens == 10
    assert interrupted.status == "interrupted"


def test_list_and_history_show_next_and_last_runs(
    starter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "list", "--workspace", str(starter))
    assert code == 0 and "next run  20" in out and "last run  never" in out
    run = run_with(starter, ScriptedRunner(finished()))
    assert isinstance(run, Run)
    code, out, _ = cli(capsys, "list", "--workspace", str(starter), "--json")
    rows = {row["name"]: row for row in json.loads(out)["automations"]}
    brief = rows[NAME]
    assert brief["enabled"] and brief["next_run"] and brief["timezone"] == "local"
    assert brief["last_run"]["status"] == "done" and brief["last_run"]["cost_usd"] == 0.01
    assert "latest within 24 h" in brief["catch_up"]
    code, out, _ = cli(capsys, "history", NAME, "--workspace", str(starter), "--json")
    [row] = json.loads(out)["runs"]
    assert (row["id"], row["trigger"], row["status"], row["tokens"]) == (
        run.id,
        "run-now",
        "done",
        120,
    )
    code, out, _ = cli(capsys, "history", "--workspace", str(starter))
    assert code == 0 and NAME in out and "run-now" in out


def test_pause_then_resume_leaves_the_file_byte_identical(
    starter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = starter / "automations" / f"{NAME}.md"
    text = path.read_bytes().replace(b"enabled: true\n", b"enabled: true  # on weekdays\n", 1)
    original = text.replace(b"timezone: local\n", b"timezone: local\n# a comment\n", 1)
    path.write_bytes(original)
    code, out, _ = cli(capsys, "pause", NAME, "--workspace", str(starter))
    assert code == 0 and "paused" in out
    paused = path.read_bytes()
    assert b"enabled: false" in paused and b"# a comment\n" in paused
    assert paused.replace(b"enabled: false", b"enabled: true") == original
    code, out, _ = cli(capsys, "list", "--workspace", str(starter))
    assert f"{NAME}  [paused]" in out and "not while paused" in out
    code, out, _ = cli(capsys, "resume", NAME, "--workspace", str(starter))
    assert code == 0 and path.read_bytes() == original
    # With no scheduler running, the pause was noted: the next scheduler skips its slots.
    with RunStore(starter) as store:
        since = store.note_resumed(NAME)
    assert since is not None and datetime.now(UTC) - since < timedelta(minutes=1)


def test_run_now_is_refused_while_the_automation_runs(
    starter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RunStore(starter) as store:
        held = store.claim(NAME, datetime.now(UTC), "run-now")  # this process: alive
    assert not isinstance(held, Refusal)
    refused = run_with(starter, ScriptedRunner(finished()))
    assert isinstance(refused, Refusal) and refused.reason == "overlap"
    code, _, err = cli(capsys, "run", NAME, "--workspace", str(starter))
    assert code == 1 and "still running" in err and "Traceback" not in err
    with RunStore(starter) as store:
        assert [r.id for r in store.history(NAME)] == [held.id]


def test_unknown_names_are_clear_errors(starter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("pause", "resume", "run"):
        code, _, err = cli(capsys, action, "nope", "--workspace", str(starter))
        assert code == 2 and "no automation 'nope'" in err and NAME in err
        assert "Traceback" not in err
    with RunStore(starter) as store:
        assert store.history() == []


@pytest.mark.slow
def test_run_now_end_to_end_on_a_tiny_local_model(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "tiny.gguf")
    root = copy_starter(tmp_path / "ws")
    agents = root / "agents.md"
    text = agents.read_text().replace(
        "    path: ~/models/qwen2.5-3b-instruct-q4_k_m.gguf\n    context: 8192",
        f"    path: {model}\n    context: 4096",
        1,
    )
    text = text.replace("  approval: gate\n", "", 1)
    body_start = text.index("\n---\n", 4) + 5
    agents.write_text(text[:body_start] + "You are Cairn. Be brief.\n")
    (root / "automations" / "hello.md").write_text(
        "---\nschedule: every 1 day\nspace: team\n---\n\nSay hello to the team.\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "cairn", "automations", "run", "hello", "--workspace", str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
        stdin=subprocess.DEVNULL,
        env={**os.environ},
    )
    assert "Traceback" not in result.stderr, result.stderr
    with RunStore(root) as store:
        [run] = store.history("hello")
    # The tiny model's weights are random: it may also call a gated tool (queued).
    assert run.trigger == "run-now" and run.status in ("done", "failed", "needs-approval"), run
    assert result.returncode == (0 if run.status == "done" else 1), result.stderr
    assert run.status in result.stdout and run.trace and run.trace in result.stdout
    assert (root / ".cairn" / "traces" / f"{run.trace}.jsonl").is_file()
    if run.status == "done":
        assert run.tokens > 0
