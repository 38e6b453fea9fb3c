"""Start the desktop app: `cairn app [DIR]`, or the `cairn-app` GUI entry point.

The window is shown before anything heavy is imported: the workspace loads on a worker,
and the engines are imported only when a task runs. `--screenshot FILE` renders the main
window once the workspace is loaded (on `--view NAME`), saves it as PNG and exits: for
tests and for the docs. A second launch on a workspace that is already open brings that
window forward instead of opening another.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

SCREENSHOT_DELAY_MS = 400  # after loading: let layouts settle and the first paint happen
SCREENSHOT_SIZE = (1280, 800)
SCREENSHOT_IDLE_MS = 20_000
TIMING_ENV = "CAIRN_APP_TIMING"
"""Set: print seconds since the process started when the window is first shown and when
the workspace is listed (`bench/app_startup.py`); `exit`: quit after the listing."""


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="cairn-app", description="Cairn's desktop app")
    found.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the workspace")
    found.add_argument("--screenshot", metavar="FILE", help="save the loaded window and exit")
    found.add_argument("--view", metavar="NAME", help="the view to show first (e.g. Tasks)")
    found.add_argument(
        "--no-automations",
        action="store_true",
        help="do not run the workspace's automations in this window",
    )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run(
        Path(args.dir).expanduser(),
        screenshot=Path(args.screenshot) if args.screenshot else None,
        view=args.view,
        run_automations=not args.no_automations and not args.screenshot,
    )


def run(
    root: Path,
    *,
    screenshot: Path | None = None,
    view: str | None = None,
    run_automations: bool = True,
) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from cairn.app.context import AppContext
    from cairn.app.icon import cairn_icon
    from cairn.app.instance import SingleInstance, focus_running
    from cairn.app.window import MainWindow
    from cairn.infra.redaction import install_log_redaction

    install_log_redaction()  # the embedded scheduler and the engines log: never a secret
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    from cairn.app.gc_guard import UiThreadCollector

    collector = UiThreadCollector(app)  # cycles are freed on the UI thread only
    app.setApplicationName("Cairn")
    app.setOrganizationName("Cairn")
    app.setWindowIcon(cairn_icon())
    from cairn.app.theme import apply_scheme, saved_scheme

    if saved_scheme() != "system":
        apply_scheme(app, saved_scheme())
    root = root.resolve()
    if screenshot is None and focus_running(root):
        print(f"cairn-app: {root} is already open; brought it forward", file=sys.stderr)
        return 0
    from cairn.infra.starter import looks_like_workspace

    if not looks_like_workspace(root):
        if screenshot is not None:
            print(f"cairn-app: {root} is not a workspace", file=sys.stderr)
            return 2
        chosen = first_run(app, root)
        if chosen is None:
            return 0  # closed without choosing: nothing to open
        root = chosen
        if focus_running(root):
            return 0
    # Listen before the (slower) window is built, so a launch meanwhile finds this one.
    focus: list[Callable[[], None]] = []
    instance = (
        SingleInstance(root, lambda: focus[0]() if focus else None) if screenshot is None else None
    )
    context = AppContext(root, run_automations=run_automations)
    window = MainWindow(context)
    focus.append(window.bring_to_front)
    # The window may hide to the tray and keep automations running: the app ends when the
    # window shuts down for real.
    app.setQuitOnLastWindowClosed(False)
    window.shut_down.connect(app.quit)
    _quit_on_terminal_signals(app, window.quit)
    if view:
        if view not in window.views:
            print(f"cairn-app: no view {view!r} (there are: {', '.join(window.views)})")
            return 2
        window.show_view(view)
    if screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)  # the same picture whatever the saved geometry
    window.show()
    code = 0
    if screenshot is not None:

        def save() -> None:
            nonlocal code
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(screenshot), "PNG"):
                print(f"cairn-app: could not save {screenshot}", file=sys.stderr)
                code = 1
            window.quit()

        def failed(why: str) -> None:
            nonlocal code
            print(f"cairn-app: {why}", file=sys.stderr)
            code = 1
            save()

        from cairn.app.bridge import EventWorker

        waited = {"ms": 0}

        def when_idle() -> None:
            # The shown view may still be counting or listing on a worker: wait for it
            # (up to SCREENSHOT_IDLE_MS), so the picture shows what a person would see.
            if EventWorker.running_now and waited["ms"] < SCREENSHOT_IDLE_MS:
                waited["ms"] += 100
                QTimer.singleShot(100, when_idle)
            else:
                QTimer.singleShot(SCREENSHOT_DELAY_MS, save)

        context.loaded.connect(when_idle)
        context.load_failed.connect(failed)
    if os.environ.get(TIMING_ENV):
        _report_timing(window, context, app, exit_when_listed=os.environ[TIMING_ENV] == "exit")
    context.start()
    app.exec()
    if instance is not None:
        instance.close()
    collector.stop()
    return code


def first_run(app: object, folder: Path) -> Path | None:
    """The first-run page on a folder that holds no workspace yet: create the starter one,
    adopt another tool's, or pick another folder; the doctor's checks with their fixes.
    Returns the workspace to open, or None when the page was closed."""
    from PySide6.QtWidgets import QApplication

    from cairn.app.icon import cairn_icon
    from cairn.app.views.first_run import FirstRunPage

    assert isinstance(app, QApplication)
    page = FirstRunPage(folder)
    page.setWindowTitle("Cairn — set up a workspace")
    page.setWindowIcon(cairn_icon())
    page.resize(900, 640)
    chosen: list[Path] = []

    def ready(path: Path) -> None:
        chosen.append(path)
        page.close()

    page.workspace_ready.connect(ready)
    app.setQuitOnLastWindowClosed(True)
    page.show()
    app.exec()
    page.shutdown()
    page.deleteLater()
    return chosen[0].resolve() if chosen else None


def _quit_on_terminal_signals(app: object, quit: Callable[[], None]) -> None:
    """Ctrl-C (or SIGTERM) in the terminal that started the app quits it as the menu's
    Quit does: runs in progress are stopped and recorded, the window state is saved. A
    second signal ends the process at once."""
    import signal

    from PySide6.QtCore import QObject, QTimer

    assert isinstance(app, QObject)

    def handle(signum: int, _frame: object) -> None:
        for again in (signal.SIGINT, signal.SIGTERM):
            signal.signal(again, signal.SIG_DFL)
        QTimer.singleShot(0, quit)

    for caught in (signal.SIGINT, signal.SIGTERM):
        signal.signal(caught, handle)
    # Python runs signal handlers between bytecodes, which never come while Qt's event
    # loop waits in C++: a short timer gives the interpreter a turn.
    tick = QTimer(app)
    tick.timeout.connect(lambda: None)
    tick.start(200)


def _report_timing(window: object, context: object, app: object, *, exit_when_listed: bool) -> None:
    import psutil
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    from cairn.app.context import AppContext

    assert isinstance(window, QMainWindow) and isinstance(context, AppContext)
    assert isinstance(app, QApplication)
    began = psutil.Process().create_time()

    def say(what: str) -> None:
        import time

        print(f"timing {what}={time.time() - began:.3f}", file=sys.stderr, flush=True)

    QTimer.singleShot(0, lambda: say("shown"))  # the first pass of the event loop: painted

    def listed() -> None:
        say("listed")
        if exit_when_listed:
            window.close()
            app.quit()

    context.loaded.connect(listed)


if __name__ == "__main__":
    sys.exit(main())
