"""One app per workspace: a second `cairn app` on a workspace that is already open brings
the first window forward and exits at once, instead of opening a second window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_a_second_launch_focuses_the_first(starter: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    command = [sys.executable, "-m", "cairn", "app", str(starter), "--no-automations"]
    # The first says when its workspace is listed: by then it listens for later launches.
    first = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**env, "CAIRN_APP_TIMING": "1"},
        text=True,
    )
    try:
        assert first.stderr is not None
        for line in first.stderr:
            if line.startswith("timing listed="):
                break
        second = subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, env=env
        )
        assert second.returncode == 0, second.stderr
        assert "already open; brought it forward" in second.stderr
        assert first.poll() is None  # the first window is still there
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_ctrl_c_in_the_terminal_quits_cleanly(starter: Path, tmp_path: Path) -> None:
    """SIGINT quits as the menu does: exit status 0, no traceback, and the workspace is
    free again (a new launch opens instead of focusing a dead one)."""
    import signal

    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "CAIRN_APP_TIMING": "1",
    }
    command = [sys.executable, "-m", "cairn", "app", str(starter)]
    app = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True
    )
    assert app.stderr is not None
    for line in app.stderr:
        if line.startswith("timing listed="):
            break
    app.send_signal(signal.SIGINT)
    try:
        _, rest = app.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        app.kill()
        raise
    assert app.returncode == 0, rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    again = subprocess.run(
        [*command, "--screenshot", str(tmp_path / "again.png")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**env, "CAIRN_APP_TIMING": ""},
    )
    assert again.returncode == 0, again.stderr
