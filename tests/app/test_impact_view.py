"""The Impact view over real workspaces, offscreen: zeros and a sentence when nothing ran
yet, the figures of real task runs, the periods, and refreshes computed on a worker when
the workspace changes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from cairn.app.context import AppContext
from cairn.app.views import impact as impact_view
from cairn.app.views.impact import NOTHING_YET, ImpactView
from cairn.core.tasks.loop import TaskOptions
from cairn.infra.impact import FORMULA, PERIODS
from tests.impact_runs import SECRET, Tally, run_sample, run_task

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def open_view(qtbot: QtBot) -> Iterator[object]:
    """`open_view(root)`: the view over a loaded workspace, shown, with its first figures."""
    opened: list[tuple[ImpactView, AppContext]] = []

    def open_(root: Path) -> ImpactView:
        context = AppContext(root, run_automations=False)
        view = ImpactView(context)
        opened.append((view, context))
        qtbot.addWidget(view)
        view.show()  # before the workspace loads: the view waits for it
        assert view.status.text() == "Loading the workspace…"
        with qtbot.waitSignal(context.loaded, timeout=15_000):
            context.start()
        qtbot.waitUntil(lambda: view.status.text().startswith("Updated"), timeout=60_000)
        return view

    yield open_
    for view, context in opened:
        view.shutdown()
        context.close()


def value(view: ImpactView, card: str) -> str:
    return view.cards[card].value.text()


def detail(view: ImpactView, card: str) -> str:
    return view.cards[card].detail.text()


def test_an_empty_workspace_shows_zeros_and_says_nothing_ran_yet(
    open_view: object, app_workspace: Path
) -> None:
    view = open_view(app_workspace)  # type: ignore[operator]
    assert view.nothing_yet.isVisible() and view.nothing_yet.text() == NOTHING_YET
    assert value(view, "Tasks") == value(view, "Automation runs") == "0"
    assert value(view, "Tokens") == "0 in · 0 out"
    assert value(view, "Cost") == "$0.00" and value(view, "Saved by local routing") == "$0.00"
    assert value(view, "Kept local") == "—"
    assert value(view, "Saved by the prompt cache") == "0 tokens"
    assert value(view, "Time saved (estimate)") == "0 min"
    assert FORMULA in view.formula.text()


def test_the_view_shows_the_figures_of_real_runs(open_view: object, app_workspace: Path) -> None:
    tally = run_sample(app_workspace)
    view = open_view(app_workspace)  # type: ignore[operator]
    assert not view.nothing_yet.isVisible()
    for period in PERIODS:  # everything ran just now: the same in every period
        view.period.setCurrentIndex(PERIODS.index(period))
        assert value(view, "Tasks") == "5"
        assert detail(view, "Tasks").endswith(
            "2 done · 1 waiting for your approval · 1 failed · 1 cancelled."
        )
        assert value(view, "Automation runs") == "2"
        assert detail(view, "Automation runs").endswith(": 1 done · 1 failed.")
        assert value(view, "Tokens") == f"{tally.input_tokens:,} in · {tally.output_tokens:,} out"
        assert value(view, "Cost") == f"${tally.cost_usd:.4f}"
        assert value(view, "Kept local") == "50%"
        assert detail(view, "Kept local") == "3 of 6 model calls ran on this machine."
        assert "openai/gpt-4o-mini (cloud-fast)" in detail(view, "Saved by local routing")
        assert value(view, "Saved by local routing").startswith("$0.0")
        assert value(view, "Time saved (estimate)") == "11 min"
    shown = "\n".join(label.text() for label in view.findChildren(QLabel))
    assert SECRET not in shown
    assert view.period.accessibleName() and view.refresh_button.accessibleName()
    assert all(label.accessibleName() for label in view.findChildren(QLabel))


def test_a_workspace_change_refreshes_on_a_worker(
    open_view: object, app_workspace: Path, monkeypatch: pytest.MonkeyPatch, qtbot: QtBot
) -> None:
    threads: list[threading.Thread] = []
    real = impact_view.compute_impact

    def counted(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(impact_view, "compute_impact", counted)
    view = open_view(app_workspace)  # type: ignore[operator]
    assert value(view, "Tasks") == "0"
    team = TaskOptions(space="team", plan="never")
    run_task(app_workspace, Tally(), "Summarise the week", team, {"cloud-fast": ["Done."]})
    # A task changes no workspace file the model follows; an edit of the space's readme
    # does, and the watcher reports it.
    readme = app_workspace / "spaces/team/readme.md"
    readme.write_text(readme.read_text() + "\nShipped on Friday.\n")
    qtbot.waitUntil(lambda: value(view, "Tasks") == "1", timeout=30_000)
    assert detail(view, "Tasks").endswith("1 done.")
    assert len(threads) >= 2
    assert all(t is not threading.main_thread() for t in threads)
    # Another change may still be counting (the button is disabled meanwhile): wait, then
    # the click must start a count of its own.
    qtbot.waitUntil(view.refresh_button.isEnabled, timeout=30_000)
    before = len(threads)
    view.refresh_button.click()
    qtbot.waitUntil(
        lambda: len(threads) > before and view.refresh_button.isEnabled(), timeout=30_000
    )


def test_a_task_run_elsewhere_shows_without_a_workspace_change(
    open_view: object, app_workspace: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task (here, as `cairn run` or `cairn serve` would, outside the window) writes only
    `.cairn/`, which the watcher leaves out: the shown view notices by looking."""
    monkeypatch.setattr(impact_view, "POLL_MS", 200)
    view = open_view(app_workspace)  # type: ignore[operator]
    assert value(view, "Tasks") == "0"
    team = TaskOptions(space="team", plan="never")
    run_task(app_workspace, Tally(), "Summarise the week", team, {"cloud-fast": ["Done."]})
    qtbot.waitUntil(lambda: value(view, "Tasks") == "1", timeout=30_000)
    view.hide()
    assert not view.poll.isActive()  # a hidden view looks at nothing
