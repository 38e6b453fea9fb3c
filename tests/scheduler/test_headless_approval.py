"""An automation that meets an approval, end to end in real processes: the run queues the
write and ends `needs-approval`; `cairn approvals approve`, later, performs it once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
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


@pytest.mark.parametrize(
    ("setting", "status", "second_file"),
    [
        ("queue", "needs-approval", True),
        ("stop", "needs-approval", False),
        ("fail", "failed", False),
    ],
)
def test_on_approval_decides_whether_the_run_goes_on(
    starter: Path, setting: str, status: str, second_file: bool
) -> None:
    """The real task loop on scripted engines: the first write needs approval (outside the
    drafts), the second is allowed (in the drafts)."""
    from cairn.core.engine import ToolCall
    from cairn.core.routing.dispatch import Dispatcher
    from cairn.core.routing.router import Router
    from cairn.core.tasks.loop import TaskRunner
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.approvals import ApprovalQueue
    from cairn.infra.runs import Run, RunStore
    from cairn.scheduler.execute import TaskRunnerLike, execute
    from cairn.testing.fakes import ListLedger
    from cairn.testing.scripted_engine import ScriptedEngine

    (starter / "automations" / "notes.md").write_text(
        "---\nschedule: every 1 day\nspace: team\n"
        f"headless: {{allow: [write_file], on_approval: {setting}}}\n"
        "---\nWrite the team notes.\n"
    )
    script = [
        ToolCall("c1", "write_file", {"path": NOTES, "content": "Agreed.\n"}),
        ToolCall("c2", "write_file", {"path": "spaces/team/drafts/n.md", "content": "Draft\n"}),
        "Done.",
    ]

    def runner(model: WorkspaceModel, root: Path, name: str) -> TaskRunnerLike:
        agents = model.workspace.agents
        assert agents is not None
        engines = {
            n: ScriptedEngine(n, list(script), is_local=n.startswith("local"))
            for n in agents.policy.models
        }
        dispatcher = Dispatcher(Router(agents.policy), engines.__getitem__, ledger=ListLedger())
        queue = ApprovalQueue(root)
        return TaskRunner(
            model, dispatcher, queue=lambda request, task: queue.queue(request, task, name)
        )

    with RunStore(starter) as store:
        run = execute(
            starter,
            "notes",
            trigger="run-now",
            slot=datetime.now(UTC),
            store=store,
            runner_factory=runner,
        )
    assert isinstance(run, Run)
    assert run.status == status, run.reason
    assert len(ApprovalQueue(starter).pending()) == 1
    assert (starter / "spaces/team/drafts/n.md").exists() is second_file
    assert not (starter / NOTES).exists()
