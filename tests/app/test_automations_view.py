"""The Automations view over real workspaces, offscreen: the starter automations with their
next runs, pause and resume editing only `enabled:`, Run now through the embedded
scheduler and without it (a loopback OpenAI-compatible model, a real run database), and
the approvals a real headless run queued, approved (performed once) or denied (nothing
written) from their cards."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from cairn.app.context import AppContext
from cairn.app.views.approval_card import ApprovalCard
from cairn.app.views.automations import COLUMNS, HISTORY_COLUMNS, AutomationsView
from cairn.infra.approvals import ApprovalQueue
from cairn.infra.runs import RunStore
from cairn.testing.openai_stub import OpenAIStub
from tests.scheduler.test_serve_processes import workspace

STARTER = {"inbox-scan", "morning-brief", "weekly-review"}
NOTES = "spaces/team/notes.md"
RUN_S = 120_000  # a real run on the stub, with a tiny local model for local steps

Make = Callable[..., tuple[AppContext, AutomationsView]]


@pytest.fixture
def make(qtbot: QtBot) -> Iterator[Make]:
    built: list[tuple[AppContext, AutomationsView]] = []

    def build(root: Path, *, run_automations: bool) -> tuple[AppContext, AutomationsView]:
        context = AppContext(root, run_automations=run_automations)
        view = AutomationsView(context)
        qtbot.addWidget(view)
        assert view.banner.text().startswith("Loading")  # built before the workspace is read
        with qtbot.waitSignal(context.loaded, timeout=15_000):
            context.start()
        if run_automations:  # the scheduler starts on a worker once the workspace is loaded
            qtbot.waitUntil(lambda: context.scheduler is not None, timeout=15_000)
        qtbot.waitUntil(view.idle, timeout=15_000)  # the first read, made on a worker
        built.append((context, view))
        return context, view

    yield build
    for context, view in built:
        view.shutdown()
        context.close()


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-app-0000000000000000")
    with OpenAIStub() as stub:
        yield stub


def cell(view: AutomationsView, name: str, column: str) -> str:
    item = view.table.item(list(view.rows).index(name), COLUMNS.index(column))
    assert item is not None
    return item.text()


def history(view: AutomationsView) -> list[dict[str, str]]:
    rows = []
    for r in range(view.history.rowCount()):
        items = [view.history.item(r, c) for c in range(len(HISTORY_COLUMNS))]
        rows.append({h: i.text() for h, i in zip(HISTORY_COLUMNS, items, strict=True) if i})
    return rows


def test_the_starter_automations_are_listed_with_their_next_run(
    qtbot: QtBot, make: Make, app_workspace: Path
) -> None:
    context, view = make(app_workspace, run_automations=True)
    assert context.scheduler is not None and set(view.rows) == STARTER
    qtbot.waitUntil(lambda: "run on their schedules" in view.banner.text(), timeout=10_000)
    for name in STARTER:
        qtbot.waitUntil(lambda name=name: cell(view, name, "Next run") != "—", timeout=10_000)
        assert cell(view, name, "State") == "enabled"
        assert cell(view, name, "Last run") == "never"
        assert cell(view, name, "Schedule").endswith(" · local")
    assert cell(view, "morning-brief", "Catch-up").startswith("latest within")
    assert not view.run_button.isEnabled()  # nothing selected yet
    assert view.approvals_title.text() == "No approvals waiting."
    assert all(b.accessibleName() for b in (view.run_button, view.pause_button))


def test_pause_then_resume_edits_only_enabled_and_the_table_follows(
    qtbot: QtBot, make: Make, app_workspace: Path
) -> None:
    path = app_workspace / "automations" / "morning-brief.md"
    original = path.read_bytes()
    _, view = make(app_workspace, run_automations=True)
    view.select("morning-brief")
    assert view.pause_button.isEnabled() and not view.resume_button.isEnabled()

    view.pause_button.click()
    assert path.read_bytes() == original.replace(b"enabled: true", b"enabled: false", 1)
    qtbot.waitUntil(lambda: cell(view, "morning-brief", "State") == "paused", timeout=10_000)
    assert cell(view, "morning-brief", "Next run") == "—"
    assert view.resume_button.isEnabled() and not view.pause_button.isEnabled()
    assert "paused" in view.message.text()

    view.resume_button.click()
    assert path.read_bytes() == original
    qtbot.waitUntil(lambda: cell(view, "morning-brief", "State") == "enabled", timeout=10_000)
    qtbot.waitUntil(lambda: cell(view, "morning-brief", "Next run") != "—", timeout=10_000)
    assert view.selected() == "morning-brief"  # the selection survives the refreshes


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_run_now_through_the_scheduler_leaves_a_done_run_in_the_history(
    qtbot: QtBot, make: Make, tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root = workspace(tmp_path, stub.base_url, tiny_model_path)
    (root / "automations" / "hello.md").write_text(
        "---\nschedule: every 1 day\nspace: team\nheadless: {on_approval: skip}\n---\n"
        "Say hello to the team in one line.\n"
    )
    context, view = make(root, run_automations=True)
    assert context.scheduler is not None
    view.select("hello")
    view.run_button.click()
    assert not view.run_button.isEnabled()  # one run-now at a time from here
    qtbot.waitUntil(lambda: "done" in [r["Status"] for r in history(view)], timeout=RUN_S)
    [run] = history(view)
    assert (run["Trigger"], run["Status"]) == ("run-now", "done")
    assert run["Trace"].startswith(".cairn/traces/") and (root / run["Trace"]).is_file()
    assert int(run["Tokens"].replace(",", "")) > 0
    assert view.message.text().startswith("✔ hello: done")
    assert cell(view, "hello", "Last run").startswith("done · ")
    with RunStore(root) as store:
        [stored] = store.history("hello")
    assert (stored.status, stored.trigger) == ("done", "run-now")


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("run_automations", [True, False], ids=["scheduler", "worker"])
def test_a_run_shows_its_progress_and_stop_interrupts_it(
    qtbot: QtBot,
    make: Make,
    tmp_path: Path,
    stub: OpenAIStub,
    tiny_model_path: Path,
    run_automations: bool,
) -> None:
    # The model streams one word every 0.1 s for a long answer: the run is still going
    # when Stop is pressed.
    stub.state.reply = " ".join(["word"] * 400)
    stub.state.slow_s = 0.1
    slow = stub.url("slow")
    root = workspace(tmp_path, slow, tiny_model_path)
    (root / "automations" / "hello.md").write_text(
        "---\nschedule: every 1 day\nspace: team\nheadless: {on_approval: skip}\n---\n"
        "Say hello to the team.\n"
    )
    _, view = make(root, run_automations=run_automations)
    view.select("hello")
    assert not view.stop_button.isEnabled()  # nothing runs yet
    view.run_button.click()
    qtbot.waitUntil(lambda: "→ cloud" in view.progress.get("hello", ""), timeout=60_000)
    assert cell(view, "hello", "State").startswith("running · ")
    assert view.message.text().startswith("▶ hello: ")
    qtbot.waitUntil(view.stop_button.isEnabled, timeout=10_000)
    view.stop_button.click()
    qtbot.waitUntil(lambda: "interrupted" in [r["Status"] for r in history(view)], timeout=20_000)
    with RunStore(root) as store:
        [stored] = store.history("hello")
    assert (stored.status, stored.trigger) == ("interrupted", "run-now")
    assert view.run_button.isEnabled() and not view.stop_button.isEnabled()
    assert "hello" not in view.progress


def queue_one(
    qtbot: QtBot, make: Make, tmp_path: Path, stub: OpenAIStub, tiny_model: Path
) -> tuple[Path, AutomationsView, ApprovalCard]:
    """A real headless run (Run now, the scheduler off) whose write is queued."""
    root = workspace(tmp_path, stub.base_url, tiny_model)
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
    context, view = make(root, run_automations=False)
    assert context.scheduler is None and "Run now still works" in view.banner.text()
    view.select("notes")
    view.run_button.click()
    qtbot.waitUntil(lambda: len(view.cards) == 1, timeout=RUN_S)
    assert [r["Status"] for r in history(view)] == ["needs-approval"]
    assert not (root / NOTES).exists()
    [(pending, card)] = view.cards.values()
    assert pending.tool == "write_file" and pending.path == NOTES
    assert card.target.text() == f"write_file · {NOTES}"
    assert card.title.text() == f"automation notes asks to create {NOTES}"
    assert json.loads(card.arguments.toPlainText()) == {"path": NOTES, "content": "Agreed: ship.\n"}
    assert "+Agreed: ship." in card.preview.toPlainText()  # the diff against the file now
    assert "ask" in card.reason.text() and "expires" in card.details.text()
    assert not card.warning.isVisible()
    return root, view, card


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_approving_a_queued_write_performs_it_once_and_the_card_goes(
    qtbot: QtBot, make: Make, tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root, view, card = queue_one(qtbot, make, tmp_path, stub, tiny_model_path)
    card.approve_button.click()
    qtbot.waitUntil(lambda: not view.cards, timeout=15_000)
    assert (root / NOTES).read_text().count("Agreed: ship.") == 1
    assert view.approvals_message.text().startswith(f"✔ Approved write_file {NOTES}: created")
    assert ApprovalQueue(root).pending() == []
    [decided] = (root / ".cairn/approvals/decided").glob("*.json")
    record = json.loads(decided.read_text())
    assert (record["decision"], record["outcome"], record["decided_by"]) == (
        "approved",
        "performed",
        "app",
    )
    view.approve(record["id"])  # answered already: nothing more happens
    qtbot.waitUntil(lambda: "no pending approval" in view.approvals_message.text())
    assert (root / NOTES).read_text().count("Agreed: ship.") == 1


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_denying_a_queued_write_writes_nothing(
    qtbot: QtBot, make: Make, tmp_path: Path, stub: OpenAIStub, tiny_model_path: Path
) -> None:
    root, view, card = queue_one(qtbot, make, tmp_path, stub, tiny_model_path)
    card.deny_button.click()
    assert not view.cards and view.approvals_title.text() == "No approvals waiting."
    assert view.approvals_message.text() == f"✘ Denied write_file {NOTES}: nothing was done."
    assert not (root / NOTES).exists()
    [decided] = (root / ".cairn/approvals/decided").glob("*.json")
    assert json.loads(decided.read_text())["decision"] == "denied"


def test_a_card_shows_markup_as_text_and_signals_the_answer(qtbot: QtBot) -> None:
    card = ApprovalCard(
        "task t1 asks to create <b>x.md</b>",
        tool="write_file",
        path="<img src=x>.md",
        arguments={"path": "<img src=x>.md", "content": "hi\n"},
        preview="+hi",
        reason="rule 3: <i>ask</i>",
        warning="Approving would be refused now: it changed",
    )
    qtbot.addWidget(card)
    card.show()
    assert card.title.textFormat() == Qt.TextFormat.PlainText
    assert card.target.text() == "write_file · <img src=x>.md"
    assert card.warning.isVisible() and not card.details.isVisible()
    with qtbot.waitSignal(card.approved, timeout=1_000):
        card.approve_button.click()
    with qtbot.waitSignal(card.denied, timeout=1_000):
        card.deny_button.click()
    card.set_busy(True)
    assert not card.approve_button.isEnabled() and not card.deny_button.isEnabled()
    assert card.approve_button.accessibleName().startswith("Approve: ")


def test_the_table_is_read_off_the_ui_thread(
    qtbot: QtBot, make: Make, app_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run database may be held by a `cairn serve` next to the app: reading it (and
    the approvals queue) never waits on the UI thread."""
    import threading

    from cairn.scheduler import control

    threads: list[threading.Thread] = []
    real = control.overview

    def counted(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(control, "overview", counted)
    _, view = make(app_workspace, run_automations=False)
    view.select("morning-brief")
    view.history_button.click()
    qtbot.waitUntil(lambda: view.history_title.text() == "morning-brief has no runs yet.")
    assert len(threads) >= 2 and threading.main_thread() not in threads
