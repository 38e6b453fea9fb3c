"""`cairn eval` and the harness settings, end to end on a loopback model: the real runner,
router, loop, ledger and traces; the workspace itself never changes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn.core.harness.evals import EVALS_FOLDER
from cairn.core.workspace.loader import WorkspaceModel
from cairn.improve.cycle import improve_cycle
from cairn.improve.runner import copy_workspace, run_cases, stored_runs
from cairn.improve.suite import load_suite
from cairn.infra.files import LocalFileStore
from cairn.testing.openai_stub import OpenAIStub
from tests.stub_workspace import stub_workspace

KEY = "sk-test-eval-000000000000"


def snapshot(root: Path) -> dict[str, str]:
    """Every file outside `.cairn/`, by content hash."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cairn" not in p.relative_to(root).parts
    }


def add_case(root: Path, name: str, body: str) -> None:
    path = root / EVALS_FOLDER / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


@pytest.fixture
def stubbed(tmp_path: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAIStub() as stub:
        root = stub_workspace(tmp_path, stub.base_url, tiny_model_path, automations=False)
        shutil.rmtree(root / EVALS_FOLDER)
        yield root, stub


def cairn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "OPENAI_API_KEY": KEY},
    )


def test_eval_runs_on_copies_and_reports_and_stores_the_figures(stubbed) -> None:
    root, stub = stubbed
    add_case(
        root,
        "drafts/note",
        "---\nspace: team\nsplit: train\nchecks:\n  - file: spaces/team/drafts/note.md\n"
        "    matches: Ship\n  - answer: (?i)wrote\n  - no_approval: true\n---\nWrite a note.\n",
    )
    add_case(
        root,
        "drafts/outside",
        "---\nspace: team\nsplit: held-out\nchecks:\n  - file: spaces/team/notes.md\n"
        "  - no_approval: true\n---\nWrite outside drafts.\n",
    )
    before = snapshot(root)

    def respond(body: dict[str, Any]) -> str | dict[str, Any]:
        messages = body["messages"]
        if any(m["role"] == "tool" for m in messages):
            return "I wrote it."
        user = str(messages[-1].get("content"))
        target = "spaces/team/drafts/note.md" if "note" in user else "spaces/team/notes.md"
        return {"name": "write_file", "arguments": {"path": target, "content": "Ship it."}}

    stub.state.respond = respond
    result = cairn("eval", "drafts", "--workspace", str(root), "--repeat", "2")
    assert result.returncode == 1, result.stderr  # one case fails: exit 1
    out = result.stdout
    assert "drafts/note" in out and "2/2" in out
    assert "drafts/outside" in out and "0/2" in out
    assert "✗ run 1: no_approval: True: 1 actions needed approval" in out
    assert "overall: 50% passed" in out and "stored in .cairn/evals/runs/eval-" in out
    assert "[4/4] drafts/outside (run 2/2)" in result.stderr
    # The workspace is untouched: the tasks wrote into copies.
    assert snapshot(root) == before
    # Spend went to the workspace's own ledger (it counts against the day's budget).
    ledger = (root / ".cairn/spend.jsonl").read_text().splitlines()
    assert len(ledger) == 8 and all(json.loads(line)["model"] == "cloud-fast" for line in ledger)
    [stored] = stored_runs(root)
    assert stored.pass_rate == 0.5 and len(stored.results) == 4
    traces = [root / r.trace for r in stored.results]
    assert all(t.is_file() for t in traces)
    assert KEY not in "".join(t.read_text() for t in traces)
    # The next run is compared with this one.
    again = cairn("eval", "drafts", "--workspace", str(root))
    assert f"previous run {stored.id}: 50% passed (+0%)" in again.stdout


