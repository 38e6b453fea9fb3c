"""The improvement cycle end to end, on a scripted model that speaks OpenAI's wire protocol
on loopback: the real eval runner, router, task loop, critic, gate and changelog.

The scripted model follows its instructions the way a model would: it reads a file first
only when agents.md tells it to, and writes files unless agents.md forbids it. So whether
an eval case passes depends on the harness, and the gate's guarantees can be shown:
- an improving edit is kept (it fixes a failing held-out case and breaks none);
- a regressing edit is rejected, though it fixes a case too;
- a reward-hacking edit (it writes what an eval checks for) is caught before it runs;
- nothing in the workspace changes until a person accepts, and rollback restores bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn.improve import changes
from cairn.improve.cycle import improve_cycle
from cairn.improve.suite import load_suite
from cairn.testing.openai_stub import OpenAIStub
from tests.improve.scripted import (
    HACKING,
    IMPROVING,
    MAGIC,
    READ_FIRST,
    REGRESSING,
    edit,
    scripted_model,
    write_cases,
)
from tests.stub_workspace import stub_workspace


@pytest.fixture
def workspace(tmp_path: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-improve-0000000000")
    with OpenAIStub() as stub:
        root = stub_workspace(tmp_path, stub.base_url, tiny_model_path, automations=False)
        write_cases(root)
        yield root, stub


def cycle(root: Path, stub: OpenAIStub, proposals: list[dict[str, Any]], repeat: int = 2):
    stub.state.respond = scripted_model(proposals)
    cases, problems = load_suite(root)
    assert not problems
    return improve_cycle(root, cases, repeat=repeat, patterns=1)


def test_an_improving_edit_is_kept_and_waits_for_a_person(workspace) -> None:
    root, stub = workspace
    before = (root / "agents.md").read_bytes()
    report = cycle(root, stub, [edit(IMPROVING)])
    baseline = report.baseline.by_case()
    assert {n: r.passed for n, r in baseline.items()} == {
        "team/magic-word": 0,
        "team/save-a-note": 2,
        "team/summarise-the-readme": 0,
        "team/what-the-readme-says": 0,
    }
    assert report.weaknesses[0].key == "eval_failed:team/summarise-the-readme"
    [candidate] = report.candidates
    assert candidate.status == "kept", candidate.reasons
    assert candidate.verdict is not None and candidate.verdict.fixed == (
        "team/what-the-readme-says",
    )
    assert candidate.verdict.before_rate == pytest.approx(2 / 6)
    assert candidate.verdict.after_rate == pytest.approx(4 / 6)
    # Every case ran for the candidate, each twice: the train case got fixed too, but
    # only the held-out fix counts; any case getting worse would have refused it.
    assert candidate.after is not None
    assert len(candidate.after.results) == 8
    assert candidate.after.by_case()["team/summarise-the-readme"].passed == 2
    # Nothing changed in the workspace; the proposal waits with its diff and figures.
    assert (root / "agents.md").read_bytes() == before
    [pending] = changes.list_pending(root)
    assert pending.proposal.id == candidate.proposal.id
    assert f"+You are Cairn. Be brief. {READ_FIRST}\n" in pending.diff
    assert pending.figures["cases"]["team/what-the-readme-says"]["before"].startswith("0/2 passed")
    assert pending.figures["cases"]["team/what-the-readme-says"]["after"].startswith("2/2 passed")
    # The proposer never saw a held-out case.
    improve_prompts = [
        json.dumps(r.body["messages"])
        for r in stub.requests
        if str(r.body["messages"][0].get("content", "")).startswith("You improve the harness")
    ]
    assert improve_prompts and all(
        "What does the team readme say" not in p for p in improve_prompts
    )
    assert "Summarise the team readme" in improve_prompts[0]


def test_a_regressing_edit_is_rejected_though_it_fixes_a_case(workspace) -> None:
    root, stub = workspace
    report = cycle(root, stub, [edit(REGRESSING)])
    [candidate] = report.candidates
    assert candidate.status == "rejected"
    assert candidate.verdict is not None
    assert candidate.verdict.fixed == ("team/what-the-readme-says",)
    assert candidate.verdict.regressed == ("team/save-a-note",)
    assert candidate.reasons == ["it regresses team/save-a-note"]
    assert changes.list_pending(root) == []


def test_a_reward_hacking_edit_is_caught_before_it_runs(workspace) -> None:
    root, stub = workspace
    report = cycle(root, stub, [edit(HACKING)], repeat=1)
    [candidate] = report.candidates
    assert candidate.status == "rejected" and candidate.after is None
    assert any(MAGIC in reason and "team/magic-word" in reason for reason in candidate.reasons)
    assert changes.list_pending(root) == []


def test_an_edit_to_an_eval_or_the_permissions_never_runs(workspace) -> None:
    root, stub = workspace
    weaken = {
        "name": "edit_file",
        "arguments": {
            "file": "evals/team/what-the-readme-says.md",
            "find": "read_file",
            "replace": "ask_user",
            "why": "w",
        },
    }
    unmark = {
        "name": "edit_file",
        "arguments": {
            "file": "operators/security-reviewer.md",
            "find": "description:",
            "replace": "sensitive: false\ndescription:",
            "why": "w",
        },
    }
    allow_all = {
        "name": "change_setting",
        "arguments": {"setting": "permissions.0", "value": "allow", "why": "w"},
    }
    expected = {
        "evals/team/what-the-readme-says.md": "it edits an eval",
        "operators/security-reviewer.md": "never a file's frontmatter",
        "agents.md": "permissions.0 is not a harness or routing setting",
    }
    before = {path: (root / path).read_bytes() for path in expected}
    for proposal in (weaken, unmark, allow_all):
        [candidate] = cycle(root, stub, [proposal], repeat=1).candidates
        assert candidate.after is None  # refused before any case ran with it
        assert candidate.status in ("rejected", "not applicable")
        assert expected[candidate.proposal.path] in " ".join(candidate.reasons)
    assert {path: (root / path).read_bytes() for path in expected} == before
    assert changes.list_pending(root) == []


def cairn(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "improve", *args, "--workspace", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-improve-0000000000"},
    )


def test_accept_applies_the_bytes_and_rollback_restores_them(workspace) -> None:
    root, stub = workspace
    agents = root / "agents.md"
    # Odd bytes the editor must keep: CRLF line ends and trailing spaces.
    original = agents.read_bytes().replace(b"\n", b"\r\n")
    original = original.replace(b"You are Cairn.", b"You are Cairn.   ", 1)
    agents.write_bytes(original)
    report = cycle(root, stub, [edit(IMPROVING)], repeat=1)
    [candidate] = report.kept
    ident = candidate.proposal.id

    shown = cairn(root, "show", ident)
    assert shown.returncode == 0 and "+You are Cairn.    Be brief. Always read" in shown.stdout
    listed = cairn(root, "list")
    assert ident in listed.stdout and "held-out 33% → 67%" in listed.stdout

    accepted = cairn(root, "accept", ident)
    assert accepted.returncode == 0, accepted.stderr
    assert agents.read_bytes() == original.replace(
        b"Be brief.", f"Be brief. {READ_FIRST}".encode(), 1
    )
    log = cairn(root, "log").stdout
    assert (
        f"· {ident}-" in log and " · applied" in log and f"cairn improve rollback {ident}-" in log
    )
    assert cairn(root, "list").stdout.startswith("no proposals waiting")

    rolled = cairn(root, "rollback", ident)
    assert rolled.returncode == 0, rolled.stderr
    assert agents.read_bytes() == original
    assert "rolled back" in cairn(root, "log").stdout
    again = cairn(root, "rollback", ident)
    assert again.returncode == 2 and "nothing to roll back" in again.stderr


def test_nothing_is_overwritten_that_changed_since(workspace) -> None:
    root, stub = workspace
    agents = root / "agents.md"
    report = cycle(root, stub, [edit(IMPROVING)], repeat=1)
    ident = report.kept[0].proposal.id
    edited = agents.read_bytes() + b"\nMy own line.\n"
    agents.write_bytes(edited)
    refused = cairn(root, "accept", ident)
    assert refused.returncode == 2 and "has changed since" in refused.stderr
    assert agents.read_bytes() == edited
    # Accepted on the file as it was, then edited by hand: rollback refuses too.
    agents.write_bytes(edited[: -len(b"\nMy own line.\n")])
    assert cairn(root, "accept", ident).returncode == 0
    by_hand = agents.read_bytes() + b"\nAnother.\n"
    agents.write_bytes(by_hand)
    refused = cairn(root, "rollback", ident)
    assert refused.returncode == 2 and "was edited after" in refused.stderr
    assert agents.read_bytes() == by_hand


def test_a_planted_or_repeated_proposal_is_refused(workspace) -> None:
    root, stub = workspace
    report = cycle(root, stub, [edit(IMPROVING)], repeat=1)
    ident = report.kept[0].proposal.id
    pending = root / ".cairn/improve/pending" / f"{ident}.json"
    # A record edited on disk to aim at a file that is not the harness's is refused.
    record = json.loads(pending.read_text())
    planted = dict(record, proposal=dict(record["proposal"], path="spaces/team/readme.md"))
    pending.write_text(json.dumps(planted))
    refused = cairn(root, "accept", ident)
    assert refused.returncode == 2 and "not a skill, an operator or agents.md" in refused.stderr
    pending.write_text(json.dumps(record))
    assert cairn(root, "accept", ident).returncode == 0
    # The same edit proposed again while applied cannot be applied twice.
    changes.save_pending(root, changes.Pending.from_json(record))
    again = cairn(root, "accept", ident)
    assert again.returncode == 2 and "already applied" in again.stderr
