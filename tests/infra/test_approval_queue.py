"""The headless approval queue on real files: queue, list, resolve, redaction, races."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cairn.core.tasks.approvals import ApprovalRequest, Replay
from cairn.infra.approvals import EXPIRY, ApprovalNotFoundError, ApprovalQueue, expires_at
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


def make(path: str = "notes/a.md", content: str = "hello\n", **kw: Any) -> ApprovalRequest:
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
    now = datetime.now(UTC)
    for name, record in (
        ("first", (now - timedelta(days=2)).isoformat()),
        ("second", (now - timedelta(days=1)).isoformat()),
    ):
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


def age(queue: ApprovalQueue, id: str, by: timedelta) -> None:
    path = queue.pending_folder / f"{id}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["queued_at"] = (datetime.now(UTC) - by).isoformat(timespec="seconds")
    path.write_text(json.dumps(data), encoding="utf-8")


def test_the_queue_records_what_performing_it_later_needs(queue: ApprovalQueue) -> None:
    request = make(replay=Replay("abc123", "team", ("a reason",)))
    queue.queue(request, "t")
    [record] = queue.pending()
    assert record["replay"] == {"base_hash": "abc123", "space": "team", "sensitive": ["a reason"]}
    assert record["redacted"] is False
    assert expires_at(record) == datetime.fromisoformat(record["queued_at"]) + EXPIRY
    queue.queue(make(id="plain"), "t")
    assert queue.get("plain")["replay"] is None


def test_reading_the_queue_moves_expired_approvals_to_decided(queue: ApprovalQueue) -> None:
    assert timedelta(days=7) == EXPIRY
    for id in ("old", "fresh", "undated"):
        queue.queue(make(id=id), "t")
    age(queue, "old", EXPIRY + timedelta(minutes=1))
    age(queue, "fresh", EXPIRY - timedelta(minutes=1))
    path = queue.pending_folder / "undated.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"queued_at"', '"was"'), "utf-8")
    pending, gone = queue.read()
    assert [r["id"] for r in pending] == ["fresh"]
    assert sorted(r["id"] for r in gone) == ["old", "undated"]
    assert {r["decision"] for r in gone} == {"expired"}
    assert queue.decided("old")["decided_by"] == "expiry"
    assert queue.read() == (pending, [])


def test_an_expired_approval_is_never_performed(queue: ApprovalQueue) -> None:
    queue.queue(make(id="late"), "t")
    age(queue, "late", EXPIRY * 2)
    done: list[str] = []
    record = queue.resolve("late", True, "cli", perform=lambda r: done.append(r["id"]) or {})
    assert record["decision"] == "expired" and done == []


def test_perform_runs_once_for_the_caller_that_wins(queue: ApprovalQueue) -> None:
    request = make()
    queue.queue(request, "task-1")
    gate = threading.Barrier(6)
    done: list[int] = []

    def answer(index: int) -> None:
        gate.wait()
        with contextlib.suppress(ApprovalNotFoundError):
            queue.resolve(
                request.id,
                approved=True,
                by=f"r{index}",
                perform=lambda r: done.append(index) or {"outcome": "performed"},
            )

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == 1
    assert queue.decided(request.id)["outcome"] == "performed"


def test_a_perform_that_crashes_is_recorded_as_failed(queue: ApprovalQueue) -> None:
    queue.queue(make(id="boom"), "t")

    def crash(record: dict[str, object]) -> dict[str, object]:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        queue.resolve("boom", True, "cli", perform=crash)
    decided = queue.decided("boom")
    assert decided is not None and decided["outcome"] == "failed"
    assert decided["detail"] == "RuntimeError: disk on fire"
    assert queue.pending() == []
    assert [p.name for p in queue.decided_folder.iterdir()] == ["boom.json"]
