"""WorkspaceWatcher with real watchdog over a copied starter workspace, and folder refreshes.

The watcher refreshes the model; the tests subscribe to the model and collect each batch
of events (one per refresh or write) through a thread-safe queue. Tests wait for what they
expect with a deadline (`Updates.wait_for`); where nothing must happen, they wait a few
debounce periods and then make an external "sentinel" edit, which must be the next thing
to arrive: that proves the watcher was alive and that nothing else was queued before it.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cairn.core.workspace.diagnostics import Severity
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.loader import (
    EntityChanged,
    EntityEvent,
    WorkspaceEvent,
    WorkspaceModel,
    WorkspaceUpdate,
)
from cairn.infra.files import LocalFileStore
from cairn.infra.watcher import WorkspaceWatcher

DEBOUNCE = 0.05
TIMEOUT = 5.0
QUIET = DEBOUNCE * 6  # long enough for a debounced refresh to have happened

SKILL = """---
name: {name}
description: "{description}"
---

# {name}

Do the thing, then report.
"""

SPACE = """---
description: "{description}"
scope: team
---

# Research

Notes for the research team.
"""

OPERATOR_WITHOUT_NAME = """---
description: "Reads everything twice."
when: "Before anything is sent."
---

Read it twice and say what is unclear.
"""

Predicate = Callable[[list["Batch"]], bool]

# watchdog's inotify backend warns when a folder created by copytree is watched twice
# (once from its creation event, once from the parent's scan); it is harmless.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id .* already exists:RuntimeWarning")


# --- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """The events a model subscriber received for one refresh or write."""

    events: tuple[WorkspaceEvent, ...]

    @property
    def changes(self) -> tuple[EntityEvent, ...]:
        return tuple(e for e in self.events if isinstance(e, EntityEvent))

    @property
    def workspace(self) -> Workspace:
        return self.events[0].workspace


class Updates:
    """Thread-safe collector of a model subscriber's batches, with deadline-based waiting."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Batch] = queue.Queue()
        self.seen: list[Batch] = []
        self.arrivals: queue.Queue[float] = queue.Queue()  # monotonic time of each batch

    def __call__(self, events: tuple[WorkspaceEvent, ...]) -> None:
        self.arrivals.put(time.monotonic())
        self._queue.put(Batch(events))

    def wait_for(self, predicate: Predicate, timeout: float = TIMEOUT) -> list[Batch]:
        """Collect until `predicate(all updates seen so far)` holds; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"timed out after {timeout}s; updates so far: {describe(self.seen)}")
            try:
                self.seen.append(self._queue.get(timeout=min(remaining, 0.05)))
            except queue.Empty:
                continue
        return self.seen

    def collect_for(self, seconds: float) -> list[Batch]:
        """Whatever arrives within `seconds` (used to prove that nothing more comes)."""
        deadline = time.monotonic() + seconds
        fresh: list[Batch] = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                fresh.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        self.seen.extend(fresh)
        return fresh

    def changes(self) -> set[tuple[str, str, str]]:
        return {(c.kind, c.what, c.name) for u in self.seen for c in u.changes}

    @property
    def latest(self) -> Workspace:
        assert self.seen, "no update arrived"
        return self.seen[-1].workspace


def describe(updates: list[Batch]) -> list[list[tuple[str, str, str, str]]]:
    return [[(c.kind, c.what, c.name, c.origin) for c in u.changes] for u in updates]


def has(*expected: tuple[str, str, str]) -> Predicate:
    """Predicate: every expected (kind, what, name) change has arrived in some update."""

    def check(updates: list[Batch]) -> bool:
        got = {(c.kind, c.what, c.name) for u in updates for c in u.changes}
        return set(expected) <= got

    return check


def entity_changes(update: WorkspaceUpdate | Batch) -> set[tuple[str, str, str]]:
    return {(c.kind, c.what, c.name) for c in update.changes if c.what != "file"}


def edit(path: Path, extra: str) -> str:
    text = path.read_text(encoding="utf-8") + extra
    path.write_text(text, encoding="utf-8")
    return text


@pytest.fixture
def root(starter: Path) -> Path:
    """A fresh copy of the starter workspace (the `starter` fixture of tests/conftest.py)."""
    return starter


@pytest.fixture
def model(root: Path) -> WorkspaceModel:
    model = WorkspaceModel(LocalFileStore(root))
    workspace = model.load()
    assert not [d for d in workspace.diagnostics if d.severity == Severity.ERROR]
    return model


@pytest.fixture
def watch(model: WorkspaceModel, root: Path) -> Iterator[Callable[..., Updates]]:
    """Subscribe to the model and start a watcher (once per test); stop both at the end."""
    started: list[WorkspaceWatcher] = []

    def start(debounce: float = DEBOUNCE, **options: float) -> Updates:
        updates = Updates()
        model.subscribe(updates)
        watcher = WorkspaceWatcher(model, root, debounce=debounce, **options)
        watcher.start()
        started.append(watcher)
        return updates

    yield start
    for watcher in started:
        watcher.stop()


def sentinel(root: Path, updates: Updates, seen_before: int) -> None:
    """Make an external edit and check it is the only thing that arrived since `seen_before`."""
    edit(root / "skills" / "meeting-notes-digest" / "SKILL.md", "\nSentinel line.\n")
    updates.wait_for(has(("modified", "skill", "meeting-notes-digest")))
    arrived = updates.seen[seen_before:]
    assert {(c.kind, c.what, c.name) for u in arrived for c in u.changes} == {
        ("modified", "file", "skills/meeting-notes-digest/SKILL.md"),
        ("modified", "skill", "meeting-notes-digest"),
    }, describe(arrived)


def link_outside(tmp_path: Path, root: Path) -> str:
    """An operator that is a symlink leading outside the workspace: it loads as unreadable."""
    target = tmp_path / "elsewhere" / "lens.md"
    target.parent.mkdir()
    target.write_text(OPERATOR_WITHOUT_NAME, encoding="utf-8")
    try:
        os.symlink(target, root / "operators" / "elsewhere.md")
    except (OSError, NotImplementedError) as exc:
        pytest.skip(f"cannot create symbolic links here: {exc}")
    return "operators/elsewhere.md"


# --- edits, saves, deletes, moves ------------------------------------------------------------


def test_editing_a_skill_in_place_gives_one_modified_update(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    updates = watch()
    text = edit(root / "skills" / "morning-brief" / "SKILL.md", "\nOne more pitfall.\n")

    updates.wait_for(has(("modified", "skill", "morning-brief")))
    updates.collect_for(QUIET)

    assert len(updates.seen) == 1, describe(updates.seen)
    update = updates.seen[0]
    assert entity_changes(update) == {("modified", "skill", "morning-brief")}
    change = next(c for c in update.changes if c.what == "skill")
    assert change == EntityChanged(
        "skill", "morning-brief", "skills/morning-brief/SKILL.md", "external", model.workspace
    )
    assert update.workspace.skills["morning-brief"].body.endswith("One more pitfall.\n")
    assert model.workspace is update.workspace
    assert text.endswith("One more pitfall.\n")


def test_save_by_rename_is_a_modification(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    updates = watch()
    folder = root / "skills" / "weekly-review"
    temp = folder / ".SKILL.md.tmp"
    temp.write_text(
        (folder / "SKILL.md").read_text(encoding="utf-8") + "\nSaved by rename.\n", encoding="utf-8"
    )
    os.replace(temp, folder / "SKILL.md")

    updates.wait_for(has(("modified", "skill", "weekly-review")))
    updates.collect_for(QUIET)

    assert set().union(*(entity_changes(u) for u in updates.seen)) == {
        ("modified", "skill", "weekly-review")
    }
    assert "added" not in {c.kind for u in updates.seen for c in u.changes}
    assert "removed" not in {c.kind for u in updates.seen for c in u.changes}
    assert updates.latest.skills["weekly-review"].body.endswith("Saved by rename.\n")
    assert not any(".tmp" in p for p in model.workspace.files)


def test_deleting_a_skill_folder_removes_the_skill(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    updates = watch()
    shutil.rmtree(root / "skills" / "decision-memo")  # a skill with a bundled reference

    updates.wait_for(has(("removed", "skill", "decision-memo")))
    updates.collect_for(QUIET)

    workspace = updates.latest
    assert "decision-memo" not in workspace.skills
    assert not any(p.startswith("skills/decision-memo/") for p in workspace.files)
    assert ("removed", "file", "skills/decision-memo/SKILL.md") in updates.changes()
    assert "morning-brief" in workspace.skills
    assert model.workspace is workspace


def test_renaming_an_operator_file_removes_the_old_and_adds_the_new(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    (root / "operators" / "second-reader.md").write_text(OPERATOR_WITHOUT_NAME, encoding="utf-8")
    assert "second-reader" in model.load().operators
    updates = watch()

    os.rename(root / "operators" / "second-reader.md", root / "operators" / "final-reader.md")

    updates.wait_for(
        has(("removed", "operator", "second-reader"), ("added", "operator", "final-reader"))
    )
    workspace = updates.latest
    assert "second-reader" not in workspace.operators
    assert workspace.operators["final-reader"].path == "operators/final-reader.md"
    assert {
        ("removed", "file", "operators/second-reader.md"),
        ("added", "file", "operators/final-reader.md"),
    } <= updates.changes()


def test_moving_an_operator_into_a_space(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    (root / "spaces" / "team" / "operators").mkdir()
    updates = watch()

    shutil.move(
        root / "operators" / "investor-view.md",
        root / "spaces" / "team" / "operators" / "investor-view.md",
    )

    updates.wait_for(
        has(("removed", "operator", "investor-view"), ("added", "operator", "team/investor-view"))
    )
    workspace = updates.latest
    assert "investor-view" not in workspace.operators
    assert "investor-view" in workspace.spaces["team"].operators
    assert "investor-view" in workspace.operators_for("team")


def test_renaming_a_named_operator_reports_the_name_mismatch(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    updates = watch()
    os.rename(root / "operators" / "clarity-editor.md", root / "operators" / "plain-editor.md")

    updates.wait_for(
        has(
            ("removed", "file", "operators/clarity-editor.md"),
            ("added", "file", "operators/plain-editor.md"),
        )
    )
    workspace = updates.latest
    # Its frontmatter still says clarity-editor: the declared name wins, with a warning.
    assert "plain-editor" not in workspace.operators
    assert workspace.operators["clarity-editor"].path == "operators/plain-editor.md"
    codes = {d.code for d in workspace.diagnostics if d.path == "operators/plain-editor.md"}
    assert "name-mismatch" in codes


def test_a_whole_new_space_folder_copied_in_is_added(
    tmp_path: Path, root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    incoming = tmp_path / "incoming" / "research"
    (incoming / "skills" / "triage").mkdir(parents=True)
    (incoming / "notes").mkdir()
    (incoming / "readme.md").write_text(
        SPACE.format(description="Research work."), encoding="utf-8"
    )
    (incoming / "skills" / "triage" / "SKILL.md").write_text(
        SKILL.format(name="triage", description="Sorts incoming papers."), encoding="utf-8"
    )
    (incoming / "notes" / "ideas.md").write_text("not a model file\n", encoding="utf-8")
    updates = watch()

    shutil.copytree(incoming, root / "spaces" / "research")

    def complete(seen: list[Batch]) -> bool:
        if not has(("added", "space", "research"), ("added", "skill", "research/triage"))(seen):
            return False
        space = seen[-1].workspace.spaces.get("research")
        return space is not None and "triage" in space.skills

    updates.wait_for(complete)
    workspace = updates.latest
    assert workspace.spaces["research"].meta.description == "Research work."
    assert workspace.skills_for("research")["triage"].space == "research"
    assert "triage" not in workspace.skills  # a space skill, not a workspace one
    assert "spaces/research/notes/ideas.md" not in workspace.files
    assert model.workspace is workspace


def test_a_whole_new_skill_folder_with_resources_is_added(
    tmp_path: Path, root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    incoming = tmp_path / "incoming" / "summarise"
    (incoming / "scripts").mkdir(parents=True)
    (incoming / "SKILL.md").write_text(
        SKILL.format(name="summarise", description="Summarises a file."), encoding="utf-8"
    )
    (incoming / "scripts" / "count.py").write_text("print(1)\n", encoding="utf-8")
    updates = watch()

    shutil.copytree(incoming, root / "skills" / "summarise")

    def complete(seen: list[Batch]) -> bool:
        skill = seen[-1].workspace.skills.get("summarise") if seen else None
        return skill is not None and skill.resources.scripts == (
            "skills/summarise/scripts/count.py",
        )

    updates.wait_for(complete)
    assert ("added", "skill", "summarise") in updates.changes()
    assert updates.latest.skills["summarise"].folder == "skills/summarise"


# --- debouncing ------------------------------------------------------------------------------


def burst(path: Path, count: int, gap: float) -> str:
    base = path.read_text(encoding="utf-8")
    text = base
    for index in range(count):
        text = base + f"\nBurst edit {index}.\n"
        path.write_text(text, encoding="utf-8")
        if gap:
            time.sleep(gap)  # pacing the writer, not waiting for a result
    return text


def test_a_burst_of_writes_ends_with_the_final_content(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    updates = watch()
    path = root / "skills" / "inbox-scan" / "SKILL.md"
    final = burst(path, 20, 0.0)

    def settled(seen: list[Batch]) -> bool:
        skill = seen[-1].workspace.skills.get("inbox-scan") if seen else None
        return skill is not None and skill.body.endswith("Burst edit 19.\n")

    updates.wait_for(settled)
    updates.collect_for(QUIET)
    assert updates.latest.skills["inbox-scan"].body.endswith("Burst edit 19.\n")
    assert model.workspace.skills["inbox-scan"].content_hash == LocalFileStore(root).current_hash(
        "skills/inbox-scan/SKILL.md"
    )
    assert path.read_text(encoding="utf-8") == final


def test_a_burst_of_writes_is_debounced_into_one_update(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    # Writes 5 ms apart, debounce 0.25 s: the burst is never quiet for a debounce period,
    # so a debouncer that waits for quiet refreshes exactly once, after the last write.
    # (Regression: the quiet period used to restart only when a *new* path arrived, and
    # any event cut the wait short, so this burst became ~15 updates, some of them read
    # mid-write with the skill transiently removed.)
    updates = watch(debounce=0.25)
    burst(root / "skills" / "inbox-scan" / "SKILL.md", 20, 0.005)

    def settled(seen: list[Batch]) -> bool:
        skill = seen[-1].workspace.skills.get("inbox-scan") if seen else None
        return skill is not None and skill.body.endswith("Burst edit 19.\n")

    updates.wait_for(settled)
    updates.collect_for(0.75)
    assert len(updates.seen) == 1, describe(updates.seen)
    assert entity_changes(updates.seen[0]) == {("modified", "skill", "inbox-scan")}


def test_a_steady_stream_of_writes_still_flushes_after_max_delay(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    # Writes every 20 ms for ~1.2 s never leave a 0.25 s quiet period; max_delay=0.3 makes
    # the watcher refresh anyway, so the first update arrives while the writes go on.
    updates = watch(debounce=0.25, max_delay=0.3)
    path = root / "skills" / "inbox-scan" / "SKILL.md"
    base = path.read_text(encoding="utf-8")
    for index in range(60):
        path.write_text(base + f"\nStream edit {index}.\n", encoding="utf-8")
        time.sleep(0.02)  # pacing the writer, not waiting for a result
    stream_ended = time.monotonic()

    def settled(seen: list[Batch]) -> bool:
        skill = seen[-1].workspace.skills.get("inbox-scan") if seen else None
        return skill is not None and skill.body.endswith("Stream edit 59.\n")

    updates.wait_for(settled)
    first_arrival = updates.arrivals.get_nowait()
    assert first_arrival < stream_ended, "nothing was flushed until the stream stopped"


# --- Cairn's own writes ----------------------------------------------------------------------


def test_cairns_own_write_is_not_echoed_back(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    updates = watch()
    skill = model.workspace.skills["draft-a-reply"]
    text = (root / skill.path).read_text(encoding="utf-8") + "\nWritten by Cairn.\n"

    own = model.write(skill.path, text, base_hash=skill.content_hash)
    created = model.write("operators/cairn-lens.md", OPERATOR_WITHOUT_NAME, base_hash=None)

    # The model already holds both writes, marked as Cairn's own.
    assert ("modified", "skill", "draft-a-reply") in {(c.kind, c.what, c.name) for c in own.changes}
    assert {c.origin for c in (*own.changes, *created.changes)} == {"cairn"}
    assert "cairn-lens" in model.workspace.operators
    assert (root / skill.path).read_text(encoding="utf-8") == text

    # Subscribers heard of each write once, at once, as Cairn's own ...
    own_batches = updates.collect_for(QUIET)
    assert [entity_changes(b) for b in own_batches] == [
        entity_changes(own),
        entity_changes(created),
    ], describe(own_batches)
    assert {c.origin for b in own_batches for c in b.changes} == {"cairn"}
    # ... and the watcher's events for those writes found nothing new.
    sentinel(root, updates, 2)  # it is alive: an external edit right after does arrive
    assert model.workspace.skills["draft-a-reply"].body.endswith("Written by Cairn.\n")
    assert "cairn-lens" in updates.latest.operators


def test_cairns_write_refused_on_conflict_changes_nothing(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    from cairn.core.errors import WriteConflictError

    updates = watch()
    skill = model.workspace.skills["research-brief"]
    text = edit(root / skill.path, "\nEdited externally.\n")
    with pytest.raises(WriteConflictError):
        model.write(skill.path, "clobbered", base_hash=skill.content_hash)
    assert (root / skill.path).read_text(encoding="utf-8") == text
    updates.wait_for(has(("modified", "skill", "research-brief")))
    assert updates.latest.skills["research-brief"].body.endswith("Edited externally.\n")


def test_cairns_own_write_is_not_echoed_next_to_an_unreadable_file(
    tmp_path: Path, root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    # Regression: an unreadable file (content_hash None) used to count as modified on every
    # refresh, so the folder event of Cairn's own write produced a spurious external update.
    unreadable = link_outside(tmp_path, root)
    workspace = model.load()
    assert [d.code for d in workspace.diagnostics if d.path == unreadable] == ["unreadable"]
    updates = watch()
    operator = workspace.operators["clarity-editor"]
    text = (root / operator.path).read_text(encoding="utf-8") + "\nWritten by Cairn.\n"

    model.write(operator.path, text, base_hash=operator.content_hash)

    own = updates.collect_for(QUIET)
    assert [{c.origin for c in b.changes} for b in own] == [{"cairn"}], describe(own)
    sentinel(root, updates, 1)  # nothing but the write and the sentinel may have arrived


# --- broken files and ignored files ----------------------------------------------------------


def test_broken_yaml_gives_a_diagnostic_and_the_rest_stays_loaded(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    updates = watch()
    path = root / "skills" / "morning-brief" / "SKILL.md"
    good = path.read_text(encoding="utf-8")
    path.write_text(
        "---\nname: morning-brief\ndescription: [unclosed\n---\n\nBody.\n", encoding="utf-8"
    )

    updates.wait_for(has(("removed", "skill", "morning-brief")))
    workspace = updates.latest
    errors = [
        d
        for d in workspace.diagnostics
        if d.path == "skills/morning-brief/SKILL.md" and d.severity == Severity.ERROR
    ]
    assert [d.code for d in errors] == ["yaml-syntax"]
    assert errors[0].line is not None
    assert "skills/morning-brief/SKILL.md" in workspace.files
    # Everything else is still there.
    assert set(workspace.skills) == {
        "decision-memo",
        "draft-a-reply",
        "inbox-scan",
        "meeting-notes-digest",
        "research-brief",
        "weekly-review",
    }
    assert set(workspace.operators) == {
        "clarity-editor",
        "investor-view",
        "security-reviewer",
        "skeptical-engineer",
    }
    assert set(workspace.spaces) == {"chief-of-staff", "company", "team"}
    assert set(workspace.automations) == {"inbox-scan", "morning-brief", "weekly-review"}
    assert workspace.agents is not None

    path.write_text(good, encoding="utf-8")  # fixing it brings the skill back
    updates.wait_for(has(("added", "skill", "morning-brief")))
    assert not [d for d in updates.latest.diagnostics if d.severity == Severity.ERROR]


def test_notes_outside_model_folders_produce_no_update(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    before = model.workspace
    updates = watch()
    notes = root / "spaces" / "team" / "notes"
    notes.mkdir()
    (notes / "x.md").write_text("# A note\n", encoding="utf-8")
    (root / "spaces" / "team" / "drafts" / "memo.md").write_text("draft\n", encoding="utf-8")
    (root / "spaces" / "chief-of-staff" / "inbox" / "mail.md").write_text("m\n", encoding="utf-8")
    (root / "notes.md").write_text("top-level note\n", encoding="utf-8")
    (root / "skills" / "morning-brief" / ".SKILL.md.swp").write_text("swap", encoding="utf-8")
    edit(notes / "x.md", "more\n")
    (notes / "x.md").unlink()

    assert updates.collect_for(QUIET) == []
    assert model.workspace is before
    sentinel(root, updates, 0)


def test_changes_under_dot_cairn_are_ignored(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    updates = watch()
    state = root / ".cairn"
    (state / "skills" / "shadow").mkdir(parents=True)
    (state / "skills" / "shadow" / "SKILL.md").write_text(
        SKILL.format(name="shadow", description="Must never load."), encoding="utf-8"
    )
    (state / "state.json").write_text("{}", encoding="utf-8")
    (state / "agents.md").write_text("---\n: broken\n", encoding="utf-8")
    os.replace(state / "state.json", state / "state-old.json")
    (root / ".git").mkdir()
    (root / ".git" / "index").write_bytes(b"\0")

    assert updates.collect_for(QUIET) == []
    sentinel(root, updates, 0)
    assert "shadow" not in model.workspace.skills
    assert not any(p.startswith((".cairn", ".git")) for p in model.workspace.files)


def test_a_failing_listener_does_not_stop_the_watcher(root: Path, model: WorkspaceModel) -> None:
    updates = Updates()
    first = threading.Event()

    def listener(events: tuple[WorkspaceEvent, ...]) -> None:
        if not first.is_set():
            first.set()
            raise RuntimeError("a listener bug")
        updates(events)

    path = root / "operators" / "security-reviewer.md"
    model.subscribe(listener)
    with WorkspaceWatcher(model, root, debounce=DEBOUNCE):
        edit(path, "\nFirst.\n")
        assert first.wait(TIMEOUT), "the first update never reached the listener"
        edit(path, "\nSecond.\n")
        updates.wait_for(
            lambda seen: any(
                u.workspace.operators["security-reviewer"].lens.endswith("Second.\n") for u in seen
            )
        )


def test_a_symlink_loop_does_not_kill_the_watcher(
    root: Path, model: WorkspaceModel, watch: Callable[..., Updates]
) -> None:
    # Regression: _relative() used Path.resolve(), which raises RuntimeError on a symlink
    # loop (Python < 3.13); that killed watchdog's observer thread and live reload stopped.
    updates = watch()
    try:
        os.symlink("loop.md", root / "operators" / "loop.md")
    except (OSError, NotImplementedError) as exc:
        pytest.skip(f"cannot create symbolic links here: {exc}")
    updates.collect_for(QUIET)
    edit(root / "operators" / "clarity-editor.md", "\nAfter the loop.\n")
    updates.wait_for(has(("modified", "operator", "clarity-editor")), timeout=3.0)


# --- WorkspaceModel.refresh on folders, without a watcher ------------------------------------


def test_refresh_a_new_and_a_deleted_space_folder(
    tmp_path: Path, root: Path, model: WorkspaceModel
) -> None:
    research = root / "spaces" / "research"
    (research / "skills" / "triage").mkdir(parents=True)
    (research / "operators").mkdir()
    (research / "readme.md").write_text(SPACE.format(description="Research."), encoding="utf-8")
    (research / "skills" / "triage" / "SKILL.md").write_text(
        SKILL.format(name="triage", description="Sorts papers."), encoding="utf-8"
    )
    (research / "skills" / "triage" / "references").mkdir()
    (research / "skills" / "triage" / "references" / "rubric.md").write_text(
        "rubric\n", encoding="utf-8"
    )
    (research / "operators" / "reviewer.md").write_text(OPERATOR_WITHOUT_NAME, encoding="utf-8")

    added = model.refresh(["spaces/research"])

    assert entity_changes(added) == {
        ("added", "space", "research"),
        ("added", "skill", "research/triage"),
        ("added", "operator", "research/reviewer"),
    }
    files = {(c.kind, c.name) for c in added.changes if c.what == "file"}
    assert files == {
        ("added", "spaces/research/readme.md"),
        ("added", "spaces/research/skills/triage/SKILL.md"),
        ("added", "spaces/research/skills/triage/references/rubric.md"),
        ("added", "spaces/research/operators/reviewer.md"),
    }
    assert {c.origin for c in added.changes} == {"external"}
    triage = added.workspace.skills_for("research")["triage"]
    assert triage.resources.references == ("spaces/research/skills/triage/references/rubric.md",)
    assert model.workspace is added.workspace

    assert model.refresh(["spaces/research"]).changes == ()  # nothing changed since

    shutil.rmtree(research)
    removed = model.refresh(["spaces/research"])
    assert entity_changes(removed) == {
        ("removed", "space", "research"),
        ("removed", "skill", "research/triage"),
        ("removed", "operator", "research/reviewer"),
    }
    assert not any(p.startswith("spaces/research/") for p in removed.workspace.files)
    assert "research" not in removed.workspace.spaces


def test_refresh_a_new_and_a_deleted_skill_folder(root: Path, model: WorkspaceModel) -> None:
    folder = root / "skills" / "summarise"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        SKILL.format(name="summarise", description="Summarises."), encoding="utf-8"
    )
    (folder / "scripts" / "count.py").write_text("print(1)\n", encoding="utf-8")

    added = model.refresh(["skills/summarise"])
    assert entity_changes(added) == {("added", "skill", "summarise")}
    assert added.workspace.skills["summarise"].resources.scripts == (
        "skills/summarise/scripts/count.py",
    )

    (folder / "scripts" / "extra.py").write_text("print(2)\n", encoding="utf-8")
    bundled = model.refresh(["skills/summarise/scripts"])  # a resource folder alone
    assert entity_changes(bundled) == {("modified", "skill", "summarise")}
    assert ("added", "file", "skills/summarise/scripts/extra.py") in {
        (c.kind, c.what, c.name) for c in bundled.changes
    }

    shutil.rmtree(folder)
    removed = model.refresh(["skills/summarise"])
    assert entity_changes(removed) == {("removed", "skill", "summarise")}
    assert {(c.kind, c.name) for c in removed.changes if c.what == "file"} == {
        ("removed", "skills/summarise/SKILL.md"),
        ("removed", "skills/summarise/scripts/count.py"),
        ("removed", "skills/summarise/scripts/extra.py"),
    }
    assert "summarise" not in removed.workspace.skills


def test_refresh_of_a_parent_folder_and_of_the_root(root: Path, model: WorkspaceModel) -> None:
    shutil.rmtree(root / "skills" / "weekly-review")
    (root / "operators" / "extra.md").write_text(OPERATOR_WITHOUT_NAME, encoding="utf-8")

    update = model.refresh(["skills"])  # only what is under skills/
    assert entity_changes(update) == {("removed", "skill", "weekly-review")}
    assert "extra" not in update.workspace.operators

    update = model.refresh([""])  # the whole workspace
    assert entity_changes(update) == {("added", "operator", "extra")}
    assert model.refresh([""]).changes == ()


def test_refresh_of_a_folder_moved_elsewhere(root: Path, model: WorkspaceModel) -> None:
    (root / "spaces" / "team" / "skills").mkdir()
    shutil.move(root / "skills" / "draft-a-reply", root / "spaces" / "team" / "skills")
    update = model.refresh(["skills/draft-a-reply", "spaces/team/skills/draft-a-reply"])
    assert entity_changes(update) == {
        ("removed", "skill", "draft-a-reply"),
        ("added", "skill", "team/draft-a-reply"),
    }


def test_refresh_of_a_symlink_loop_does_not_raise(root: Path, model: WorkspaceModel) -> None:
    # Regression: LocalFileStore.resolve let pathlib's RuntimeError for a loop escape, and
    # WorkspaceModel._read only catches OSError and CairnError, so refresh raised.
    try:
        os.symlink("loop.md", root / "operators" / "loop.md")
    except (OSError, NotImplementedError) as exc:
        pytest.skip(f"cannot create symbolic links here: {exc}")
    assert "loop" not in model.load().operators  # load skips it (scan's is_file fails)
    update = model.refresh(["operators/loop.md"])
    assert "loop" not in update.workspace.operators
    assert "clarity-editor" in update.workspace.operators


def test_refresh_does_not_report_an_unchanged_unreadable_file(
    tmp_path: Path, root: Path, model: WorkspaceModel
) -> None:
    unreadable = link_outside(tmp_path, root)
    workspace = model.load()
    assert [d.code for d in workspace.diagnostics if d.path == unreadable] == ["unreadable"]
    assert model.refresh([unreadable]).changes == ()
    assert model.refresh(["operators"]).changes == ()
    assert model.workspace is workspace
