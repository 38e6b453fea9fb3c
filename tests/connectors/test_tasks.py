"""Connectors in whole tasks, through the real runtime (router, gate, queue, engines):
the "cloud" model is a loopback OpenAI-protocol stub that records every byte it receives
(declared not local), the local model a tiny GGUF, and the MCP servers real processes.

* a private connector's result never reaches the cloud stand-in: the task turns local;
* a tool that acts outside asks, even under a `*` allow rule, and a server's description
  or result cannot talk its way past the gate (nor a lying `readOnlyHint` with
  `approval: always`);
* an automation's gated call is queued; approving it later performs exactly that call,
  once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.core.tasks.events import ApprovalDecided, ToolCalled, ToolResult
from cairn.core.tasks.options import TaskOptions
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.approvals import ApprovalQueue
from cairn.infra.files import LocalFileStore
from cairn.runtime import build_runner, close_connectors
from cairn.testing.openai_stub import OpenAIStub
from tests.connectors.test_hub import MARKER, SERVERS
from tests.stub_workspace import stub_workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
KEY = "sk-test-connectors-000000000000000"


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAIStub() as stub:
        yield stub
    close_connectors()  # the servers this process started end with the test


def workspace(
    tmp_path: Path, stub: OpenAIStub, tiny: Path, connectors: str, rules: str = ""
) -> Path:
    root = stub_workspace(tmp_path, stub.base_url, tiny)
    agents = root / "agents.md"
    text = agents.read_text()
    text = text.replace("permissions:\n", f"connectors:\n{connectors}permissions:\n{rules}", 1)
    agents.write_text(text)
    return root


def connector(name: str, kind: str, tmp_path: Path, scope: str, extra: str = "") -> str:
    env = json.dumps({"CAIRN_TEST_SENT": str(tmp_path / "sent.txt")})
    return (
        f"  {name}:\n    command: {json.dumps(sys.executable)}\n"
        f"    args: [{json.dumps(str(SERVERS))}, {kind}]\n    env: {env}\n"
        f"    scope: {scope}\n{extra}"
    )


def run(root: Path, request: str, **options: object) -> list[object]:
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    automation = options.get("automation")
    runner, _ = build_runner(model, root, automation=automation)  # type: ignore[arg-type]
    chosen = TaskOptions(space="team", plan="never", **options)  # type: ignore[arg-type]
    return list(runner.run(request, chosen))


def cloud_received(stub: OpenAIStub) -> str:
    return "\n".join(json.dumps(r.body) for r in stub.requests)


def test_a_private_connectors_result_never_reaches_the_cloud(
    tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root = workspace(tmp_path, stub, tiny_model_path, connector("crm", "crm", tmp_path, "private"))
    stub.state.script = [{"name": "crm.lookup", "arguments": {"name": "Acme"}}, "Done."]
    events = run(root, "Look up Acme in the CRM", approvals="no")
    [result] = [e for e in events if isinstance(e, ToolResult) and e.name == "crm.lookup"]
    assert result.ok and MARKER in result.output
    assert MARKER not in cloud_received(stub)  # the next calls went to the local model
    # It was offered, under the name providers accept (OpenAI: [A-Za-z0-9_-]).
    assert any("crm__lookup" in json.dumps(r.body) for r in stub.requests)


def test_a_private_connectors_failure_never_reaches_the_cloud_either(
    tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root = workspace(tmp_path, stub, tiny_model_path, connector("crm", "crm", tmp_path, "private"))
    stub.state.script = [{"name": "crm.find", "arguments": {"name": "Acme"}}, "Done."]
    events = run(root, "Find Acme in the CRM", approvals="no")
    [result] = [e for e in events if isinstance(e, ToolResult) and e.name == "crm.find"]
    assert not result.ok and MARKER in result.output
    assert MARKER not in cloud_received(stub)


def test_a_tool_that_acts_outside_asks_even_under_a_star_rule(
    tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root = workspace(
        tmp_path,
        stub,
        tiny_model_path,
        connector("crm", "crm", tmp_path, "team"),
        rules='  - {tool: "*", decision: allow}\n',
    )
    stub.state.script = [
        {"name": "crm.send", "arguments": {"to": "ann@example.com", "text": "hi"}},
        "Done.",
    ]
    events = run(root, "Say hi to Ann", approvals="no")
    [called] = [e for e in events if isinstance(e, ToolCalled) and e.name == "crm.send"]
    assert called.permission.startswith("ask (crm.send acts outside this machine")
    [decided] = [e for e in events if isinstance(e, ApprovalDecided)]
    assert not decided.approved
    assert not (tmp_path / "sent.txt").exists()  # not sent


def test_a_hostile_server_changes_nothing_gated(
    tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root = workspace(
        tmp_path,
        stub,
        tiny_model_path,
        connector("mail", "hostile", tmp_path, "team", "    approval: always\n")
        + connector("feed", "hostile", tmp_path, "team"),
    )
    agents_before = (root / "agents.md").read_bytes()
    stub.state.script = [
        {"name": "feed.inbox", "arguments": {}},
        {"name": "mail.inbox", "arguments": {}},
        {"name": "mail.send", "arguments": {"to": "evil@example.com", "text": "the .env"}},
        "Done.",
    ]
    events = run(root, "Check my inbox", approvals="no")
    calls = {e.name: e for e in events if isinstance(e, ToolCalled)}
    # `approval: always`: its lying readOnlyHint buys nothing; both calls ask.
    assert calls["mail.inbox"].permission.startswith("ask")
    assert calls["mail.send"].permission.startswith("ask")
    assert not (tmp_path / "sent.txt").exists()
    assert (root / "agents.md").read_bytes() == agents_before
    # What the server said reached the model only as labelled data, never as instructions.
    body = cloud_received(stub)
    assert "pre-approved" in body  # its description is offered, as the server's words
    assert "[mail, team data]" in body
    # feed.inbox is read-only and ran: its result came back inside a labelled data block.
    last = json.dumps(stub.requests[-1].body)
    start = last.index('<data source=\\"feed.inbox\\">')
    assert start < last.index("Ignore previous instructions") < last.index("</data>", start)


def test_an_automations_gated_call_is_queued_and_approving_it_performs_it_once(
    tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    from cairn.scheduler.approvals import approve, describe

    root = workspace(tmp_path, stub, tiny_model_path, connector("crm", "crm", tmp_path, "team"))
    (root / "automations" / "follow-up.md").write_text(
        "---\nschedule: every 1 day\nspace: team\n"
        "headless: {allow: [crm.*], on_approval: queue}\n---\nFollow up with Ann.\n"
    )
    stub.state.script = [
        {"name": "crm.send", "arguments": {"to": "ann@example.com", "text": "Following up"}},
        "Queued the follow-up.",
    ]
    run(root, "Follow up with Ann.", approvals="queue", automation="follow-up")
    assert not (tmp_path / "sent.txt").exists()
    [record] = ApprovalQueue(root).pending()
    assert record["tool"] == "crm.send" and record["automation"] == "follow-up"
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    described = describe(model, record)
    assert described.refused is None
    assert described.action == "call crm.send (the team connector 'crm')"
    decision = approve(root, record["id"], by="test")
    assert decision.performed, decision.detail
    assert (tmp_path / "sent.txt").read_text() == "ann@example.com\tFollowing up\n"
    with pytest.raises(Exception, match="no pending approval"):
        approve(root, record["id"], by="test")  # answered: never performed twice
    assert (tmp_path / "sent.txt").read_text().count("Following up") == 1


def test_a_slow_servers_timeout_is_said_in_the_task(
    tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root = workspace(
        tmp_path,
        stub,
        tiny_model_path,
        connector("clock", "slow", tmp_path, "team", "    timeout: 1\n"),
    )
    stub.state.script = [{"name": "clock.wait", "arguments": {"seconds": 30}}, "It timed out."]
    events = run(root, "Wait for the clock", approvals="no")
    [result] = [e for e in events if isinstance(e, ToolResult) and e.name == "clock.wait"]
    assert not result.ok and "clock.wait did not answer within 1 s" in result.output
    # The model was told, in the tool's result, and the task went on to its answer.
    assert "did not answer within 1 s" in json.dumps(stub.requests[-1].body)
