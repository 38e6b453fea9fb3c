"""The app in a real X window (Xvfb), not offscreen: one screenshot per main view, saved
as test artifacts (in $CAIRN_ARTIFACTS when set, else the test's temporary folder).

scripts/setup installs Xvfb on Debian-like machines, so CI always runs this; elsewhere it
is skipped when Xvfb is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.app.window import VIEWS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        if os.environ.get("CI"):
            pytest.fail("CI ran scripts/setup, which installs Xvfb")
        pytest.skip("Xvfb is not installed (scripts/setup installs it)")
    for number in range(90, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            break
    name = f":{number}"
    server = subprocess.Popen(
        ["Xvfb", name, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if time.monotonic() > deadline or server.poll() is not None:
            pytest.fail("Xvfb did not start")
        time.sleep(0.05)
    yield name
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.parametrize("view", [label for label, _, _ in VIEWS])
def test_each_main_view_in_a_real_window(
    display: str, starter: Path, tmp_path: Path, view: str
) -> None:
    folder = Path(os.environ.get("CAIRN_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"app-{view.lower()}.png"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # a fresh QSettings: no saved geometry
    command = ["app", str(starter), "--screenshot", str(out), "--view", view]
    done = subprocess.run(
        [sys.executable, "-m", "cairn", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a drawn window
