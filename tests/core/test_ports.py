"""The ports' fakes keep their ports' contracts: the real loader, tools and budgets run on them."""

from __future__ import annotations

from datetime import datetime

import pytest

from cairn.core.errors import PathOutsideWorkspaceError, WriteConflictError
from cairn.core.ports import ChatEngine, FileStore, Journal, Notifier, SpendLedger, SpendRecord
from cairn.core.routing.budget import BudgetGuard, Spend
from cairn.core.tasks.tools import ToolEnv, file_tools
from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.loader import WorkspaceModel
from cairn.core.workspace.schema import Budgets
from cairn.testing.fakes import (
    ListJournal,
    ListLedger,
    ListNotifier,
    ManualClock,
    MemoryFileStore,
)
from cairn.testing.scripted_engine import ScriptedEngine

AGENTS = """---
models: {small: {engine: local, path: small.gguf}}
roles: {worker: [small]}
routing: {work: worker}
permissions:
  - {tool: "*", action: write, path: agents.md, decision: deny}
---
You are Cairn.
"""
TEAM = "---\ndescription: The team.\nscope: team\n---\n# Team\n"


def test_the_fakes_satisfy_their_ports() -> None:
    store: FileStore = MemoryFileStore()
    ledger: SpendLedger = ListLedger()
    assert isinstance(ScriptedEngine("x", ["hi"]), ChatEngine)
    assert isinstance(ListJournal(), Journal) and isinstance(ListNotifier(), Notifier)
    assert store.scan("") == ([], []) and list(ledger.records()) == []


def test_the_real_loader_and_tools_run_on_the_memory_store() -> None:
    store = MemoryFileStore(
        {"agents.md": AGENTS, "spaces/team/readme.md": TEAM, ".env": "SECRET=1"},
        links={"spaces/team/drafts/env.md": ".env", "spaces/team/drafts/a.md": "agents.md"},
    )
    model = WorkspaceModel(store)
    workspace = model.load()
    assert workspace.agents is not None and set(workspace.spaces) == {"team"}
    assert store.scan("") == (["agents.md"], ["spaces"])  # hidden files stay hidden
    tools = {t.name: t for t in file_tools()}
    env = ToolEnv(model, "team")
    refused = tools["read_file"].run({"path": "spaces/team/drafts/env.md"}, env)
    assert not refused.ok and "hidden" in refused.output
    wrote = tools["write_file"].run({"path": "spaces/team/drafts/n.md", "content": "Hi"}, env)
    assert wrote.ok and store.files["spaces/team/drafts/n.md"] == b"Hi"
    assert store.real_path("spaces/team/drafts/a.md") == "agents.md"
    with pytest.raises(PathOutsideWorkspaceError):
        store.read("../outside.md", 10)
    with pytest.raises(WriteConflictError):
        store.write("agents.md", b"x", base_hash=content_hash(b"stale"))


def test_budgets_run_on_the_ledger_and_clock_fakes() -> None:
    ledger, clock = ListLedger(), ManualClock()
    guard = BudgetGuard(
        Budgets.model_validate({"task": {"tokens": 100, "minutes": 1}}),
        ledger,
        task="t",
        clock=clock,
    )
    assert guard.check(Spend(50)).state == "ok"
    ledger.append(SpendRecord(datetime.now().astimezone(), "m", True, 60, 0, None, task="t"))
    assert guard.check(Spend(50)).state == "pause"
    fresh = BudgetGuard(
        Budgets.model_validate({"task": {"minutes": 1}}), ListLedger(), task="u", clock=clock
    )
    clock.advance(61)
    assert fresh.check(Spend(1)).state == "pause"


def test_journal_and_notifier_keep_what_they_are_given() -> None:
    journal, notifier = ListJournal(), ListNotifier()
    journal.record("event")
    journal.close()
    notifier.notify("Morning brief", "ready", urgency="attention")
    assert journal.events == ["event"] and journal.closed
    assert (
        notifier.notices[0].title == "Morning brief" and notifier.notices[0].urgency == "attention"
    )
