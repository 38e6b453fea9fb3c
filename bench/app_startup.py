"""Benchmark: the desktop app's start-up and responsiveness, as ratios measured in one run.

1. **Launch to window.** `cairn app DIR` with `CAIRN_APP_TIMING=exit` prints the seconds
   from process start to the window's first event-loop pass (shown) and to the workspace
   being listed; the baseline is a bare PySide6 `QMainWindow` started the same way,
   printing the same "shown" time. Median of --runs launches each, alternated. Aim:
   shown within 2x of the bare window.
2. **A 5,000-file workspace.** The same launch on a starter workspace with --files extra
   notes: shown, and listed, against the plain starter workspace.
3. **Responsiveness.** In one process, offscreen: the main window loaded on the starter
   workspace while a worker streams text deltas at full speed into a text view (what the
   task pane does) and another rebuilds the memory index, over --seconds; a 5 ms timer
   measures how late the event loop serves it. p50 / p99 latency printed, against the
   same probe with the window idle. Aim: p99 <= 50 ms. "Full speed" is 1,000 deltas a
   second, faster than any model streams on this kind of machine.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/app_startup.py [--runs 5]
        [--files 5000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

BARE = """
import sys, time, psutil
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
began = psutil.Process().create_time()
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1200, 780)
window.show()
def shown():
    print(f"timing shown={time.time() - began:.3f}", file=sys.stderr, flush=True)
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def timings(command: list[str], env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=180, env=env, check=False
    )
    found = {}
    for line in done.stderr.splitlines():
        if line.startswith("timing "):
            key, _, value = line.removeprefix("timing ").partition("=")
            found[key] = float(value)
    if "shown" not in found:
        raise SystemExit(f"no timing from {command}: {done.stderr[-2000:]}")
    return found


def launches(
    root: Path, runs: int, env: dict[str, str]
) -> tuple[list[dict[str, float]], list[float]]:
    app_env = {**env, "CAIRN_APP_TIMING": "exit"}
    app = [sys.executable, "-m", "cairn", "app", str(root), "--no-automations"]
    apps, bare = [], []
    for _ in range(runs):
        apps.append(timings(app, app_env))
        bare.append(timings([sys.executable, "-c", BARE], env)["shown"])
    return apps, bare


def big_workspace(root: Path, files: int) -> None:
    from cairn.infra.starter import copy_starter

    copy_starter(root)
    notes = root / "spaces" / "team" / "notes"
    for i in range(files):
        folder = notes / f"{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note-{i:05d}.md").write_text(f"# Note {i}\n\nMeeting notes, item {i}.\n")


def responsiveness(root: Path, seconds: float) -> tuple[list[float], list[float]]:
    """(idle lateness ms, busy lateness ms) of a 5 ms timer."""
    from PySide6.QtWidgets import QApplication, QPlainTextEdit

    from cairn.app.bridge import EventWorker
    from cairn.app.context import AppContext
    from cairn.app.window import MainWindow
    from cairn.core.engine import CancelToken

    app = QApplication.instance() or QApplication(sys.argv[:1])
    context = AppContext(root, run_automations=False)
    window = MainWindow(context)
    window.show()
    loop_done = {"loaded": False}
    context.loaded.connect(lambda: loop_done.update(loaded=True))
    context.start()
    if not loop_done["loaded"]:
        context.loaded.connect(app.quit)
        app.exec()

    def probe(duration: float) -> list[float]:
        probe = _Probe()
        QTimer.singleShot(int(duration * 1000), app.quit)
        probe.timer.start()
        app.exec()
        probe.timer.stop()
        return probe.late[1:]

    idle = probe(seconds)
    output = QPlainTextEdit()
    output.show()

    def stream(cancel: CancelToken) -> Iterator[str]:
        # 1,000 deltas a second: faster than any model streams on this kind of machine.
        words = ("plan ", "the ", "week ", "around ", "three ", "priorities. ")
        i = 0
        while not cancel.cancelled:
            yield words[i % len(words)]
            i += 1
            time.sleep(0.001)

    def rebuild(cancel: CancelToken) -> list[object]:
        from cairn.infra.memory_index import MemoryIndex

        while not cancel.cancelled:
            with MemoryIndex(root) as index:
                index.rebuild()
        return []

    streamer, indexer = EventWorker(stream), EventWorker(rebuild)
    streamer.item.connect(output.insertPlainText)
    streamer.start()
    indexer.start()
    busy = probe(seconds)
    streamer.wait()
    indexer.wait()
    window.shutdown()
    return idle, busy


class _Probe(QObject):
    """A 5 ms timer that records how late the event loop serves each tick, in ms."""

    def __init__(self) -> None:
        super().__init__()
        self.late: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer(self)
        self.timer.setInterval(5)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        self.late.append(max(0.0, (now - self._last) * 1000 - 5))
        self._last = now


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    with tempfile.TemporaryDirectory() as tmp:
        env["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")  # no saved window state
        from cairn.infra.starter import copy_starter

        plain = Path(tmp) / "plain"
        copy_starter(plain)
        apps, bare = launches(plain, args.runs, env)
        shown = statistics.median(a["shown"] for a in apps)
        listed = statistics.median(a["listed"] for a in apps)
        base = statistics.median(bare)
        print(
            f"launch to window shown: cairn app {shown:.2f} s, bare PySide6 window {base:.2f} s,"
            f" ratio {shown / base:.2f}x (aim <= 2x); workspace listed at {listed:.2f} s"
        )
        big = Path(tmp) / "big"
        big_workspace(big, args.files)
        big_apps, _ = launches(big, max(1, args.runs // 2), env)
        big_shown = statistics.median(a["shown"] for a in big_apps)
        big_listed = statistics.median(a["listed"] for a in big_apps)
        print(
            f"{args.files:,}-file workspace: shown {big_shown:.2f} s ({big_shown / shown:.2f}x"
            f" the starter's), listed {big_listed:.2f} s ({big_listed / listed:.2f}x)"
        )
        os.environ["XDG_CONFIG_HOME"] = env["XDG_CONFIG_HOME"]
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        idle, busy = responsiveness(plain, args.seconds)
        print(
            f"event-loop lateness of a 5 ms timer: idle p50 {percentile(idle, 0.5):.0f} ms /"
            f" p99 {percentile(idle, 0.99):.0f} ms; while a task streams at full speed and the"
            f" memory index rebuilds: p50 {percentile(busy, 0.5):.0f} ms /"
            f" p99 {percentile(busy, 0.99):.0f} ms (aim <= 50 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
