"""`cairn approvals`: approvals queued by a real headless run, approved from the CLI.

Each approval is queued the way an automation's run queues one: a real task (the real
loop, gate, tools and queue, wired as `runtime.build_runner` wires them) runs headless
with the options an automation run gives it, on scripted engines, in a copy of the
starter workspace, and its write to `spaces/team/notes.md` meets the `ask` rule. The CLI
then runs in-process on the same folder; what is on disk is the ground truth."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cairn.cli.main import main
from cairn.core.engine import ToolCall
from cairn.core.errors import PathOutsideWorkspaceError
from cairn.core.routing.dispatch import Dispatcher
from cairn.core.routing.router import Router
from cairn.core.tasks import replay
from cairn.core.tasks.approvals import ApprovalRequest, Replay
from cairn.core.tasks.events import ApprovalDecided, TaskFinished
from cairn.core.tasks.loop import TaskOptions, TaskRunner
from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.approvals import ApprovalQueue
from cairn.infra.files import LocalFileStore
from cairn.testing.fakes import ListLedger
from cairn.testing.scripted_engine import ScriptedEngine, ScriptItem

pytestmark = pytest.mark.timeout(60)

AUTO = "note-taker"
NOTES = "spaces/team/notes.md"
WRITE = ToolCall("c2", "write_file", {"path": NOTES, "content": "Line one\nLine two\n"})
READ = ToolCall("c1", "read_file", {"path": NOTES})


@pytest.fixture
def root(starter: Path) -> Path:
    (starter / "automations" / f"{AUTO}.md").write_text(
        "---\nschedule: every 1 day\nspace: team\n"
        "headless:\n  allow: [read_file, write_file, append_file]\n  on_approval: queue\n"
        "---\n\nWrite the team notes.\n",
        encoding="utf-8",
    )
    return starter


def run_headless(root: Path, script: list[ScriptItem]) -> dict[str, Any]:
    """Run the automation's task headless on scripted engines; the one approval it queued."""
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    agents = model.workspace.agents
    automation = model.workspace.automations[AUTO]
    assert agents is not None
    engines = {
        n: ScriptedEngine(n, list(script), is_local=n.startswith("local"))
        for n in agents.policy.models
    }
    dispatcher = Dispatcher(Router(agents.policy), engines.__getitem__, ledger=ListLedger())
    queue = ApprovalQueue(root)
    runner = TaskRunner(
        model, dispatcher, queue=lambda request, task: queue.queue(request, task, AUTO)
    )
    options = TaskOptions(space=automation.meta.space, automation=AUTO, approvals="queue")
    events = list(runner.run(automation.instruction, options))
    assert isinstance(events[-1], TaskFinished), events[-1]
    assert [e.by for e in events if isinstance(e, ApprovalDecided)] == ["queued"]
    [record] = queue.pending()
    return record


def cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["approvals", *args, "--workspace", str(root)])
    out, err = capsys.readouterr()
    return code, out, err


def decided(root: Path, id: str) -> dict[str, Any]:
    path = root / ".cairn" / "approvals" / "decided" / f"{id}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def edit_pending(root: Path, id: str, **changes: Any) -> None:
    path = root / ".cairn" / "approvals" / "pending" / f"{id}.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record.update(changes)
    path.write_text(json.dumps(record), encoding="utf-8")


# --- the queue as a run leaves it -------------------------------------------------------------


def test_a_headless_run_queues_the_write_with_what_approve_rechecks(root: Path) -> None:
    record = run_headless(root, [WRITE, "queued it"])
    assert (record["tool"], record["path"], record["automation"]) == ("write_file", NOTES, AUTO)
    assert record["arguments"] == dict(WRITE.arguments) and record["redacted"] is False
    assert record["replay"] == {"base_hash": None, "space": "team", "sensitive": []}
    assert not (root / NOTES).exists()


