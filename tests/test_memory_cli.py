"""`cairn memory` over real files and the real SQLite index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cairn.core.memory.items import Candidate, place
from cairn.core.memory.writer import MemoryWriter
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import LocalFileStore


def memory(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", "memory", *args, "--workspace", str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_stage_approve_search_forget(starter: Path) -> None:
    model = WorkspaceModel(LocalFileStore(starter))
    model.load()
    writer = MemoryWriter(model)
    [placement] = place(
        [Candidate("The office printer code is 4471.", "tool-output", 0.5, topic="office")],
        model.workspace,
        task_space="team",
        derived_from_private=False,
    )
    staged = writer.stage(placement, None, "task-1")

    listed = json.loads(memory("pending", "--json", root=starter).stdout)
    assert [p["id"] for p in listed] == [staged.id]
    approved = memory("approve", staged.id, root=starter)
    assert approved.returncode == 0 and "team (topic tier)" in approved.stdout
    found = json.loads(memory("search", "printer code", "--json", root=starter).stdout)
    assert found[0]["text"] == "The office printer code is 4471." and found[0]["space"] == "team"
    forgotten = memory("forget", found[0]["id"], root=starter)
    assert forgotten.returncode == 0, forgotten.stderr
    assert json.loads(memory("search", "printer code", "--json", root=starter).stdout) == []
    assert "4471" not in "".join(p.read_text() for p in (starter / "spaces").rglob("*.md"))
    assert memory("forget", "deadbeef", root=starter).returncode == 2


def test_reindex_rebuilds_from_the_files(starter: Path) -> None:
    topic = starter / "spaces/team/memory/topics/vendors.md"
    topic.parent.mkdir(parents=True)
    topic.write_text(
        "---\ntopic: vendors\n---\n# Vendors\n\n## Memory\n\n"
        "- 2026-11-02: Acme invoices are due in 30 days. <!-- mem:aa11bb22 v=0.50 "
        "src=tool-output -->\n"
    )
    rebuilt = memory("reindex", root=starter)
    assert rebuilt.returncode == 0 and "indexed 1" in rebuilt.stdout
    hits = json.loads(memory("search", "Acme invoices", "--json", root=starter).stdout)
    assert hits and hits[0]["id"] == "aa11bb22"
    # Hand-deleted while nothing was running: the next start repairs the index.
    topic.unlink()
    assert json.loads(memory("search", "Acme invoices", "--json", root=starter).stdout) == []
