"""Tiered memory with scripted engines and real files: tiers, scopes, dedupe, staging,
forgetting, the readme budget."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cairn.core.memory.items import (
    Candidate,
    enforce_budget,
    items_in,
    parse_candidates,
    place,
    similar,
    tier_for,
    upsert_line,
)
from cairn.core.memory.step import MemoryStep, Transcript
from cairn.core.memory.writer import MemoryNotFoundError, MemoryWriter
from cairn.core.routing.dispatch import Dispatcher
from cairn.core.routing.router import Router
from cairn.core.tasks.events import MemoryProposed, MemorySkipped, MemoryStaged, MemoryWritten
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.testing.scripted_engine import ScriptedEngine

TODAY = date(2026, 11, 20)


def load(root: Path) -> WorkspaceModel:
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    return model


def writer(model: WorkspaceModel, changed: list[str] | None = None) -> MemoryWriter:
    sink = changed if changed is not None else []
    return MemoryWriter(model, on_change=sink.extend, today=lambda: TODAY)


def set_mode(root: Path, space: str, mode: str, extra: str = "") -> None:
    readme = root / f"spaces/{space}/readme.md"
    text = readme.read_text()
    start = text.index("memory:")
    end = text.index("\n", start)
    readme.write_text(text[:start] + f"memory: {mode}{extra}" + text[end:])


def test_tiers_follow_the_value() -> None:
    assert tier_for(0.9, 0.75, 0.4) == "readme"
    assert tier_for(0.75, 0.75, 0.4) == "readme"
    assert tier_for(0.5, 0.75, 0.4) == "topic"
    assert tier_for(0.2, 0.75, 0.4) == "archive"


def test_parse_candidates_is_forgiving() -> None:
    text = json.dumps(
        {
            "items": [
                {"text": "  The board meets   monthly.  ", "source": "user-said", "value": 0.9},
                {"text": "", "source": "user-said", "value": 0.9},
                {"text": "A guess", "source": "made-up", "value": "0.4", "topic": "Pricing Plans"},
                {"text": "bad value", "source": "tool-output", "value": "high"},
            ]
        }
    )
    found = parse_candidates(text)
    assert [c.text for c in found] == ["The board meets monthly.", "A guess"]
    assert found[1].source == "inference" and found[1].topic == "pricing-plans"
    assert parse_candidates("not json") == []


def test_placement_rules(starter: Path) -> None:
    workspace = load(starter).workspace
    c = Candidate
    placements = place(
        [
            c("The user prefers morning meetings.", "user-said", 0.9),
            c("Probably likes tea.", "inference", 0.9),
            c("Trivia.", "tool-output", 0.05),
            c("The team ships on Thursdays.", "user-said", 0.8, space="team"),
        ],
        workspace,
        task_space="chief-of-staff",
        derived_from_private=True,
    )
    assert [(p.action, p.tier) for p in placements] == [
        ("write", "readme"),
        ("skip", None),
        ("skip", None),
        ("stage", "readme"),
    ]
    assert "inference" in placements[1].reason
    assert "derived from private content" in placements[3].reason
    shared = place(
        [c("Standup is at 9:30.", "user-said", 0.8)],
        workspace,
        task_space="team",
        derived_from_private=False,
    )
    assert shared[0].action == "stage" and "never written without asking" in shared[0].reason
    nowhere = place(
        [c("x y z", "user-said", 0.8)], workspace, task_space=None, derived_from_private=False
    )
    assert nowhere[0].action == "stage"


def test_memory_modes(starter: Path) -> None:
    candidate = Candidate("Quarterly planning starts in the second week.", "user-said", 0.9)
    elsewhere = Candidate(
        "Finance closes the books on the 5th.", "user-said", 0.9, space="chief-of-staff"
    )
    set_mode(starter, "chief-of-staff", "cautious")
    cautious = place(
        [candidate],
        load(starter).workspace,
        task_space="chief-of-staff",
        derived_from_private=False,
    )
    assert cautious[0].action == "stage" and "cautious" in cautious[0].reason
    set_mode(starter, "chief-of-staff", "balanced")
    balanced = place(
        [candidate, elsewhere], load(starter).workspace, task_space=None, derived_from_private=False
    )
    assert balanced[1].action == "stage"  # named a space the task was not in: not certain
    set_mode(starter, "chief-of-staff", "permissive")
    permissive = place(
        [elsewhere], load(starter).workspace, task_space=None, derived_from_private=False
    )
    assert permissive[0].action == "write"


def test_three_tiers_land_in_the_right_files(starter: Path) -> None:
    model = load(starter)
    changed: list[str] = []
    memory = writer(model, changed)
    origin = "spaces/chief-of-staff/history/t1-board.md"
    high = memory.write(
        "chief-of-staff",
        Candidate("The board meets on the first Monday of each month.", "user-said", 0.9),
        "readme",
        origin,
    )
    topic = memory.write(
        "chief-of-staff",
        Candidate("Annual plans get two months free.", "user-confirmed", 0.5, topic="pricing"),
        "topic",
        origin,
    )
    low = memory.write(
        "chief-of-staff",
        Candidate("The third-floor printer code is 4471.", "tool-output", 0.2),
        "archive",
        origin,
    )
    readme = (starter / "spaces/chief-of-staff/readme.md").read_text()
    memory_section = readme[readme.index("## Memory") : readme.index("## References")]
    assert "- 2026-11-20: The board meets on the first Monday of each month." in memory_section
    assert f"<!-- mem:{high.item.id} v=0.90 src=user-said -->" in memory_section
    assert "([task](../../spaces/chief-of-staff/history/t1-board.md))" in memory_section
    assert "- [Pricing](memory/topics/pricing.md)" in readme[readme.index("## References") :]
    topic_text = (starter / "spaces/chief-of-staff/memory/topics/pricing.md").read_text()
    assert "Annual plans get two months free." in topic_text and topic.tier == "topic"
    archived = next((starter / "spaces/chief-of-staff/memory/archive/2026/11").glob("*.md"))
    assert archived.name.endswith(f"-{low.item.id}.md")
    assert "4471" in archived.read_text() and 'source: "tool-output"' in archived.read_text()
    assert "spaces/chief-of-staff/readme.md" in changed
    # The workspace still loads clean: memory files never break `cairn check`.
    assert model.workspace.errors == ()


def test_the_same_memory_is_updated_not_added_twice(starter: Path) -> None:
    model = load(starter)
    memory = writer(model)
    first = memory.write(
        "chief-of-staff",
        Candidate("The board meets on the first Monday of each month.", "user-said", 0.8),
        "readme",
        None,
    )
    again = memory.write(
        "chief-of-staff",
        Candidate("The board meets on the first Monday of every month.", "user-confirmed", 0.9),
        "readme",
        None,
    )
    readme = (starter / "spaces/chief-of-staff/readme.md").read_text()
    items = [i for i in items_in(readme) if "board" in i.text]
    assert len(items) == 1 and items[0].id == first.item.id == again.item.id
    assert items[0].value == 0.9 and items[0].source == "user-confirmed"
    assert similar("Standup is at 9:30 daily", "standup is at 9:30 daily!")
    assert not similar("Standup is at 9:30", "Retro is on Fridays")


def test_readme_budget_moves_the_lowest_values_down(starter: Path) -> None:
    set_mode(starter, "chief-of-staff", "permissive", "\nmemory_budget: 3")
    model = load(starter)
    memory = writer(model)
    for n, value in enumerate((0.95, 0.8, 0.9, 0.85)):
        memory.write(
            "chief-of-staff",
            Candidate(f"Distinct fact number {n} about topic {n}.", "user-said", value),
            "readme",
            None,
        )
    readme = (starter / "spaces/chief-of-staff/readme.md").read_text()
    kept = items_in(readme[readme.index("## Memory") : readme.index("## References")])
    assert sorted(i.value for i in kept) == [0.85, 0.9, 0.95]
    general = (starter / "spaces/chief-of-staff/memory/topics/general.md").read_text()
    assert "Distinct fact number 1" in general  # the 0.8 line moved down a tier


def test_budget_and_upsert_on_plain_text() -> None:
    text = "# Space\n\n## References\n"
    from cairn.core.memory.items import MemoryItem

    item = MemoryItem("abcd1234", "Fact.", "user-said", 0.9, TODAY)
    new, stored = upsert_line(text, "Memory", item, before="References")
    assert new.index("## Memory") < new.index("## References") and stored.id == "abcd1234"
    trimmed, demoted = enforce_budget(new, "Memory", 0)
    assert [d.id for d in demoted] == ["abcd1234"] and "Fact." not in trimmed


def test_staging_approve_reject(starter: Path) -> None:
    model = load(starter)
    memory = writer(model)
    [placement] = place(
        [Candidate("Standup is at 9:30.", "user-said", 0.8)],
        model.workspace,
        task_space="team",
        derived_from_private=False,
    )
    staged = memory.stage(placement, "spaces/team/history/t.md", "task-1")
    [listed] = memory.pending()
    assert listed.id == staged.id and listed.space == "team" and "asking" in listed.reason
    written = memory.approve(staged.id)
    assert written.space == "team" and memory.pending() == []
    assert "Standup is at 9:30." in (starter / "spaces/team/readme.md").read_text()
    other = memory.stage(placement, None, "task-2")
    memory.reject(other.id)
    assert memory.pending() == []
    with pytest.raises(MemoryNotFoundError):
        memory.approve("nope")


def test_forget_removes_every_copy(starter: Path) -> None:
    model = load(starter)
    changed: list[str] = []
    memory = writer(model, changed)
    a = memory.write(
        "chief-of-staff", Candidate("Fact A about the garden.", "user-said", 0.9), "readme", None
    )
    b = memory.write(
        "chief-of-staff",
        Candidate("Fact B about the garden.", "user-said", 0.5, topic="garden"),
        "topic",
        None,
    )
    c = memory.write(
        "chief-of-staff", Candidate("Fact C about the garden.", "user-said", 0.2), "archive", None
    )
    for written in (a, b, c):
        changed.clear()
        paths = memory.forget(written.item.id)
        assert paths and changed == paths
    text = "\n".join(p.read_text() for p in (starter / "spaces").rglob("*.md"))
    assert "Fact A" not in text and "Fact B" not in text and "Fact C" not in text
    with pytest.raises(MemoryNotFoundError):
        memory.forget(a.item.id)


def test_memory_step_end_to_end_with_a_scripted_model(starter: Path) -> None:
    set_mode(starter, "chief-of-staff", "permissive")
    model = load(starter)
    answer = json.dumps(
        {
            "items": [
                {
                    "text": "The user's flight to Lisbon is on 3 December.",
                    "source": "user-said",
                    "value": 0.85,
                },
                {"text": "The user seems stressed.", "source": "inference", "value": 0.9},
                {
                    "text": "The hotel confirmation code is QX7.",
                    "source": "tool-output",
                    "value": 0.2,
                },
            ]
        }
    )
    local = ScriptedEngine("local-small", [answer])
    cloud = ScriptedEngine("cloud-fast", ["{}"], is_local=False)
    pool = {"local-small": local, "cloud-fast": cloud, "cloud-strong": cloud}
    step = MemoryStep(
        Dispatcher(Router(model.workspace.agents.policy), pool.__getitem__), writer(model)
    )
    transcript = Transcript(
        "t1",
        "Plan my Lisbon trip: my flight to Lisbon is on 3 December",  # the user said it
        "Booked.",
        space="chief-of-staff",
        proposals=(MemoryProposed("Prefers aisle seats.", "chief-of-staff", "user-said", "t1"),),
        record="spaces/chief-of-staff/history/t1.md",
    )
    events = list(step(transcript))
    written = [e for e in events if isinstance(e, MemoryWritten)]
    assert {(w.tier, w.text) for w in written} == {
        ("readme", "The user's flight to Lisbon is on 3 December."),
        ("archive", "The hotel confirmation code is QX7."),
        ("topic", "Prefers aisle seats."),
    }
    assert any(isinstance(e, MemorySkipped) and "inference" in e.reason for e in events)
    assert cloud.requests == [] and len(local.requests) == 1  # memory is kind `memory`: local
    assert local.requests[0].json_schema is not None


def test_nothing_worth_keeping_writes_nothing(starter: Path) -> None:
    model = load(starter)
    local = ScriptedEngine("local-small", ['{"items": []}'])
    pool = {"local-small": local, "cloud-fast": local, "cloud-strong": local}
    before = {p: p.read_bytes() for p in starter.rglob("*.md")}
    step = MemoryStep(
        Dispatcher(Router(model.workspace.agents.policy), pool.__getitem__), writer(model)
    )
    events = list(step(Transcript("t", "Hi", "Hello", space="team")))
    assert not [e for e in events if isinstance(e, MemoryWritten | MemoryStaged | MemorySkipped)]
    after = {p: p.read_bytes() for p in starter.rglob("*.md")}
    assert before == after


def test_private_task_memories_never_reach_shared_spaces(starter: Path) -> None:
    set_mode(starter, "team", "permissive")
    model = load(starter)
    answer = json.dumps(
        {
            "items": [
                {
                    "text": "The reorg is announced on 1 March.",
                    "source": "user-said",
                    "value": 0.9,
                    "space": "team",
                }
            ]
        }
    )
    local = ScriptedEngine("local-small", [answer])
    pool = {"local-small": local, "cloud-fast": local, "cloud-strong": local}
    step = MemoryStep(
        Dispatcher(Router(model.workspace.agents.policy), pool.__getitem__), writer(model)
    )
    said = "Plan for this: the reorg is announced on 1 March"
    events = list(step(Transcript("t", said, "Done", space="chief-of-staff")))
    assert [type(e) for e in events if isinstance(e, MemoryStaged | MemoryWritten)] == [
        MemoryStaged
    ]
    assert "reorg" not in (starter / "spaces/team/readme.md").read_text()


def test_numeric_looking_ids_stay_text(starter: Path) -> None:
    # uuid-based ids can be all digits ("00063281") or look like floats ("1e500000"):
    # read back as YAML they must stay the same text.
    from cairn.core.memory.items import MemoryItem, archive_note
    from cairn.core.workspace.documents import parse_document

    for item_id in ("00063281", "1e500000", "12345678"):
        item = MemoryItem(item_id, "A note.", "user-said", 0.2, TODAY)
        path, text = archive_note(item, "team")
        doc, problems = parse_document(path, text.encode())
        assert doc is not None and not problems
        assert doc.frontmatter["id"] == item_id and path.endswith(f"-{item_id}.md")
