"""`cairn serve` runs the starter workspace's automations on the starter model, with no
keys: the inbox scan owes a catch-up (Cairn saw it three hours ago and has not run since),
so the daemon runs it at start, and SIGTERM then stops the daemon cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cairn.infra.runs import RunStore
from tests.conftest import copy_starter

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_serve_runs_the_starter_inbox_scan_on_the_starter_model(
    tmp_path: Path, starter_models: Path
) -> None:
    root = copy_starter(tmp_path / "ws")
    (root / "spaces/chief-of-staff/inbox/2026-11-30-note.md").write_text(
        "From: Dana\n\nCan you confirm the venue for Thursday's offsite by Wednesday?\n"
    )
    with RunStore(root) as store:
        store.first_seen("inbox-scan", datetime.now(UTC) - timedelta(hours=3))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        CAIRN_MODELS_DIR=str(starter_models),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",  # no keychain, no keys
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "cairn", "serve", str(root), "--verbose"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        deadline = time.monotonic() + 780
        finished = None
        while finished is None and time.monotonic() < deadline:
            time.sleep(1)
            with RunStore(root) as store:
                last = store.last_run("inbox-scan")
            if last is not None and last.status not in ("running", "skipped"):
                finished = last
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    assert finished is not None, text
    assert finished.trigger == "catch-up"
    # A demo-grade model finishes, or is stopped by Cairn's own guards or the job's budget
    # (40,000 tokens): each is the daemon doing its job. A crash or a refusal is not.
    allowed = {"done": "", "failed": "guard: ", "paused": "budget: "}
    assert finished.status in allowed, finished
    assert (finished.reason or "").startswith(allowed[finished.status]), finished.reason
    assert "→ local-starter (local)" in text
    assert finished.cost_usd == 0
    run_log = (root / "spaces/chief-of-staff/history/automations/inbox-scan.md").read_text()
    assert f"· {finished.status}" in run_log
