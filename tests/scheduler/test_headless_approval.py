"""An automation that meets an approval, end to end in real processes: the run queues the
write and ends `needs-approval`; `cairn approvals approve`, later, performs it once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.testing.openai_stub import OpenAIStub
from tests.scheduler.test_serve_processes import workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
NOTES = "spaces/team/notes.md"


def cairn(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-test-serve-0000000000000000",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args, "--workspace", str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def test_a_queued_write_is_performed_once_when_approved_later(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    with OpenAIStub() as stub:
        root = workspace(tmp_path, stub.base_url, tiny_model_path)
        (root / "automations" / "notes.md").write_text(
            "---\nschedule: every 1 day\nspace: team\n"
            "headless: {allow: [read_file, write_file], on_approval: queue}\n"
            "---\nWrite the team notes.\n"
        )
        # The model writes outside the drafts folder, which agents.md says to ask about.
        stub.state.script = [
            {"name": "write_file", "arguments": {"path": NOTES, "content": "Agreed: ship.\n"}},
            "Queued the notes.",
        ]
        run = cairn(root, "automations", "run", "notes")
    assert run.returncode == 1, run.stderr
    assert "needs-approval" in run.stdout and "cairn approvals list" in run.stdout
    assert not (root / NOTES).exists()
    log = (root / "spaces/team/history/automations/notes.md").read_text()
    assert "· needs-approval" in log

    listed = cairn(root, "approvals", "list", "--json")
    (pending,) = json.loads(listed.stdout)["approvals"]
    assert pending["tool"] == "write_file" and pending["automation"] == "notes"
    approved = cairn(root, "approvals", "approve", pending["id"])
    assert approved.returncode == 0, approved.stderr
    assert (root / NOTES).read_text().endswith("Agreed: ship.\n")
    again = cairn(root, "approvals", "approve", pending["id"])
    assert again.returncode == 2 and "no pending approval" in again.stderr
    assert (root / NOTES).read_text().count("Agreed: ship.") == 1
