"""`cairn serve [DIR]`: run a workspace's automations in the foreground until stopped.

A thin shell over `cairn.scheduler.AutomationScheduler`: logging to stderr, notices to the
log (and to the desktop where it offers notifications), and signals. SIGINT or SIGTERM
stop it cleanly: no new run starts, runs in progress are interrupted (recorded as
`interrupted`, never replayed) and the process exits 0. A second signal while stopping
ends the process at once; the runs it leaves are marked interrupted at the next start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from cairn.core.errors import WorkspaceNotFoundError

STOP_TIMEOUT_S = 30.0  # how long runs get to wind down after a stop signal


def run_serve(args: argparse.Namespace) -> int:
    from cairn.infra.redaction import install_log_redaction
    from cairn.infra.starter import looks_like_workspace
    from cairn.scheduler import AutomationScheduler, DesktopNotifier, LogNotifier, Notifiers

    root = Path(args.dir).expanduser().resolve()
    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(f"{root} is not a Cairn workspace; see `cairn init`")
    # A private copy of stderr: llama.cpp silences model loads by pointing the process's
    # stderr at /dev/null for a moment, which would swallow other runs' log lines.
    stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, errors="replace")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    serve_log = logging.getLogger("cairn.serve")
    serve_log.addHandler(handler)
    serve_log.setLevel(logging.INFO)
    serve_log.propagate = False
    install_log_redaction()

    desktop = DesktopNotifier()
    notifier = Notifiers([LogNotifier(), desktop] if desktop.available else [LogNotifier()])
    scheduler = AutomationScheduler(
        root, notifier=notifier, on_event=_step_logger() if args.verbose else None
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        serve_log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()
        # A second signal while the runs wind down ends the process at once.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    scheduler.start()
    states = scheduler.states()
    scheduled = [s for s in states if s.scheduled]
    serve_log.info(
        "serving %d of %d automation(s) in %s (Ctrl-C to stop)", len(scheduled), len(states), root
    )
    while not stop.wait(1.0):
        pass
    serve_log.info("stopping: no new runs; runs in progress are interrupted")
    scheduler.stop(interrupt=True, timeout=STOP_TIMEOUT_S)
    serve_log.info("stopped")
    return 0


def _step_logger() -> Callable[[str, object], None]:
    from cairn.scheduler.progress import progress_line

    log = logging.getLogger("cairn.serve")

    def on_event(name: str, event: object) -> None:
        line = progress_line(event)
        if line is not None:
            log.info("%s: %s", name, line)

    return on_event