def test_an_existing_file_is_queued_with_the_hash_the_task_read(root: Path) -> None:
    (root / NOTES).write_text("old\n", encoding="utf-8")
    record = run_headless(root, [READ, WRITE, "queued it"])
    assert record["replay"]["base_hash"] == content_hash(b"old\n")


# --- list and show --------------------------------------------------------------------------


def test_list_and_show_say_exactly_what_approve_would_do(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / NOTES).write_text("old\nLine two\n", encoding="utf-8")
    record = run_headless(root, [READ, WRITE, "queued it"])
    id = record["id"]
    code, out, _ = cli(capsys, root, "list")
    assert code == 0
    assert out.startswith(f"{id}  ") and f" ago  automation {AUTO}  write_file {NOTES}\n" in out
    assert "why: rule 12: write_file → ask" in out
    code, out, _ = cli(capsys, root, "list", "--json")
    [row] = json.loads(out)["approvals"]
    assert row["id"] == id and row["expires_at"] and json.loads(out)["expired"] == []
    expires = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["queued_at"])
    assert expires == timedelta(days=7)
    code, out, _ = cli(capsys, root, "show", id)
    assert code == 0
    assert "tool       write_file" in out and f"path       {NOTES}" in out
    assert "why asked  rule 12: write_file → ask" in out
    assert "rule now   rule 12: write_file → ask" in out
    assert f"approve    would replace {NOTES}" in out
    assert "expires    " in out and "EXPIRED" not in out
    assert '"content": "Line one\\nLine two\\n"' in out  # the full arguments
    assert "-old" in out and "+Line one" in out and " Line two" in out  # the diff
    assert (root / NOTES).read_text(encoding="utf-8") == "old\nLine two\n"  # show changed nothing
    assert ApprovalQueue(root).pending() != []


def test_an_empty_queue_lists_as_such(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, root, "list")
    assert (code, out) == (0, "no pending approvals\n")


# --- approve --------------------------------------------------------------------------------


