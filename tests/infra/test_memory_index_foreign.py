"""MemoryIndex over memory notes other tools write, on real files and real SQLite.

OpenClaw keeps the owner's curated memory in a root `MEMORY.md` and daily notes in root
`memory/YYYY-MM-DD*.md`; Rebel keeps each space's memory as free-form markdown under
`spaces/<s>/memory/` (`topics/`, `sources/`, ...). Both must be recalled through the same
index as Cairn's own memory lines: one row per bullet item or paragraph, with stable ids,
following edits and deletes through `update` and `repair`.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.core.memory.notes import ROW_CHARS
from cairn.infra.memory_index import MemoryHit, MemoryIndex

posix_only = pytest.mark.skipif(os.name != "posix", reason="symbolic links")

MEMORY_MD = """# MEMORY.md - Long-term memory

## People
- Dana Whitfield is my accountant; she prefers email over calls.
- My sister Priya lives in Lisbon.
  - Her kids are Noa and Tiago.

## Preferences

I take my coffee as a cortado,
and I never schedule meetings before ten.

<!-- curated by the agent: quokka comment -->

```bash
echo "fenced walrus code"
```

##

---
"""

DAILY = """# 2026-03-02

- Booked the dentist for March 14 at 9:30.
- [x] Called the plumber about the leaking tap.
"""

OFFSITE = """---
tags: [offsite]
summary: frontmatter pelican text
---
# Offsite planning

The offsite venue is the Harbourside hotel in Porto.
"""

REBEL_README = """---
rebel_space_description: Everything about the Acme zeppelin deal.
scope: team
---
# Acme
"""

REBEL_TOPIC = """# Customers

- Globex renews in June; their contact is Hank Scorpio.
- Initech pays invoices late, usually by two weeks.
"""

REBEL_SOURCE = """## Call with Initech, 2026-01-10

Initech wants single sign-on before they sign.

