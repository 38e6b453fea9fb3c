"""WorkspaceModel subscriptions on real folders: typed events, many subscribers, isolation.

Each test works on a fresh copy of the starter workspace. Subscribers are called on the
thread that changes the model, before `write`, `delete` or `refresh` returns, so the tests
read what arrived right after the call.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from cairn.core.workspace.diagnostics import Severity
from cairn.core.workspace.loader import (
    DiagnosticsChanged,
    EntityAdded,
    EntityChanged,
    EntityEvent,
    EntityRemoved,
    WorkspaceEvent,
    WorkspaceModel,
)
from cairn.infra.files import LocalFileStore

Batch = tuple[WorkspaceEvent, ...]

OPERATOR = """---
name: second-reader
description: "Reads everything twice."
when: "Before anything is sent."
---

Read it twice and say what is unclear.
"""

OP = "operators/second-reader.md"
BROKEN_SKILL = "---\nname: morning-brief\ndescription: [unclosed\n---\n\nBody.\n"


class Recorder:
    """A subscriber that keeps every batch it receives."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def __call__(self, events: Batch) -> None:
        self.batches.append(events)

    def take(self) -> list[Batch]:
        taken, self.batches = self.batches, []
        return taken


def entity_events(batch: Batch) -> set[tuple[str, str, str, str, str]]:
    return {
        (type(e).__name__, e.what, e.name, e.path, e.origin)
        for e in batch
        if isinstance(e, EntityEvent)
    }


def diagnostics_event(batch: Batch) -> DiagnosticsChanged | None:
    found = [e for e in batch if isinstance(e, DiagnosticsChanged)]
    assert len(found) <= 1, batch
    assert not found or batch[-1] is found[0], "DiagnosticsChanged must come last"
    return found[0] if found else None


@pytest.fixture
def model(starter: Path) -> WorkspaceModel:
    model = WorkspaceModel(LocalFileStore(starter))
    assert not model.load().diagnostics
    return model


def current_hash(root: Path, path: str) -> str:
    digest = LocalFileStore(root).current_hash(path)
    assert digest is not None
    return digest


def test_two_subscribers_receive_every_event_of_writes_through_the_model(
    starter: Path, model: WorkspaceModel
) -> None:
    first, second = Recorder(), Recorder()
    model.subscribe(first)
    model.subscribe(second)

    # Added: a new operator file.
    update = model.write(OP, OPERATOR, base_hash=None)
    [added] = first.take()
    assert second.take() == [added]
    assert entity_events(added) == {
        ("EntityAdded", "file", OP, OP, "cairn"),
        ("EntityAdded", "operator", "second-reader", OP, "cairn"),
    }
    assert all(e.workspace is update.workspace is model.workspace for e in added)
    assert diagnostics_event(added) is None  # a clean file changes no diagnostics

    # Changed: the skill's body.
    path = "skills/weekly-review/SKILL.md"
    text = (starter / path).read_text(encoding="utf-8") + "\nOne more step.\n"
    model.write(path, text, base_hash=current_hash(starter, path))
    [changed] = first.take()
    assert second.take() == [changed]
    assert entity_events(changed) == {
        ("EntityChanged", "file", path, path, "cairn"),
        ("EntityChanged", "skill", "weekly-review", path, "cairn"),
    }
    skill_event = next(e for e in changed if isinstance(e, EntityChanged) and e.what == "skill")
    assert skill_event.kind == "modified"
    assert skill_event.workspace.skills["weekly-review"].body.endswith("One more step.\n")

    # Diagnostics: a skill written with broken YAML is removed and reported.
    broken = "skills/morning-brief/SKILL.md"
    model.write(broken, BROKEN_SKILL, base_hash=current_hash(starter, broken))
    [failed] = first.take()
    assert second.take() == [failed]
    assert ("EntityRemoved", "skill", "morning-brief", broken, "cairn") in entity_events(failed)
    diagnostics = diagnostics_event(failed)
    assert diagnostics is not None and diagnostics.origin == "cairn"
    assert broken in diagnostics.paths
    assert "yaml-syntax" in {d.code for d in diagnostics.for_path(broken)}
    assert all(d.path in diagnostics.paths for d in diagnostics.diagnostics)

    # Removed: deleting the operator again.
    model.delete(OP, current_hash(starter, OP))
    [removed] = first.take()
    assert second.take() == [removed]
    assert entity_events(removed) == {
        (
            "EntityRemoved",
            "file",
            OP,
            OP,
            "cairn",
        ),
        ("EntityRemoved", "operator", "second-reader", OP, "cairn"),
    }