def test_approve_performs_the_write_once(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    id = run_headless(root, [WRITE, "queued it"])["id"]
    code, out, err = cli(capsys, root, "approve", id)
    assert code == 0, err
    assert f"approved {id}: created {NOTES} (2 lines)" in out
    assert (root / NOTES).read_text(encoding="utf-8") == "Line one\nLine two\n"
    record = decided(root, id)
    assert (record["decision"], record["outcome"], record["decided_by"]) == (
        "approved",
        "performed",
        "cli",
    )
    written = (root / NOTES).stat()
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 2 and "no pending approval" in err and "already decided" in err
    assert (root / NOTES).stat().st_mtime_ns == written.st_mtime_ns
    assert ApprovalQueue(root).pending() == []
    assert [p.name for p in (root / ".cairn/approvals/decided").iterdir()] == [f"{id}.json"]


def test_approve_replaces_a_file_the_task_read(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / NOTES).write_text("old\n", encoding="utf-8")
    id = run_headless(root, [READ, WRITE, "queued it"])["id"]
    code, out, err = cli(capsys, root, "approve", id)
    assert code == 0, err
    assert f"replaced {NOTES}" in out
    assert (root / NOTES).read_text(encoding="utf-8") == "Line one\nLine two\n"


def test_a_file_changed_since_the_run_is_refused_and_left_alone(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / NOTES).write_text("old\n", encoding="utf-8")
    id = run_headless(root, [READ, WRITE, "queued it"])["id"]
    (root / NOTES).write_text("edited by a person\n", encoding="utf-8")
    code, out, err = cli(capsys, root, "approve", id)
    assert code == 1 and out == ""
    assert f"{NOTES} changed since the run queued this; re-run the automation" in err
    assert (root / NOTES).read_text(encoding="utf-8") == "edited by a person\n"
    record = decided(root, id)
    assert (record["decision"], record["outcome"]) == ("approved", "refused")
    assert "changed since the run queued this" in record["detail"]


def test_a_file_created_since_the_run_is_refused(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    id = run_headless(root, [WRITE, "queued it"])["id"]
    (root / NOTES).write_text("mine\n", encoding="utf-8")
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "changed since the run queued this (it did not exist then)" in err
    assert (root / NOTES).read_text(encoding="utf-8") == "mine\n"


def test_a_rule_that_now_denies_is_refused(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    id = run_headless(root, [WRITE, "queued it"])["id"]
    agents = root / "agents.md"
    text = agents.read_text(encoding="utf-8")
    agents.write_text(
        text.replace(
            "permissions:\n",
            f'permissions:\n  - {{tool: write_file, path: "{NOTES}", decision: deny}}\n',
            1,
        ),
        encoding="utf-8",
    )
    code, out, _ = cli(capsys, root, "show", id)
    assert "approve    refused: agents.md now denies it (rule 1: write_file on" in out
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "agents.md now denies it" in err
    assert not (root / NOTES).exists()
    assert decided(root, id)["outcome"] == "refused"


def test_a_tool_the_automation_no_longer_allows_is_refused(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    id = run_headless(root, [WRITE, "queued it"])["id"]
    auto = root / "automations" / f"{AUTO}.md"
    auto.write_text(
        auto.read_text(encoding="utf-8").replace(", write_file, append_file", ""),
        encoding="utf-8",
    )
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "now allows only read_file (headless.allow)" in err
    assert not (root / NOTES).exists()


def test_deny_writes_nothing(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    id = run_headless(root, [WRITE, "queued it"])["id"]
    code, out, _ = cli(capsys, root, "deny", id)
    assert code == 0 and f"denied {id} (write_file {NOTES}): nothing was done" in out
    assert not (root / NOTES).exists()
    assert decided(root, id)["decision"] == "denied" and "outcome" not in decided(root, id)
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 2 and "already decided (denied" in err
    assert not (root / NOTES).exists()


def test_an_expired_approval_is_refused_and_listed_as_expired(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_headless(root, [WRITE, "queued it"])["id"]
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat(timespec="seconds")
    edit_pending(root, first, queued_at=old)
    code, out, _ = cli(capsys, root, "show", first)
    assert code == 0 and "EXPIRED: approving it is refused" in out
    code, _, err = cli(capsys, root, "approve", first)
    assert code == 1 and "expired" in err and "nothing was done" in err
    assert not (root / NOTES).exists()
    assert decided(root, first)["decision"] == "expired"

    second = run_headless(root, [WRITE, "queued it"])["id"]
    edit_pending(root, second, queued_at=old)
    code, out, _ = cli(capsys, root, "list")
    assert code == 0 and f"expired: {second} (write_file {NOTES}" in out
    assert "older than 7 days, moved to .cairn/approvals/decided/" in out
    assert "no pending approvals" in out
    assert decided(root, second)["decision"] == "expired"
    code, _, err = cli(capsys, root, "approve", second)
    assert code == 2 and "already decided (expired" in err
    assert not (root / NOTES).exists()


# --- what cannot be performed later --------------------------------------------------------


def queue_directly(root: Path, request: ApprovalRequest) -> str:
    ApprovalQueue(root).queue(request, "t-1", AUTO)
    return request.id


def test_a_plan_approval_cannot_be_performed_later(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    id = queue_directly(root, ApprovalRequest("plan", {}, reason="plan_approval: always"))
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "plan cannot be performed outside its task" in err
    assert decided(root, id)["outcome"] == "refused"


def test_arguments_that_held_a_secret_are_not_performed_with_placeholders(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = "key sk-proj-abcdefghij0123456789\n"
    request = ApprovalRequest(
        "write_file",
        {"path": NOTES, "content": content},
        path=NOTES,
        replay=Replay(None, "team"),
    )
    id = queue_directly(root, request)
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "held a secret" in err
    assert not (root / NOTES).exists()


def test_the_tasks_sensitivity_marks_the_file_it_writes_later(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = ApprovalRequest(
        "write_file",
        {"path": NOTES, "content": "# Notes\n\nfrom a private note\n"},
        path=NOTES,
        replay=Replay(None, "team", ("spaces/chief-of-staff/x.md is marked sensitive",)),
    )
    id = queue_directly(root, request)
    code, out, err = cli(capsys, root, "approve", id)
    assert code == 0, err
    assert "marked sensitive" in out
    assert "sensitive: true" in (root / NOTES).read_text(encoding="utf-8")


# --- hostile input --------------------------------------------------------------------------


def test_unknown_and_unsafe_ids_are_user_errors(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, root, "approve", "nope")
    assert code == 2 and "no pending approval with id 'nope'" in err
    for action in ("show", "approve", "deny"):
        code, _, err = cli(capsys, root, action, "../../agents")
        assert code == 2 and "approval id" in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["../outside.md", "/tmp/cairn-approval-escape.md"])
def test_a_tampered_path_outside_the_workspace_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    id = run_headless(root, [WRITE, "queued it"])["id"]
    edit_pending(root, id, path=where, arguments={"path": where, "content": "pwned\n"})
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "outside the workspace" in err
    assert not (root.parent / "outside.md").exists()
    assert not Path("/tmp/cairn-approval-escape.md").exists()
    assert decided(root, id)["outcome"] == "refused"


def test_a_tampered_hidden_path_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    id = run_headless(root, [WRITE, "queued it"])["id"]
    target = ".cairn/approvals/pending/forged.json"
    edit_pending(root, id, path=target, arguments={"path": target, "content": "{}"})
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "hidden" in err
    assert not (root / target).exists()


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_link_leading_outside_writes_nothing(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    victim = outside / "victim.md"
    victim.write_text("precious\n", encoding="utf-8")
    (root / "spaces/team/link.md").symlink_to(victim)
    id = run_headless(root, [WRITE, "queued it"])["id"]
    forged = {"path": "spaces/team/link.md", "content": "pwned\n"}
    replayed = {"base_hash": content_hash(b"precious\n"), "space": "team", "sensitive": []}
    edit_pending(root, id, path=forged["path"], arguments=forged, replay=replayed)
    code, out, _ = cli(capsys, root, "show", id)
    assert "approve    refused" in out and "leads outside the workspace" in out
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "leads outside the workspace" in err
    assert victim.read_text(encoding="utf-8") == "precious\n"

    # Were the link made after the re-check, the writer the tool writes through resolves
    # it at the moment of writing, and refuses.
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    with pytest.raises(PathOutsideWorkspaceError):
        model.write("spaces/team/link.md", "pwned\n", base_hash=content_hash(b"precious\n"))
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert (root / "spaces/team/link.md").is_symlink()
    assert decided(root, id)["outcome"] == "refused"


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_link_made_after_the_recheck_writes_nothing_outside(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = root.parent / "victim.md"
    victim.write_text("precious\n", encoding="utf-8")
    id = run_headless(root, [WRITE, "queued it"])["id"]
    checked = replay.prepare

    def then_swap(model: WorkspaceModel, call: replay.QueuedCall, extra: object = ()) -> object:
        ready = checked(model, call, extra)  # type: ignore[arg-type]
        (root / NOTES).symlink_to(victim)  # the target appears, as a link, just after
        return ready

    monkeypatch.setattr(replay, "prepare", then_swap)
    code, _, err = cli(capsys, root, "approve", id)
    assert code == 1 and "outside the workspace" in err
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert decided(root, id)["outcome"] == "refused"


def test_show_does_not_pass_escape_sequences_to_the_terminal(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = ApprovalRequest(
        "write_file",
        {"path": NOTES, "content": "hello\x1b[2J\x1b]0;owned\x07\n"},
        path=NOTES,
        reason="rule 12\x1b[31m",
        replay=Replay(None, "team"),
    )
    id = queue_directly(root, request)
    for action in (("list",), ("show", id)):
        code, out, _ = cli(capsys, root, *action)
        assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "+hello\\x1b[2J\\x1b]0;owned\\x07" in out
