"""Kill a process in the middle of LocalFileStore.write, many times: never a torn file.

A child process loops forever, replacing one ~2 MB file alternately with content A and
content B (each write names the current hash as its base). The test SIGKILLs it after a
random short delay, over and over. After every kill the file must hold exactly the
initial bytes, A or B: the temporary-file-then-rename write never leaves a mix. The
temporaries a kill leaves behind are hidden, so the workspace model never loads them,
and `remove_stale_temporaries` cleans them up.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.files import TEMP_MARKER, LocalFileStore

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)"),
]

SRC = Path(__file__).resolve().parents[2] / "src"
TARGET = "skills/bulky/references/blob.md"  # a skill resource: its temporaries look like one
SIZE = 2 * 1024 * 1024
KILLS = 40
INITIAL = b"initial content, never written by the child\n"


def pattern(seed: str) -> bytes:
    """Content the child and the test build the same way; every line says which it is."""
    line = f"{seed}: the quick brown fox jumps over the lazy dog 0123456789\n".encode()
    return (line * (SIZE // len(line) + 1))[:SIZE]


CONTENT_A = pattern("alpha")
CONTENT_B = pattern("bravo")

WRITER = """
import sys
from cairn.core.workspace.documents import content_hash
from cairn.infra.files import LocalFileStore

root, rel, size = sys.argv[1], sys.argv[2], int(sys.argv[3])

def pattern(seed):
    line = f"{seed}: the quick brown fox jumps over the lazy dog 0123456789\\n".encode()
    return (line * (size // len(line) + 1))[:size]

a, b = pattern("alpha"), pattern("bravo")
hash_a = content_hash(a)
store = LocalFileStore(root)
sys.stdout.write("ready\\n")
sys.stdout.flush()
while True:
    current = store.current_hash(rel)
    store.write(rel, b if current == hash_a else a, base_hash=current)
"""


def start_writer(root: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p),
    }
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), TARGET, str(SIZE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    try:
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def make_workspace(root: Path) -> None:
    starter = Path(__file__).resolve().parents[2]
    shutil.copy2(starter / "agents.md", root / "agents.md")
    skill = root / "skills" / "bulky"
    (skill / "references").mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        '---\nname: bulky\ndescription: "Carries a large reference file."\n---\n\n'
        "# Bulky\n\nRead references/blob.md.\n",
        encoding="utf-8",
    )
    (root / TARGET).write_bytes(INITIAL)


def test_content_is_never_torn_when_the_writer_is_killed(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    make_workspace(root)
    target = root / TARGET
    rng = random.Random(0xCA1F)
    seen: list[str] = []
    kills_leaving_a_temporary = 0
    started = time.monotonic()

    for attempt in range(KILLS):
        process = start_writer(root)
        try:
            assert process.stdout is not None
            ready = process.stdout.readline()  # the child has imported Cairn: writes start now
            assert ready == b"ready\n", process.stderr.read().decode() if process.stderr else ""
            time.sleep(rng.uniform(0.005, 0.08))
            assert process.poll() is None, "the writer stopped by itself (it should loop)"
        finally:
            kill(process)
        assert process.returncode == -signal.SIGKILL

        data = target.read_bytes()
        if data == INITIAL:
            seen.append("initial")
        elif data == CONTENT_A:
            seen.append("A")
        elif data == CONTENT_B:
            seen.append("B")
        else:
            pytest.fail(
                f"kill #{attempt}: the file is torn: {len(data)} bytes, "
                f"starts {data[:40]!r}, ends {data[-40:]!r}"
            )
        kills_leaving_a_temporary += any(TEMP_MARKER in p.name for p in target.parent.iterdir())

    elapsed = time.monotonic() - started
    # The child really wrote (both contents were on disk at some point) ...
    assert {"A", "B"} <= set(seen), seen
    # ... and kills really landed in the middle of writes: temporaries were left behind.
    leftovers = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if TEMP_MARKER in p.name
    )
    assert kills_leaving_a_temporary > 0 and leftovers, (
        "no kill landed mid-write; the test did not exercise the window"
    )
    assert elapsed < 60, f"took {elapsed:.1f}s"

    # The model never sees the temporaries: they are hidden names.
    store = LocalFileStore(root)
    workspace = WorkspaceModel(store).load()
    assert not any(TEMP_MARKER in path for path in workspace.files)
    bulky = workspace.skills["bulky"]
    assert bulky.resources.references == (TARGET,)
    assert bulky.resources.other == ()
    assert not any(TEMP_MARKER in d.path for d in workspace.diagnostics)

    # Start-up clean-up removes exactly the leftovers and nothing else.
    removed = store.remove_stale_temporaries()
    assert sorted(removed) == leftovers
    assert not any(TEMP_MARKER in p.name for p in root.rglob("*"))
    assert target.read_bytes() in (INITIAL, CONTENT_A, CONTENT_B)
    assert (root / "skills" / "bulky" / "SKILL.md").exists()
    assert WorkspaceModel(store).load().files == workspace.files