def test_two_subscribers_receive_every_event_when_refresh_picks_up_disk_edits(
    starter: Path, model: WorkspaceModel
) -> None:
    first, second = Recorder(), Recorder()
    model.subscribe(first)
    model.subscribe(second)
    operator = starter / OP

    operator.write_text(OPERATOR, encoding="utf-8")
    model.refresh([OP])
    operator.write_text(OPERATOR + "\nAnd once more.\n", encoding="utf-8")
    model.refresh(["operators"])  # a folder refresh finds the edited file
    operator.unlink()
    model.refresh([OP])

    batches = first.take()
    assert second.take() == batches
    assert [entity_events(b) for b in batches] == [
        {
            ("EntityAdded", "file", OP, OP, "external"),
            ("EntityAdded", "operator", "second-reader", OP, "external"),
        },
        {
            ("EntityChanged", "file", OP, OP, "external"),
            ("EntityChanged", "operator", "second-reader", OP, "external"),
        },
        {
            ("EntityRemoved", "file", OP, OP, "external"),
            ("EntityRemoved", "operator", "second-reader", OP, "external"),
        },
    ]
    assert [diagnostics_event(b) for b in batches] == [None, None, None]


def test_diagnostics_events_on_disk_edits_report_new_and_cleared_problems(
    starter: Path, model: WorkspaceModel
) -> None:
    first, second = Recorder(), Recorder()
    model.subscribe(first)
    model.subscribe(second)
    path = "skills/morning-brief/SKILL.md"
    good = (starter / path).read_text(encoding="utf-8")

    (starter / path).write_text(BROKEN_SKILL, encoding="utf-8")
    model.refresh([path])
    (starter / path).write_text(good, encoding="utf-8")
    model.refresh([path])

    broken, fixed = first.take()
    assert second.take() == [broken, fixed]
    reported = diagnostics_event(broken)
    assert reported is not None and reported.origin == "external"
    assert [(d.code, d.severity) for d in reported.for_path(path)] == [
        ("yaml-syntax", Severity.ERROR)
    ]
    assert ("EntityAdded", "skill", "morning-brief", path, "external") in entity_events(fixed)
    cleared = diagnostics_event(fixed)
    assert cleared is not None
    assert path in cleared.paths
    assert cleared.for_path(path) == ()  # the path is listed with no problems left
    assert cleared.workspace.diagnostics == ()


def test_diagnostics_events_include_other_files_a_change_affects(
    starter: Path, model: WorkspaceModel
) -> None:
    recorder = Recorder()
    model.subscribe(recorder)
    skill = "skills/inbox-scan/SKILL.md"

    model.delete(skill, current_hash(starter, skill))

    [batch] = recorder.take()
    assert ("EntityRemoved", "skill", "inbox-scan", skill, "cairn") in entity_events(batch)
    diagnostics = diagnostics_event(batch)
    assert diagnostics is not None
    # The automation that uses the skill now has an error, though it was not touched.
    assert [d.code for d in diagnostics.for_path("automations/inbox-scan.md")] == ["unknown-skill"]


def test_unsubscribe_stops_delivery(starter: Path, model: WorkspaceModel) -> None:
    kept, by_method, by_model, by_block = Recorder(), Recorder(), Recorder(), Recorder()
    model.subscribe(kept)
    subscription = model.subscribe(by_method)
    other = model.subscribe(by_model)
    path = "operators/clarity-editor.md"

    def edit(line: str) -> None:
        text = (starter / path).read_text(encoding="utf-8") + f"\n{line}\n"
        model.write(path, text, base_hash=current_hash(starter, path))

    with model.subscribe(by_block) as block:
        assert block.active
        edit("First.")
    assert not block.active
    subscription.unsubscribe()
    model.unsubscribe(other)
    subscription.unsubscribe()  # idempotent
    model.unsubscribe(other)
    assert not subscription.active and not other.active

    edit("Second.")

    assert len(kept.batches) == 2
    assert [b == kept.batches[0] for b in (*by_method.batches, *by_model.batches)] == [True, True]
    assert by_block.batches == [kept.batches[0]]


