"""The headless approval queue on real files: queue, list, resolve, redaction, races."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.core.tasks.approvals import ApprovalRequest
from cairn.infra.approvals import ApprovalNotFoundError, ApprovalQueue
from cairn.infra.redaction import REDACTOR

SECRET = "queue-test-secret-value-123456"


@pytest.fixture
def queue(tmp_path: Path) -> ApprovalQueue:
    return ApprovalQueue(tmp_path)


@pytest.fixture
def registered_secret() -> Iterator[str]:
    REDACTOR.register("queue-test", SECRET)
    try:
        yield SECRET
    finally:
        REDACTOR.forget("queue-test")


def make(path: str = "notes/a.md", content: str = "hello\n", **kw: str) -> ApprovalRequest:
    return ApprovalRequest(
        "write_file",
        {"path": path, "content": content},
        path=path,
        reason="rule 12: write_file → ask",
        **kw,
    )


def test_queue_writes_a_pending_file(queue: ApprovalQueue, tmp_path: Path) -> None:
    request = make()
    written = queue.queue(request, "task-1", automation="morning-brief")
    assert written == tmp_path / ".cairn/approvals/pending" / f"{request.id}.json"
    record = json.loads(written.read_text(encoding="utf-8"))
    assert record["id"] == request.id
    assert record["task"] == "task-1" and record["automation"] == "morning-brief"
    assert record["tool"] == "write_file" and record["path"] == "notes/a.md"
    assert record["arguments"] == {"path": "notes/a.md", "content": "hello\n"}
    assert record["reason"] == "rule 12: write_file → ask"
    assert record["preview"] == request.preview
    assert record["queued_at"]
    if os.name == "posix":
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert not [p for p in written.parent.iterdir() if p.name.startswith(".")]
    assert queue.pending() == [record]


def test_arguments_are_redacted_before_they_reach_the_disk(
    queue: ApprovalQueue, registered_secret: str
) -> None:
    key_like = "sk-proj-abcdefghij0123456789"
    request = make(content=f"key={registered_secret}\nother {key_like}\n")
    text = queue.queue(request, "task-1").read_text(encoding="utf-8")
    assert registered_secret not in text and key_like not in text
    record = queue.pending()[0]
    assert "[redacted:queue-test]" in record["arguments"]["content"]
    assert "[redacted:key-like]" in record["arguments"]["content"]
    assert registered_secret not in record["preview"]


def test_pending_lists_oldest_first_and_skips_broken_files(
    queue: ApprovalQueue, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = make("a.md", id="first"), make("b.md", id="second")
    queue.queue(second, "t")
    queue.queue(first, "t")
    for name, record in (("first", "2020-01-01T00:00:00+00:00"), ("second", "2021-01-01")):
        path = queue.pending_folder / f"{name}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["queued_at"] = record
        path.write_text(json.dumps(data), encoding="utf-8")
    (queue.pending_folder / "torn.json").write_text("{not json", encoding="utf-8")
    (queue.pending_folder / "list.json").write_text("[1, 2]", encoding="utf-8")
    (queue.pending_folder / "notes.txt").write_text("ignored", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="cairn.infra.approvals"):
        assert [r["id"] for r in queue.pending()] == ["first", "second"]
    assert "torn.json" in caplog.text and "list.json" in caplog.text


def test_pending_of_a_fresh_workspace_is_empty(queue: ApprovalQueue) -> None:
    assert queue.pending() == []


@pytest.mark.parametrize("approved", [True, False])
def test_resolve_moves_the_file_to_decided(queue: ApprovalQueue, approved: bool) -> None:
    request = make()
    queue.queue(request, "task-1")
    record = queue.resolve(request.id, approved=approved, by="desktop")
    assert record["decision"] == ("approved" if approved else "denied")
    assert record["decided_by"] == "desktop" and record["decided_at"]
    assert record["task"] == "task-1"
    assert queue.pending() == []
    decided = queue.decided_folder / f"{request.id}.json"
    assert json.loads(decided.read_text(encoding="utf-8")) == record
    assert [p.name for p in queue.decided_folder.iterdir()] == [decided.name]
    with pytest.raises(ApprovalNotFoundError):
        queue.resolve(request.id, approved=True, by="cli")


def test_resolve_unknown_or_unsafe_ids(queue: ApprovalQueue, tmp_path: Path) -> None:
    with pytest.raises(ApprovalNotFoundError):
        queue.resolve("nope", approved=True, by="cli")
    (tmp_path / "victim.json").write_text("{}", encoding="utf-8")
    for bad in ("../../victim", "a/b", "", "x" * 65):
        with pytest.raises(ValueError, match="approval id"):
            queue.resolve(bad, approved=True, by="cli")
    assert (tmp_path / "victim.json").exists()
    with pytest.raises(ValueError, match="approval id"):
        queue.queue(make(id="../escape"), "t")


def test_two_answers_at_once_decide_once(queue: ApprovalQueue) -> None:
    request = make()
    queue.queue(request, "task-1")
    gate = threading.Barrier(6)
    results: list[str] = []

    def answer(index: int) -> None:
        gate.wait()
        try:
            queue.resolve(request.id, approved=index % 2 == 0, by=f"r{index}")
            results.append("won")
        except ApprovalNotFoundError:
            results.append("lost")

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("won") == 1
    assert [p.name for p in queue.decided_folder.iterdir()] == [f"{request.id}.json"]
