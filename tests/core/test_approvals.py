"""Permission rules, glob matching, risk tightening and approvals decided across threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from cairn.core.tasks.approvals import (
    ApprovalRequest,
    PermissionCheck,
    check_permission,
    glob_match,
    preview_text,
    tighten,
)
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schema import PermissionRule
from cairn.infra.files import LocalFileStore
from tests.conftest import copy_starter


def rules(*specs: dict[str, Any]) -> tuple[PermissionRule, ...]:
    return tuple(PermissionRule.model_validate(spec) for spec in specs)


@pytest.fixture(scope="module")
def starter_rules(tmp_path_factory: pytest.TempPathFactory) -> Sequence[PermissionRule]:
    root = copy_starter(tmp_path_factory.mktemp("starter") / "ws")
    model = WorkspaceModel(LocalFileStore(root))
    agents = model.load().agents
    assert agents is not None
    return agents.policy.permissions


# --- glob_match -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("agents.md", "agents.md", True),
        ("agents.md", "spaces/agents.md", False),
        ("agents.md", "AGENTS.md", False),  # case-sensitive
        ("agents.md", "agents_md", False),  # '.' is literal
        ("spaces/*/drafts/**", "spaces/team/drafts/a.md", True),
        ("spaces/*/drafts/**", "spaces/team/drafts/a/b.md", True),
        ("spaces/*/drafts/**", "spaces/team/drafts", False),
        ("spaces/*/drafts/**", "spaces/a/b/drafts/x.md", False),  # * is one segment
        ("spaces/*/drafts/**", "other/team/drafts/x.md", False),
        ("*.md", "note.md", True),
        ("*.md", "notes/note.md", False),
        ("**/*.md", "note.md", True),
        ("**/*.md", "a/b/c/note.md", True),
        ("**/*.md", "a/b/c/note.txt", False),
        ("spaces/**/readme.md", "spaces/readme.md", True),
        ("spaces/**/readme.md", "spaces/team/deep/readme.md", True),
        ("**", "anything/at/all.md", True),
        ("**", "", False),
        ("note?.md", "note1.md", True),
        ("note?.md", "note12.md", False),
        ("a?b", "a/b", False),  # ? never crosses a segment
        ("a[b].md", "a[b].md", True),  # only * and ? are special
        ("a[b].md", "ab.md", False),
        ("notes/**", "notes/x.md", True),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


# --- check_permission -------------------------------------------------------------------------


def test_starter_rules(starter_rules: Sequence[PermissionRule]) -> None:
    def decide(tool: str, path: str | None = None) -> PermissionCheck:
        action = "write" if tool in ("write_file", "append_file") else "read"
        return check_permission(starter_rules, tool, action=action, path=path)

    assert decide("read_file", "agents.md") == PermissionCheck(
        "allow", 0, "rule 1: read_file → allow"
    )
    for tool in ("list_files", "search", "load_skill", "consult_operator", "ask_user"):
        assert decide(tool).decision == "allow"
    assert decide("write_file", "spaces/team/drafts/a/b.md") == PermissionCheck(
        "allow", 7, "rule 8: write_file on spaces/*/drafts/** → allow"
    )
    assert decide("write_file", "spaces/team/briefs/x.md").decision == "allow"
    assert decide("write_file", "spaces/chief-of-staff/reviews/w.md").decision == "allow"
    assert decide("write_file", "agents.md") == PermissionCheck(
        "deny", 10, "rule 11: * (write) on agents.md → deny"
    )
    assert decide("write_file", "spaces/team/readme.md") == PermissionCheck(
        "ask", 11, "rule 12: write_file → ask"
    )
    assert decide("write_file").rule == 11  # path rules never match a call without a path
    assert decide("append_file", "spaces/team/drafts/x.md").rule == 12
    assert decide("append_file", "agents.md").decision == "deny"  # any write to agents.md
    assert decide("delete_everything", "agents.md") == PermissionCheck(
        "ask", None, "no rule matched: ask by default"
    )


def test_first_match_wins() -> None:
    ordered = rules(
        {"tool": "write_file", "path": "notes/**", "decision": "allow"},
        {"tool": "write_file", "path": "notes/**", "decision": "deny"},
        {"tool": "*", "decision": "deny"},
    )
    assert check_permission(ordered, "write_file", path="notes/a.md").decision == "allow"
    assert check_permission(ordered, "write_file", path="other.md").rule == 2
    assert check_permission(ordered, "read_file").reason == "rule 3: * → deny"
    assert check_permission((), "read_file").decision == "ask"


def test_actions_and_paths_must_both_match() -> None:
    ordered = rules(
        {"tool": "*", "action": "read", "decision": "allow"},
        {"tool": "*", "action": "write", "path": "drafts/**", "decision": "allow"},
        {"tool": "*", "decision": "deny"},
    )
    assert check_permission(ordered, "search", action="read").rule == 0
    assert check_permission(ordered, "search").rule == 2  # the rule names an action
    assert check_permission(ordered, "write_file", action="write", path="drafts/x.md") == (
        PermissionCheck("allow", 1, "rule 2: * (write) on drafts/** → allow")
    )
    assert check_permission(ordered, "write_file", action="write", path="x.md").rule == 2
    assert check_permission(ordered, "write_file", action="write").rule == 2


def test_tighten_only_ever_tightens() -> None:
    allow = PermissionCheck("allow", 0, "rule 1: read_file → allow")
    ask = PermissionCheck("ask", None, "no rule matched: ask by default")
    deny = PermissionCheck("deny", 3, "rule 4: write_file on agents.md → deny")
    assert tighten(allow, "low") is allow
    assert tighten(allow, None) is allow
    high = tighten(allow, "high")
    assert high == PermissionCheck("ask", 0, "rule 1: read_file → allow; judged high risk → ask")
    assert tighten(allow, "dunno").decision == "ask"  # garbled judgement is not "safe"
    for check in (ask, deny):
        assert tighten(check, "low") is check
        assert tighten(check, "high") is check


# --- ApprovalRequest --------------------------------------------------------------------------


def request(**overrides: Any) -> ApprovalRequest:
    arguments = {"path": "notes/a.md", "content": "hello\n"}
    return ApprovalRequest(
        overrides.pop("tool", "write_file"),
        overrides.pop("arguments", arguments),
        path="notes/a.md",
        reason="rule 12: write_file → ask",
        **overrides,
    )


def test_a_request_decided_on_another_thread_wakes_the_waiter() -> None:
    pending = request()
    assert not pending.decided and not pending.approved and pending.decided_by is None

    def answer() -> None:
        time.sleep(0.05)
        pending.approve(by="desktop")

    threading.Thread(target=answer).start()
    assert pending.wait(timeout=5)
    assert pending.decided and pending.approved and pending.decided_by == "desktop"
    assert pending.why == ""


def test_deny_with_reason_and_decided_once() -> None:
    pending = request()
    assert pending.deny(by="cli", why="not that file")
    assert not pending.approve()  # later calls are ignored
    assert not pending.deny(by="someone else", why="other")
    assert pending.decided and not pending.approved
    assert (pending.decided_by, pending.why) == ("cli", "not that file")
    assert pending.wait(0)
    assert "denied" in repr(pending)


def test_wait_times_out_undecided() -> None:
    pending = request()
    started = time.monotonic()
    assert not pending.wait(timeout=0.05)
    assert time.monotonic() - started >= 0.04
    assert not pending.decided and not pending.approved


def race(pending: ApprovalRequest, answers: int) -> list[bool]:
    """Answer `pending` from many threads released at the same instant."""
    gate = threading.Barrier(answers)
    wins: list[bool] = []

    def answer(index: int) -> None:
        gate.wait()
        wins.append(pending.approve(f"a{index}") if index % 2 else pending.deny(f"d{index}"))

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(answers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wins


def test_racing_answers_decide_exactly_once() -> None:
    for _ in range(20):
        pending = request()
        assert race(pending, 8).count(True) == 1
        assert pending.decided_by is not None
        assert pending.approved == pending.decided_by.startswith("a")


def test_request_fields_and_preview() -> None:
    content = "".join(f"line {n}\n" for n in range(1, 61))
    pending = request(arguments={"path": "notes/a.md", "content": content})
    other = request()
    assert len(pending.id) == 12 and pending.id != other.id
    assert pending.tool == "write_file" and pending.path == "notes/a.md"
    assert pending.reason == "rule 12: write_file → ask"
    lines = pending.preview.splitlines()
    assert lines[0] == "write_file(path='notes/a.md')"
    assert lines[1] == "line 1" and lines[40] == "line 40"
    assert lines[41] == "[… 20 more lines]"
    assert request(preview="custom", id="abc").preview == "custom"
    assert request(id="abc").id == "abc"
    assert preview_text("search", {"query": "x"}) == "search(query='x')"


def test_a_question_is_answered_once_whichever_thread_is_first() -> None:
    from cairn.core.tasks.events import Answer

    for _ in range(50):
        answer = Answer()
        start = threading.Barrier(8)
        won: list[str] = []

        def give(
            text: str,
            slot: Answer = answer,
            gate: threading.Barrier = start,
            winners: list[str] = won,
        ) -> None:
            gate.wait()
            if slot.give(text):
                winners.append(text)

        threads = [threading.Thread(target=give, args=(f"answer {n}",)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1 and answer.wait(0) == won[0]