def test_a_task_cannot_read_the_evals_or_cairns_state(stubbed, tmp_path: Path) -> None:
    root, _ = stubbed
    add_case(root, "x", "---\nchecks:\n  - answer: x\n---\nx\n")
    (root / ".cairn").mkdir(exist_ok=True)
    (root / ".cairn/secret.txt").write_text("state")
    (root / "node_modules/pkg").mkdir(parents=True)
    (root / "node_modules/pkg/index.js").write_text("x")
    copy = tmp_path / "copy"
    copy_workspace(root, copy, {"skills/new/SKILL.md": b"changed"})
    assert not (copy / EVALS_FOLDER).exists() and not (copy / "node_modules").exists()
    assert not (copy / ".cairn/secret.txt").exists()
    assert (copy / ".cairn/spend.jsonl").resolve() == (root / ".cairn/spend.jsonl").resolve()
    assert (copy / "skills/new/SKILL.md").read_bytes() == b"changed"
    assert (copy / "agents.md").read_bytes() == (root / "agents.md").read_bytes()


def test_bad_cases_are_reported_and_the_rest_still_run(stubbed) -> None:
    root, stub = stubbed
    add_case(root, "good", "---\nsplit: train\nchecks:\n  - answer: (?i)hello\n---\nSay hello.\n")
    add_case(root, "no-space", "---\nspace: nowhere\nchecks:\n  - answer: x\n---\nHi.\n")
    add_case(root, "broken", "---\nchecks:\n  - answer: '('\n---\nHi.\n")
    stub.state.reply = "Hello there."
    result = cairn("eval", "--workspace", str(root))
    assert "evals/broken.md:3: error: check 1: '(' is not a regular expression" in result.stderr
    assert "good" in result.stdout and "1/1" in result.stdout
    assert "no-space" in result.stdout and "0/1" in result.stdout
    missing = cairn("eval", "nothing-here", "--workspace", str(root))
    assert missing.returncode == 2 and "no eval suite or case 'nothing-here'" in missing.stderr
    shutil.rmtree(root / EVALS_FOLDER)
    none = cairn("eval", "--workspace", str(root))
    assert none.returncode == 2 and "has no evals/ folder" in none.stderr


def test_harness_settings_reach_the_loop(stubbed) -> None:
    root, stub = stubbed
    agents = root / "agents.md"
    text = agents.read_text().replace("  max_repeats: 3 ", "  max_repeats: 1 ", 1)
    agents.write_text(text.replace("answer_after_guard: true", "answer_after_guard: false", 1))
    policy = WorkspaceModel(LocalFileStore(root)).load().agents
    assert policy is not None and policy.policy.harness.max_repeats == 1
    add_case(root, "loop", "---\nspace: team\nchecks:\n  - answer: x\n---\nRead it.\n")
    stub.state.tool_call = {"name": "read_file", "arguments": {"path": "spaces/team/readme.md"}}
    cases, _ = load_suite(root)
    result = run_cases(root, cases)
    [run] = result.results
    # One call ran; the same call again tripped the loop breaker at once, and no extra
    # answer was asked for (`answer_after_guard: false`).
    assert run.seen.tools == ("read_file", "read_file")
    assert run.seen.guards[0].startswith("loop breaker: read_file was called 1 times")
    assert len(stub.requests) == 2


def test_the_starter_harness_is_the_default() -> None:
    from cairn.core.workspace.schema import HarnessSettings
    from tests.conftest import REPO

    policy = WorkspaceModel(LocalFileStore(REPO)).load().agents
    assert policy is not None and policy.policy.harness == HarnessSettings()
    assert policy.policy.routing["improve"] == "planner"


