"""`cairn serve` as real processes on one workspace: a loopback OpenAI-compatible model
(`cairn.testing.openai_stub`) and a tiny generated GGUF for the local steps.

* Two `cairn serve` processes keep the same automations: every slot is decided once
  (run or skipped with a reason), the start-up catch-up runs once, and each live slot
  runs once, counting the runs each process's log says it started.
* A `cairn serve` killed with SIGKILL mid-run leaves its runs `interrupted` at the next
  start, never replayed; SIGTERM stops a run in progress cleanly and exits 0.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cairn.infra.runs import Run, RunStore
from cairn.testing.openai_stub import OpenAIStub
from tests.stub_workspace import stub_workspace

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]
AUTOMATION = """---
schedule: "{schedule}"
space: team
catch_up: "{catch_up}"
headless: {{on_approval: skip}}
---
Say hello to the team in one line.
"""


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as stub:
        yield stub


def workspace(tmp_path: Path, base_url: str, tiny_model: Path) -> Path:
    return stub_workspace(tmp_path, base_url, tiny_model, automations=False)


def add_automation(
    root: Path, name: str, schedule: str, catch_up: str, *, seen_ago: timedelta
) -> None:
    (root / "automations" / f"{name}.md").write_text(
        AUTOMATION.format(schedule=schedule, catch_up=catch_up)
    )
    with RunStore(root) as store:  # as if a scheduler had seen it then, and Cairn stopped
        store.first_seen(name, datetime.now(UTC) - seen_ago)


def serve(root: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-test-serve-0000000000000000",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cairn", "serve", str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )


def runs(root: Path) -> list[Run]:
    with RunStore(root) as store:
        return store.history(limit=10_000)


def wait_for(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert code == 0, log.read_text()


@pytest.mark.timeout(300)
def test_two_serve_processes_run_each_slot_once(
    tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root = workspace(tmp_path, stub.base_url, tiny_model_path)
    names = ("alpha", "beta", "gamma")
    for name in names:  # ten minutes of missed slots each, and a live one every minute
        add_automation(
            root, name, "every 1 minute", "latest within 1h", seen_ago=timedelta(minutes=10)
        )
    started = datetime.now(UTC)
    logs = [tmp_path / "serve-1.log", tmp_path / "serve-2.log"]
    processes = [serve(root, log) for log in logs]
    try:

        def live_slots_done() -> bool:
            done = {
                r.automation
                for r in runs(root)
                if r.trigger == "schedule" and r.slot > started and r.status in ("done", "failed")
            }
            return done == set(names)

        wait_for(live_slots_done, 200, "a live slot of each automation to finish")
    finally:
        for process, log in zip(processes, logs, strict=True):
            stop(process, log)
    rows = runs(root)
    assert not [r for r in rows if r.status == "running"]
    for name in names:
        mine = sorted((r for r in rows if r.automation == name), key=lambda r: r.slot)
        slots = [r.slot for r in mine]
        # Every minute from first sight to the last decided slot has exactly one row.
        assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(slots))
        assert len(slots) == len(set(slots)) >= 11
        assert Counter(r.trigger for r in mine if r.status != "skipped")["catch-up"] == 1
        assert all(r.reason for r in mine if r.status == "skipped")
    # What the processes really started, by their own logs: one start per claimed run.
    starts = Counter[str]()
    for log in logs:
        for line in log.read_text().splitlines():
            if " run for " in line and line.endswith(" starts"):
                name, _, rest = line.split(" ", 2)[2].partition(": ")
                starts[f"{name} {rest.split(' run for ')[1].removesuffix(' starts')}"] += 1
    claimed = [r for r in rows if r.status != "skipped"]
    assert sum(starts.values()) == len(claimed), starts
    assert set(starts.values()) == {1}
    run_logs = list((root / "spaces/team/history/automations").glob("*.md"))
    assert sorted(p.stem for p in run_logs) == sorted(names)


@pytest.mark.timeout(240)
def test_a_killed_serve_leaves_its_run_interrupted_and_sigterm_stops_cleanly(
    tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    stub.state.reply = " ".join(["slowly"] * 400)  # 0.2 s a word: a run that lasts
    root = workspace(tmp_path, stub.url("slow"), tiny_model_path)
    add_automation(
        root, "first", "every 5 minutes", "latest within 1h", seen_ago=timedelta(minutes=30)
    )
    log = tmp_path / "serve-1.log"
    killed = serve(root, log)
    wait_for(lambda: any(r.status == "running" for r in runs(root)), 60, "the catch-up to run")
    wait_for(lambda: stub.state.requests, 60, "the model to be asked")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    (interrupted,) = [r for r in runs(root) if r.status != "skipped"]
    assert interrupted.status == "running"  # nobody has looked yet

    # A second automation with slots owed, so the next serve has a run to stop.
    add_automation(
        root, "second", "every 5 minutes", "latest within 1h", seen_ago=timedelta(minutes=30)
    )
    log = tmp_path / "serve-2.log"
    restarted = serve(root, log)
    try:
        wait_for(
            lambda: any(r.automation == "second" and r.status == "running" for r in runs(root)),
            60,
            "the second automation's catch-up to run",
        )
        time.sleep(1.0)
    finally:
        stop(restarted, log)
    rows = {(r.automation, r.slot): r for r in runs(root) if r.status != "skipped"}
    first = rows[("first", interrupted.slot)]
    assert first.status == "interrupted" and "has ended" in (first.reason or "")
    assert [r for r in rows.values() if r.automation == "first"] == [first]  # not replayed
    (second,) = [r for r in rows.values() if r.automation == "second"]
    assert second.status == "interrupted", second
    text = log.read_text()
    assert "first: interrupted" in text and "SIGTERM received: stopping" in text
    history = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn",
            "automations",
            "history",
            "--json",
            "--workspace",
            str(root),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    statuses = Counter(row["status"] for row in json.loads(history.stdout)["runs"])
    assert statuses["interrupted"] == 2 and statuses["running"] == 0
