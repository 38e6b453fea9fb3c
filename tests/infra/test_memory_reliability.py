"""Memory survives crashes: files are old or new, never partial; the index repairs itself;
editor changes reach the index live."""

from __future__ import annotations

import queue
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cairn.core.memory.items import items_in
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore
from cairn.infra.memory_index import MemoryIndex
from cairn.infra.watcher import WorkspaceWatcher

WRITER = """
import sys
from datetime import date
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.memory.items import Candidate
from cairn.core.memory.writer import MemoryWriter
from cairn.infra.files import LocalFileStore
from cairn.infra.memory_index import MemoryIndex

root = sys.argv[1]
model = WorkspaceModel(LocalFileStore(root))
model.load()
index = MemoryIndex(root)
writer = MemoryWriter(model, on_change=index.update)
print("ready", flush=True)
n = 0
while True:
    n += 1
    tier = ("readme", "topic", "archive")[n % 3]
    writer.write("chief-of-staff", Candidate(f"Numbered fact {n} with padding " + "x" * 2000,
                 "user-said", 0.9 if tier == "readme" else 0.5 if tier == "topic" else 0.2,
                 topic="facts"), tier, None)
"""


@pytest.mark.slow
def test_killed_memory_writes_leave_whole_files_and_the_index_repairs(starter: Path) -> None:
    readme = starter / "spaces/chief-of-staff/readme.md"
    rng = random.Random(7)
    for _ in range(12):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(starter)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Each file is a complete version: the workspace loads clean and every memory line
        # in the readme is whole.
        workspace = WorkspaceModel(LocalFileStore(starter)).load()
        assert workspace.errors == ()
        text = readme.read_text()
        assert text.endswith("\n")
        assert all(
            line.rstrip().endswith("-->") for line in text.splitlines() if line.startswith("- 20")
        )
    with MemoryIndex(starter) as index:
        index.repair()
        on_disk = {
            item.id
            for path in (starter / "spaces").rglob("topics/*.md")
            for item in items_in(path.read_text())
        }
        archived = {p.stem.rsplit("-", 1)[1] for p in (starter / "spaces").rglob("archive/**/*.md")}
        found = {hit.id for hit in index.search("Numbered fact padding", limit=10_000)}
        assert found == on_disk | archived


def test_editor_changes_reach_the_index_live(starter: Path) -> None:
    model = WorkspaceModel(LocalFileStore(starter))
    model.load()
    seen: queue.Queue[list[str]] = queue.Queue()
    with MemoryIndex(starter) as index:

        def follow(paths: list[str]) -> None:
            index.update(paths)
            seen.put(paths)

        with WorkspaceWatcher(model, starter, debounce=0.05, on_paths=follow):
            time.sleep(0.2)
            note = starter / "spaces/team/memory/archive/2026/11/2026-11-20-wifi-1234abcd.md"
            note.parent.mkdir(parents=True)
            note.write_text(
                "---\nid: 1234abcd\ndate: 2026-11-20\nsource: user-said\n"
                'value: 0.2\nspace: team\norigin: ""\n---\n'
                "The guest wifi password rotates every Monday.\n"
            )
            deadline = time.monotonic() + 5
            while not index.search("guest wifi rotates") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert index.search("guest wifi rotates")[0].id == "1234abcd"
            note.unlink()
            deadline = time.monotonic() + 5
            while index.search("guest wifi rotates") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert index.search("guest wifi rotates") == []


def test_index_keeps_numeric_looking_ids_as_written(starter: Path) -> None:
    from datetime import date

    from cairn.core.memory.items import MemoryItem, archive_note

    item = MemoryItem(
        "00063281",
        "The loading dock opens at six.",
        "user-said",
        0.2,
        date(2026, 11, 20),
        "history/x.md",
    )
    relative, text = archive_note(item, "team")
    note = starter / "spaces/team" / relative
    note.parent.mkdir(parents=True)
    note.write_text(text)
    with MemoryIndex(starter) as index:
        index.rebuild()
        assert [hit.id for hit in index.search("loading dock")] == ["00063281"]