def test_sensitive_evidence_never_reaches_a_cloud_model(stubbed) -> None:
    root, stub = stubbed
    # A train case in the private space fails; a held-out one fails too, so the cycle
    # goes on to ask for proposals. agents.md routes `improve` to the cloud first.
    add_case(
        root,
        "private",
        "---\nspace: chief-of-staff\nsplit: train\nchecks:\n  - answer: never\n---\nPlan.\n",
    )
    add_case(
        root, "shared", "---\nspace: team\nsplit: held-out\nchecks:\n  - answer: z\n---\nHi.\n"
    )
    stub.state.reply = "Nothing to see."
    cases, _ = load_suite(root)
    report = improve_cycle(root, cases, patterns=3)
    private = [r for r in report.baseline.results if r.case == "private"]
    assert private[0].sensitive
    sensitive = [w for w in report.weaknesses if w.sensitive]
    assert sensitive, [w.key for w in report.weaknesses]
    asked = [
        r
        for r in stub.requests
        if str(r.body["messages"][0].get("content", "")).startswith("You improve the harness")
    ]
    prompts = " ".join(json.dumps(r.body) for r in asked)
    assert "Plan." not in prompts and "chief-of-staff" not in prompts
    # The private evidence went to the local model instead, and the trace says so.
    improve_traces = sorted((root / ".cairn/traces").glob("improve-*.jsonl"))
    routed = [
        json.loads(line)["decision"]
        for t in improve_traces
        for line in t.read_text().splitlines()
        if json.loads(line)["event"] == "routed"
    ]
    assert any(d["sensitive"] and d["local"] for d in routed)
    assert not any(d["sensitive"] and not d["local"] for d in routed)


def test_digest_reads_traces_and_the_last_evals_train_failures(stubbed) -> None:
    root, stub = stubbed
    add_case(
        root, "train-fails", "---\nspace: team\nsplit: train\nchecks:\n  - answer: zz\n---\nHi.\n"
    )
    add_case(
        root, "held-fails", "---\nspace: team\nsplit: held-out\nchecks:\n  - answer: zz\n---\nYo.\n"
    )
    stub.state.reply = "Hello."
    assert cairn("eval", "--workspace", str(root)).returncode == 1
    digest = cairn("improve", "digest", "--workspace", str(root))
    assert digest.returncode == 0, digest.stderr
    assert "Eval cases that failed their checks (train-fails)" in digest.stdout
    assert "held-fails" not in digest.stdout  # held-out evidence is never mined
    assert (root / ".cairn/improve/digest.md").read_text() == digest.stdout
    bad = cairn("eval", "--workspace", str(root), "--repeat", "0")
    assert bad.returncode == 2 and "--repeat must be at least 1" in bad.stderr
    none = cairn("improve", "show", "--workspace", str(root))
    assert none.returncode == 2 and "needs a proposal ID" in none.stderr


def test_a_small_model_is_held_to_settings_that_may_change() -> None:
    from cairn.improve.propose import settings_offered
    from tests.conftest import REPO

    policy = WorkspaceModel(LocalFileStore(REPO)).load().agents
    assert policy is not None
    offered = settings_offered(policy.policy)
    assert "harness.max_repeats" in offered and "routing.work" in offered
    assert not {"routing.sensitive", "routing.approval", "routing.memory", "routing.improve"} & set(
        offered
    )


def test_check_and_list_report_broken_cases_and_a_broken_policy_stops_evals(stubbed) -> None:
    root, stub = stubbed
    add_case(root, "good", "---\nchecks:\n  - answer: a\n---\nHi.\n")
    add_case(root, "typo", "---\nspaec: team\nchecks:\n  - answer: a\n---\nHi.\n")
    checked = cairn("check", str(root))
    assert checked.returncode == 1
    assert "evals/typo.md:2: error: unknown key 'spaec' (did you mean 'space'?)" in checked.stdout
    assert "and 1 eval case in" in checked.stdout
    listed = cairn("eval", "--list", "--json", "--workspace", str(root))
    assert listed.returncode == 1
    data = json.loads(listed.stdout)
    assert [c["name"] for c in data["cases"]] == ["good"] and "spaec" in data["problems"][0]
    named = cairn("eval", "typo", "--workspace", str(root))
    assert named.returncode == 2 and "no case of 'typo' could be read" in named.stderr
    # A typo in agents.md stops the eval at once, naming it (not "no agents.md").
    agents = root / "agents.md"
    agents.write_text(agents.read_text().replace("  max_repeats: 3 ", "  max_repeat: 3 ", 1))
    stopped = cairn("eval", "good", "--workspace", str(root))
    assert stopped.returncode == 2
    assert "agents.md has errors, so no task can run" in stopped.stderr
    assert "unknown key 'max_repeat' (did you mean 'max_repeats'?)" in stopped.stderr
    assert stub.requests == []  # nothing ran