def test_a_raising_subscriber_does_not_stop_the_other(
    starter: Path, model: WorkspaceModel, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(events: Batch) -> None:
        raise RuntimeError("a listener bug")

    recorder = Recorder()
    model.subscribe(broken)
    model.subscribe(recorder)
    model.subscribe(broken)  # before and after the working one
    path = "skills/research-brief/SKILL.md"
    text = (starter / path).read_text(encoding="utf-8") + "\nChecked.\n"

    with caplog.at_level(logging.ERROR, logger="cairn.core.workspace.loader"):
        update = model.write(path, text, base_hash=current_hash(starter, path))
        (starter / path).write_text(text + "\nAgain.\n", encoding="utf-8")
        again = model.refresh([path])

    assert update.changes and again.changes  # the model went on
    assert model.workspace.skills["research-brief"].body.endswith("Again.\n")
    assert [entity_events(b) for b in recorder.batches] == [
        {
            ("EntityChanged", "file", path, path, "cairn"),
            ("EntityChanged", "skill", "research-brief", path, "cairn"),
        },
        {
            ("EntityChanged", "file", path, path, "external"),
            ("EntityChanged", "skill", "research-brief", path, "external"),
        },
    ]
    failures = [r for r in caplog.records if "listener" in r.getMessage()]
    assert len(failures) == 4  # two broken subscriptions, two batches
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in failures)


def test_nothing_is_emitted_when_nothing_changed(starter: Path, model: WorkspaceModel) -> None:
    from cairn.core.errors import WriteConflictError

    recorder = Recorder()
    model.subscribe(recorder)
    path = "skills/draft-a-reply/SKILL.md"
    assert model.refresh([path, "operators", ""]).changes == ()
    with pytest.raises(WriteConflictError):
        model.write(path, "clobbered", base_hash="0" * 64)
    model.load()  # load starts over and is not announced
    assert recorder.batches == []


def test_subscribing_and_unsubscribing_from_another_thread_during_a_delivery(
    starter: Path, model: WorkspaceModel
) -> None:
    # The first listener blocks in its call until another thread has subscribed a new
    # listener and unsubscribed a later one. Delivery goes over a snapshot, with ended
    # subscriptions skipped: the newcomer hears only later batches, the leaver none more.
    inside, resume = threading.Event(), threading.Event()
    newcomer, leaver, last = Recorder(), Recorder(), Recorder()
    added: list[object] = []

    def blocking(events: Batch) -> None:
        if not resume.is_set():
            inside.set()
            assert resume.wait(5), "the other thread never finished"

    model.subscribe(blocking)
    leaving = model.subscribe(leaver)
    model.subscribe(last)

    def other_thread() -> None:
        assert inside.wait(5)
        added.append(model.subscribe(newcomer))
        leaving.unsubscribe()
        resume.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    path = "operators/investor-view.md"
    text = (starter / path).read_text(encoding="utf-8") + "\nFirst.\n"
    model.write(path, text, base_hash=current_hash(starter, path))
    thread.join(5)
    assert not thread.is_alive() and added

    (starter / path).write_text(text + "\nSecond.\n", encoding="utf-8")
    model.refresh([path])

    assert len(last.batches) == 2
    assert leaver.batches == []  # unsubscribed before its turn came
    assert newcomer.batches == [last.batches[1]]


def test_a_listener_that_writes_does_not_reorder_batches(
    starter: Path, model: WorkspaceModel
) -> None:
    # A listener that changes the model from inside its call: that change is delivered
    # after the current batch has reached every listener, so all see the same order.
    path = "operators/skeptical-engineer.md"
    early, late = Recorder(), Recorder()

    def writer(events: Batch) -> None:
        if any(isinstance(e, EntityAdded) and e.what == "operator" for e in events):
            text = (starter / path).read_text(encoding="utf-8") + "\nFollow-up.\n"
            model.write(path, text, base_hash=current_hash(starter, path))

    model.subscribe(early)
    model.subscribe(writer)
    model.subscribe(late)
    model.write(OP, OPERATOR, base_hash=None)

    assert early.batches == late.batches
    assert [sorted(e.what for e in b if isinstance(e, EntityEvent)) for b in late.batches] == [
        ["file", "operator"],
        ["file", "operator"],
    ]
    assert isinstance(late.batches[0][0], EntityAdded)
    assert isinstance(late.batches[1][0], EntityChanged)


def test_events_compare_by_value_not_by_workspace(model: WorkspaceModel) -> None:
    one = EntityRemoved("skill", "x", "skills/x/SKILL.md", "external", model.workspace)
    other = EntityRemoved("skill", "x", "skills/x/SKILL.md", "external", model.load())
    assert one == other and hash(one) == hash(other)
    assert one != EntityAdded("skill", "x", "skills/x/SKILL.md", "external", model.workspace)
    assert "workspace" not in repr(one)
    with pytest.raises(AttributeError):
        one.name = "y"  # type: ignore[misc]