| Person | Role |
|--------|------|
| Bill Lumbergh | VP |
"""

CAIRN_TOPIC = (
    "---\ntopic: pricing\n---\n# Pricing\n\n## Memory\n\n"
    "- 2026-11-18: Annual plans get two months free. ([task](../../history/x.md)) "
    "<!-- mem:a1b2c3d4 v=0.55 src=user-confirmed -->\n"
    "Some prose a person added under the line.\n"
)

STAGED = """---
id: "abc12345"
source: "tool-output"
value: 0.5
space: "team"
---
The staged gannet memory.
"""


def write(root: Path, rel: str, text: str) -> str:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")
    return rel


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    # OpenClaw
    write(ws, "MEMORY.md", MEMORY_MD)
    write(ws, "memory/2026-03-02.md", DAILY)
    write(ws, "memory/2026-03-05-offsite.md", OFFSITE)
    write(ws, "memory/projects/2026-02-20.md", "- Kickoff for Project Kestrel moved to Thursday.\n")
    write(ws, "memory/pending/abc12345.md", STAGED)  # Cairn's staged memory: not memory yet
    write(ws, "memory/.draft.md", "- hidden ibis draft\n")
    write(ws, "memory/notes.txt", "- not markdown flamingo\n")
    # Rebel
    write(ws, "spaces/acme/README.md", REBEL_README)
    write(ws, "spaces/acme/memory/topics/customers.md", REBEL_TOPIC)
    write(ws, "spaces/acme/memory/sources/call-notes.md", REBEL_SOURCE)
    write(ws, "spaces/acme/memory/topics/pricing.md", CAIRN_TOPIC)
    return ws


@pytest.fixture
def index(root: Path) -> Iterator[MemoryIndex]:
    with MemoryIndex(root) as idx:
        idx.repair()
        yield idx


def everything(index: MemoryIndex) -> list[MemoryHit]:
    """Every row in the index, read straight from its database."""
    sql = (
        "SELECT i.id, t.text, i.space, i.path, i.tier, i.date, i.source, i.value FROM items"
        " AS i JOIN items_text AS t ON t.rowid = i.n ORDER BY i.path, i.n"
    )
    with sqlite3.connect(index.db_path) as conn:
        return [MemoryHit(*row, score=0.0) for row in conn.execute(sql)]


def rows_of(index: MemoryIndex, path: str) -> list[tuple[str, str, str, str, str, float]]:
    return [
        (h.text, h.space, h.tier, h.date, h.source, h.value)
        for h in everything(index)
        if h.path == path
    ]


def test_root_memory_is_the_owners_topic_tier_one_row_per_item(index: MemoryIndex) -> None:
    assert rows_of(index, "MEMORY.md") == [
        (
            "People: Dana Whitfield is my accountant; she prefers email over calls.",
            "",
            "topic",
            "",
            "",
            0.0,
        ),
        (
            "People: My sister Priya lives in Lisbon. Her kids are Noa and Tiago.",
            "",
            "topic",
            "",
            "",
            0.0,
        ),
        (
            "Preferences: I take my coffee as a cortado, and I never schedule meetings before ten.",
            "",
            "topic",
            "",
            "",
            0.0,
        ),
    ]
    for left_out in ("quokka", "walrus", "pelican", "gannet", "ibis", "flamingo"):
        assert index.search(left_out) == [], left_out


def test_daily_notes_are_the_owners_archive_dated_by_file_name(index: MemoryIndex) -> None:
    assert rows_of(index, "memory/2026-03-02.md") == [
        ("Booked the dentist for March 14 at 9:30.", "", "archive", "2026-03-02", "", 0.0),
        ("Called the plumber about the leaking tap.", "", "archive", "2026-03-02", "", 0.0),
    ]  # the heading only repeats the file's name: no context
    assert rows_of(index, "memory/2026-03-05-offsite.md") == [
        (
            "Offsite planning: The offsite venue is the Harbourside hotel in Porto.",
            "",
            "archive",
            "2026-03-05",
            "",
            0.0,
        )
    ]
    [nested] = index.search("Kestrel kickoff")
    assert (nested.path, nested.space, nested.tier, nested.date) == (
        "memory/projects/2026-02-20.md",
        "",
        "archive",
        "2026-02-20",
    )


def test_rebel_space_memory_topics_and_sources(index: MemoryIndex) -> None:
    assert rows_of(index, "spaces/acme/memory/topics/customers.md") == [
        ("Globex renews in June; their contact is Hank Scorpio.", "acme", "topic", "", "", 0.0),
        ("Initech pays invoices late, usually by two weeks.", "acme", "topic", "", "", 0.0),
    ]
    assert rows_of(index, "spaces/acme/memory/sources/call-notes.md") == [
        (
            "Call with Initech, 2026-01-10: Initech wants single sign-on before they sign.",
            "acme",
            "archive",
            "",
            "",
            0.0,
        ),
        (
            "Call with Initech, 2026-01-10: Person: Bill Lumbergh; Role: VP",
            "acme",
            "archive",
            "",
            "",
            0.0,
        ),
    ]
    assert index.search("zeppelin") == []  # the space's readme is not memory


def test_files_with_cairn_memory_lines_keep_their_rows_exactly(index: MemoryIndex) -> None:
    [hit] = index.search("annual plans months free", limit=1)
    assert (hit.id, hit.text, hit.space, hit.tier, hit.date, hit.source, hit.value) == (
        "a1b2c3d4",
        "Annual plans get two months free.",
        "acme",
        "topic",
        "2026-11-18",
        "user-confirmed",
        0.55,
    )
    assert index.search("prose") == []  # only memory lines in such a file


def test_recall_by_query_and_by_space(index: MemoryIndex) -> None:
    [hit] = index.search("does my accountant prefer email", limit=1)
    assert hit.path == "MEMORY.md" and "Dana Whitfield" in hit.text
    assert [h.path for h in index.search("Lisbon", spaces=[""])] == ["MEMORY.md"]
    assert index.search("Lisbon", spaces=["acme"]) == []
    assert index.search("Globex", space="") == []
    assert [h.space for h in index.search("Globex renews", spaces=["acme", ""])] == ["acme"]
    [daily] = index.search("when is the dentist")
    assert daily.path == "memory/2026-03-02.md"


def test_ids_are_stable_across_rebuilds_and_new_databases(root: Path, index: MemoryIndex) -> None:
    first = {(h.path, h.text): h.id for h in everything(index)}
    assert len(set(first.values())) == len(first)  # one id per row
    assert index.rebuild() == len(first)
    assert {(h.path, h.text): h.id for h in everything(index)} == first
    with MemoryIndex(root, root / "other.sqlite") as fresh:
        fresh.repair()
        assert {(h.path, h.text): h.id for h in everything(fresh)} == first
    # Two equal notes in one file are two rows with two ids.
    write(root, "memory/2026-03-09.md", "- Water the plants.\n\n- Water the plants.\n")
    assert index.update(["memory/2026-03-09.md"]) == 1
    twice = index.search("water plants")
    assert len(twice) == 2 and twice[0].id != twice[1].id


def test_edits_update_only_what_changed(root: Path, index: MemoryIndex) -> None:
    before = {h.text: h.id for h in everything(index) if h.path == "MEMORY.md"}
    edited = MEMORY_MD.replace("My sister Priya lives in Lisbon.", "My sister Priya moved to Oslo.")
    write(root, "MEMORY.md", edited + "\n## Health\n- Allergic to penicillin.\n")
    assert index.update(["MEMORY.md"]) == 1
    after = {h.text: h.id for h in everything(index) if h.path == "MEMORY.md"}
    kept = "People: Dana Whitfield is my accountant; she prefers email over calls."
    assert after[kept] == before[kept]
    assert index.search("Lisbon") == []
    assert [h.text for h in index.search("Oslo")] == [
        "People: My sister Priya moved to Oslo. Her kids are Noa and Tiago."
    ]
    assert [h.text for h in index.search("penicillin")] == ["Health: Allergic to penicillin."]
    assert index.update(["MEMORY.md"]) == 0  # same bytes: nothing to do


def test_deletes_and_new_files_through_update_of_a_file_or_a_folder(
    root: Path, index: MemoryIndex
) -> None:
    (root / "memory/2026-03-02.md").unlink()
    assert index.update(["memory/2026-03-02.md"]) == 1
    assert index.search("dentist") == []
    write(root, "memory/2026/03/2026-03-07.md", "Renewed the passport at the town hall.\n")
    (root / "memory/projects/2026-02-20.md").unlink()
    assert index.update(["memory"]) == 2
    [hit] = index.search("passport")
    assert (hit.path, hit.date, hit.tier) == (
        "memory/2026/03/2026-03-07.md",
        "2026-03-07",
        "archive",
    )
    assert index.search("Kestrel") == []
    (root / "MEMORY.md").unlink()
    assert index.update(["MEMORY.md", "memory/pending/abc12345.md"]) == 1
    assert index.search("accountant") == []
    write(root, "memory.md", "- The spare key is under the blue pot.\n")
    assert index.update([""]) == 1  # the whole workspace
    assert [h.path for h in index.search("spare key")] == ["memory.md"]


def test_repair_catches_what_changed_while_closed(root: Path, index: MemoryIndex) -> None:
    index.close()
    write(root, "MEMORY.md", MEMORY_MD.replace("cortado", "flat white"))
    (root / "spaces/acme/memory/sources/call-notes.md").unlink()
    write(root, "spaces/acme/memory/2026-04-01-retro.md", "The retro said: ship smaller.\n")
    with MemoryIndex(root) as reopened:
        assert reopened.repair() == [
            "MEMORY.md",
            "spaces/acme/memory/2026-04-01-retro.md",
            "spaces/acme/memory/sources/call-notes.md",
        ]
        assert reopened.search("cortado") == []
        assert [h.path for h in reopened.search("flat white coffee")] == ["MEMORY.md"]
        assert reopened.search("single sign-on") == []
        [retro] = reopened.search("retro ship smaller")
        assert (retro.space, retro.tier, retro.date) == ("acme", "archive", "2026-04-01")
        assert reopened.repair() == []


def test_an_index_from_the_previous_version_is_rebuilt(root: Path, index: MemoryIndex) -> None:
    db = index.db_path
    index.close()
    with sqlite3.connect(db) as conn:  # what version 1 left: no root memory in it
        conn.execute("DELETE FROM items")
        conn.execute("DELETE FROM items_text")
        conn.execute("PRAGMA user_version = 1")
    with MemoryIndex(root) as reopened:
        assert "MEMORY.md" in reopened.repair()
        assert [h.path for h in reopened.search("accountant")] == ["MEMORY.md"]


def test_long_notes_are_cut_into_rows_of_bounded_length(root: Path, index: MemoryIndex) -> None:
    sentences = " ".join(f"Sentence {n} about the harbour crane schedule." for n in range(60))
    write(root, "memory/2026-05-01.md", f"# Port\n\n{sentences}\n\n- {'word ' * 400}\n")
    index.update(["memory/2026-05-01.md"])
    crane = index.search("harbour crane", limit=50)
    assert len(crane) >= 5
    assert all(len(h.text) <= ROW_CHARS and h.text.startswith("Port: ") for h in crane)
    assert all(h.text.endswith(".") for h in crane)  # cut at sentence ends
    words = index.search("word", limit=50)
    assert len(words) >= 4 and all(len(h.text) <= ROW_CHARS for h in words)


@posix_only
def test_links_and_hidden_files_are_not_read(tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("- The outside osprey secret.\n")
    (root / "MEMORY.md").unlink()
    os.symlink(outside, root / "MEMORY.md")
    os.symlink(outside, root / "memory/linked.md")
    os.symlink(tmp_path, root / "memory/folder")
    write(root, "memory/.hidden/2026-01-01.md", "- A hidden heron.\n")
    with MemoryIndex(root) as idx:
        idx.repair()
        assert idx.search("osprey") == idx.search("heron") == []
        assert idx.update(["MEMORY.md", "memory/linked.md", "memory/folder"]) == 0
        assert idx.search("osprey") == []


def test_forget_on_a_free_form_note_says_which_file_to_edit(root: Path) -> None:
    write(root, "agents.md", "---\nname: Cairn\n---\n# Cairn\n")
    with MemoryIndex(root) as idx:
        idx.repair()
        [hit] = idx.search("accountant")
        assert idx.paths_of(hit.id) == ["MEMORY.md"]
        assert idx.paths_of("nothing1") == []
    result = subprocess.run(
        [sys.executable, "-m", "cairn", "memory", "forget", hit.id, "--workspace", str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "written by hand or by another tool" in result.stderr
    assert "edit MEMORY.md to remove it" in result.stderr
    assert "Dana Whitfield" in (root / "MEMORY.md").read_text()  # nothing was changed


def test_a_rebel_space_outside_spaces_is_indexed_under_its_name(tmp_path: Path) -> None:
    """Rebel keeps a space in any folder (`work/Acme/General`); the model tells the index
    where, and its memory is recalled under the space's name, nothing else in the folder."""
    import shutil

    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.runtime import space_folders

    root = tmp_path / "rebel"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "layouts" / "rebel", root)
    general = root / "work/Acme/General"
    (general / "memory/topics").mkdir(parents=True, exist_ok=True)
    (general / "memory/topics/pricing.md").write_text(
        "# Pricing\n\n- Annual plans: two months free.\n"
    )
    (general / "notes.md").write_text("Not memory: a note about annual plans.\n")
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    folders = space_folders(model.workspace)
    assert folders["work/Acme/General"] == "work-acme-general"
    with MemoryIndex(root, space_folders=lambda: space_folders(model.workspace)) as index:
        index.rebuild()
        hits = index.search("annual plans", limit=10)
        assert [(h.space, h.path) for h in hits] == [
            ("work-acme-general", "work/Acme/General/memory/topics/pricing.md")
        ]
        source = index.search("prepare the numbers before Tuesday", limit=1)[0]
        assert source.space == "chief-of-staff" and source.path.startswith("Chief-of-Staff/")
        (general / "memory/topics/pricing.md").write_text("- Annual plans: one month free.\n")
        assert index.update(["work/Acme/General/memory/topics/pricing.md"]) == 1
        assert "one month" in index.search("annual plans", limit=1)[0].text
        (general / "memory/topics/pricing.md").unlink()
        assert index.repair() == ["work/Acme/General/memory/topics/pricing.md"]
        assert index.search("annual plans", limit=10) == []
