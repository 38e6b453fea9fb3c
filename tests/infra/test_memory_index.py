"""MemoryIndex on real SQLite and real memory files in the documented formats.

Files are written the way Cairn and editors write them (topic files with `<!-- mem: -->`
lines, archive notes with YAML frontmatter); the index must follow every change through
`update`, and catch up through `repair` with what happened while it was closed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.infra.memory_index import MemoryHit, MemoryIndex, Retriever, query_terms

TOPIC = """---
topic: {topic}
---
# {title}

{lines}"""
LINE = "- {date}: {text} ([task](history/{date}-task.md)) <!-- mem:{id} v={value} src={src} -->\n"
NOTE = """---
id: {id}
date: {date}
source: {src}
value: {value}
space: {space}
origin: history/20261119-1400-task.md
---
{text}
"""


def topic(root: Path, space: str, name: str, items: list[tuple[str, str]]) -> str:
    """Write a topic file with (id, text) lines; returns its workspace-relative path."""
    rel = f"spaces/{space}/memory/topics/{name}.md"
    lines = "".join(
        LINE.format(date="2026-11-18", text=text, id=item, value=0.55, src="user-confirmed")
        for item, text in items
    )
    write(root, rel, TOPIC.format(topic=name, title=name.title(), lines=lines))
    return rel


def note(root: Path, space: str, item: str, text: str, date: str = "2026-11-19") -> str:
    """Write an archive note; returns its workspace-relative path."""
    rel = f"spaces/{space}/memory/archive/{date[:4]}/{date[5:7]}/{date}-note-{item}.md"
    body = NOTE.format(id=item, date=date, src="tool-output", value=0.2, space=space, text=text)
    write(root, rel, body)
    return rel


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")


def ids(hits: list[MemoryHit]) -> list[str]:
    return [hit.id for hit in hits]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    topic(
        ws,
        "team",
        "pricing",
        [
            ("a1b2c3d4", "Annual plans get two months free."),
            ("a1b2c3d5", "Enterprise pricing needs a call with sales."),
        ],
    )
    topic(ws, "home", "family", [("f00dcafe", "Mia's birthday is on March 3.")])
    note(ws, "team", "0badc0de", "The third-floor printer uses code 4471.")
    note(ws, "team", "0badc0df", "The printer on the second floor is out of toner.")
    note(ws, "home", "0badc0e0", "The garage door code was changed in spring.")
    for i in range(20):  # distractors sharing vocabulary
        note(ws, "team", f"d{i:07x}", f"Printer paper order number {i} arrives on Tuesday.")
    return ws


@pytest.fixture
def index(root: Path) -> Iterator[MemoryIndex]:
    with MemoryIndex(root) as idx:
        assert idx.repair()  # a new database is built from the files
        yield idx


def test_rebuild_indexes_topic_lines_and_archive_notes(root: Path, index: MemoryIndex) -> None:
    assert index.rebuild() == 3 + 3 + 20
    assert (root / ".cairn" / "memory.sqlite").exists()
    [hit] = index.search("annual plans months free", limit=1)
    assert hit == MemoryHit(
        id="a1b2c3d4",
        text="Annual plans get two months free.",  # the task link is not part of the text
        space="team",
        path="spaces/team/memory/topics/pricing.md",
        tier="topic",
        date="2026-11-18",
        source="user-confirmed",
        value=0.55,
        score=hit.score,
    )
    assert hit.score > 0
    [archived] = index.search("garage door", limit=1)
    assert (archived.id, archived.tier, archived.date, archived.source, archived.value) == (
        "0badc0e0",
        "archive",
        "2026-11-19",
        "tool-output",
        0.2,
    )
    assert archived.path == "spaces/home/memory/archive/2026/11/2026-11-19-note-0badc0e0.md"


def test_planted_fact_ranks_first_among_distractors(index: MemoryIndex) -> None:
    hits = index.search("what is the printer code on the third floor?")
    assert hits[0].id == "0badc0de"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(hits) == 5


def test_space_filter(index: MemoryIndex) -> None:
    assert ids(index.search("code", space="home")) == ["0badc0e0"]
    assert set(ids(index.search("code", spaces=["home", "team"]))) == {"0badc0e0", "0badc0de"}
    assert index.search("code", spaces=[]) == []
    assert index.search("code", space="home", spaces=["team"]) == []  # only narrows
    assert index.search("code", space="nowhere") == []


def test_incremental_topic_file_add_change_delete(root: Path, index: MemoryIndex) -> None:
    rel = topic(root, "team", "vendors", [("11111111", "Acme renews on June 1.")])
    assert index.update([rel]) == 1
    assert ids(index.search("acme renews")) == ["11111111"]
    topic(root, "team", "vendors", [("11111111", "Globex renews on July 9.")])
    assert index.update([rel]) == 1
    assert index.search("acme") == []
    assert ids(index.search("globex")) == ["11111111"]
    assert index.update([rel]) == 0  # same bytes: nothing to do
    (root / rel).unlink()
    assert index.update([rel]) == 1
    assert index.search("globex") == []


def test_incremental_archive_note_add_change_delete(root: Path, index: MemoryIndex) -> None:
    rel = note(root, "home", "22222222", "The plumber Gustavo charges 80 an hour.")
    assert index.update([rel, "skills/ignored.md", "../outside.md", "/abs.md"]) == 1
    assert ids(index.search("plumber")) == ["22222222"]
    note(root, "home", "22222222", "The electrician Ingrid charges 95 an hour.")
    assert index.update([rel]) == 1
    assert ids(index.search("plumber electrician")) == ["22222222"]
    assert index.search("gustavo") == []
    (root / rel).unlink()
    assert index.update([rel]) == 1
    assert index.search("electrician") == []


def test_update_of_a_folder_covers_new_and_deleted_files(root: Path, index: MemoryIndex) -> None:
    note(root, "home", "33333333", "Swimming lessons on Saturday at nine.", "2027-01-05")
    assert index.update(["spaces/home/memory/archive/2027"]) == 1
    assert ids(index.search("swimming lessons")) == ["33333333"]
    for path in (root / "spaces" / "home").rglob("*.md"):
        path.unlink()
    assert index.update(["spaces/home"]) == 3  # the family topic and two notes
    assert index.search("swimming") == index.search("birthday") == []
    assert index.search("printer")  # other spaces untouched


def test_repair_catches_edits_made_while_closed(root: Path, index: MemoryIndex) -> None:
    index.close()
    pricing = "spaces/team/memory/topics/pricing.md"
    text = (root / pricing).read_text(encoding="utf-8")
    # Same size, and maybe within the file system's timestamp granularity: only the
    # content differs, which must still be noticed.
    (root / pricing).write_text(text.replace("Annual", "Yearly"), encoding="utf-8")
    gone = note(root, "team", "44444444", "placeholder")
    (root / gone).unlink()
    (root / "spaces/home/memory/archive/2026/11/2026-11-19-note-0badc0e0.md").unlink()
    added = note(root, "home", "55555555", "Piano tuner comes every October.")
    hidden = root / "spaces/home/memory/archive/2026/11/.note.md.cairn-tmp-1234"
    hidden.write_text("---\nid: 66666666\n---\nhidden temporary\n", encoding="utf-8")
    with MemoryIndex(root) as reopened:
        assert reopened.repair() == [
            "spaces/home/memory/archive/2026/11/2026-11-19-note-0badc0e0.md",
            added,
            pricing,
        ]
        assert ids(reopened.search("yearly plans")) == ["a1b2c3d4"]
        assert reopened.search("garage") == reopened.search("temporary") == []
        assert ids(reopened.search("piano tuner")) == ["55555555"]
        assert reopened.repair() == []  # now in line with the disk


@pytest.mark.parametrize("damage", ["delete", "garbage", "truncate"])
def test_repair_rebuilds_a_missing_or_corrupt_database(
    root: Path, index: MemoryIndex, damage: str
) -> None:
    db = index.db_path
    index.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if damage == "delete":
        db.unlink()
    elif damage == "garbage":
        db.write_bytes(b"this is not a database" * 500)
    else:
        with db.open("r+b") as handle:
            handle.seek(4096 + 100)
            handle.write(os.urandom(4096 * 2))
    with MemoryIndex(root) as reopened:
        assert len(reopened.repair()) == 3 + 20 + 2
        assert ids(reopened.search("garage door")) == ["0badc0e0"]


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced quote',
        "printer*",
        "printer AND",
        "NEAR(printer code",
        "-printer",
        "code:4471",
        "text:printer",
        "OR OR NOT",
        "^printer + (code)",
        '""',
        "{text} : * ( ) [ ] '",
        "",
        "   ",
        "\x00null byte",
    ],
)
def test_fts_syntax_in_queries_never_raises(index: MemoryIndex, query: str) -> None:
    hits = index.search(query)
    assert isinstance(hits, list)
    if "printer" in query:
        assert hits


def test_query_terms_are_words_without_stop_words_or_syntax() -> None:
    assert query_terms('What is the "Printer" code? NEAR(x) printer_code') == [
        "printer",
        "code",
        "near",
        "x",
    ]
    assert query_terms("the") == query_terms("*:-()") == []


def test_unicode_text(root: Path, index: MemoryIndex) -> None:
    rel = note(root, "home", "77777777", "Zoë's Café in Zürich — the naïve façade, 東京 office.")
    index.update([rel])
    assert ids(index.search("Zürich")) == ["77777777"]
    assert ids(index.search("zurich cafe")) == ["77777777"]  # diacritics folded
    assert ids(index.search("東京")) == ["77777777"]


def test_remove_item_removes_it_from_search(index: MemoryIndex) -> None:
    assert index.remove_item("0badc0de") == 1
    assert "0badc0de" not in ids(index.search("third floor printer code", limit=50))
    assert index.remove_item("0badc0de") == 0


def test_unusual_frontmatter_and_hand_written_notes(root: Path, index: MemoryIndex) -> None:
    quoted = "spaces/team/memory/archive/2026/10/2026-10-02-quoted-88888888.md"
    write(
        root,
        quoted,
        '---\nid: "88888888"\ndate: 2026-10-02\nsource: user-said  # said twice\nvalue: .9\n'
        "tags: [a, b]\n---\n\nThe espresso machine descales monthly.\n",
    )
    bare = "spaces/team/memory/archive/2026/10/2026-10-03-bare-99999999.md"
    write(root, bare, "The bike shed key hangs by the door.\n")
    broken = "spaces/team/memory/archive/2026/10/2026-10-04-broken-aaaaaaaa.md"
    write(root, broken, "---\nid: [unclosed\n---\nbroken yaml\n")
    assert index.update(["spaces/team/memory/archive/2026/10"]) == 3
    [hit] = index.search("espresso descales")
    assert (hit.id, hit.date, hit.source, hit.value) == ("88888888", "2026-10-02", "user-said", 0.9)
    [hit] = index.search("bike shed key")
    assert (hit.id, hit.date, hit.source, hit.value) == ("99999999", "2026-10-03", "", 0.0)
    assert index.search("broken yaml") == []


def test_is_a_retriever_and_thread_safe(root: Path, index: MemoryIndex) -> None:
    retriever: Retriever = index
    errors: list[BaseException] = []

    def searching() -> None:
        try:
            for _ in range(200):
                retriever.search("printer code", spaces=None, limit=3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=searching)
    thread.start()
    for i in range(30):
        index.update([note(root, "team", f"e{i:07x}", f"Printer code {i} rotated.")])
    thread.join()
    assert errors == []
    assert len(index.search("rotated", limit=50)) == 30


OPENER = """
import sys, time
from pathlib import Path
from cairn.infra.memory_index import MemoryIndex

root, go = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
with MemoryIndex(root) as index:  # all at once, on an index none of them has created yet
    index.repair()
    print(len(index.search("printer")), flush=True)
"""


@pytest.mark.slow
def test_processes_opening_a_new_index_together_all_succeed(tmp_path: Path) -> None:
    """The app, `cairn serve` and `cairn run` may open a missing index at the same moment:
    switching it to write-ahead logging must wait for the others, not fail "locked"."""
    from tests.infra.test_runs import python

    topic(tmp_path, "team", "office", [("a1b2c3d4", "The printer code is 4471.")])
    go = tmp_path / "go"
    openers = [python(OPENER, str(tmp_path), str(go)) for _ in range(6)]
    try:
        for opener in openers:
            assert opener.stdout is not None and opener.stdout.readline() == "ready\n"
        go.touch()
        outputs = [opener.communicate(timeout=120) for opener in openers]
    finally:
        for opener in openers:
            if opener.poll() is None:
                opener.kill()
                opener.wait()
    for opener, (out, err) in zip(openers, outputs, strict=True):
        assert opener.returncode == 0, err
        assert out.strip() == "1"
