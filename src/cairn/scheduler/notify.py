"""Telling the person what background runs did, through the `Notifier` port.

`notice_for(run)` words a finished run (done, failed, needs approval, paused by budget,
interrupted); skipped slots are not notified, they are in the history. `LogNotifier`
writes notices to the log (what `cairn serve` shows), `DesktopNotifier` also asks the
desktop to show them where it offers a way (`notify-send` on Linux desktops, `osascript`
on macOS), and `Notifiers` sends one notice to several. The desktop app passes its tray.
A notifier that fails is logged and never stops the scheduler.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from cairn.core.ports import Notifier, Urgency
from cairn.infra.redaction import REDACTOR
from cairn.infra.runs import Run

log = logging.getLogger("cairn.serve")

_LEVELS = {"info": logging.INFO, "attention": logging.WARNING, "failure": logging.ERROR}


def notice_for(run: Run) -> tuple[str, str, Urgency] | None:
    """(title, body, urgency) for a finished run; None for a skipped slot."""
    spent = f"{run.tokens:,} tokens, ${run.cost_usd:.4f}"
    why = REDACTOR.redact(run.reason or "")
    name = run.automation
    if run.status == "done":
        wrote = f"; wrote {run.output_path}" if run.output_path else ""
        return f"{name}: done", f"{run.trigger} run finished ({spent}){wrote}", "info"
    if run.status == "needs-approval":
        body = f"{why}. Approve or deny with `cairn approvals` or in the app."
        return f"{name}: needs approval", body, "attention"
    if run.status == "paused":
        body = (
            f"paused by its budget after {spent}: {why}. Did you mean to spend this? Raise"
            " the automation's `budget:` (or agents.md's) to let it go further."
        )
        return f"{name}: paused by budget", body, "attention"
    if run.status == "failed":
        return f"{name}: failed", why or "the run failed", "failure"
    if run.status == "interrupted":
        return f"{name}: interrupted", why or "the run was interrupted", "attention"
    return None


class LogNotifier:
    """Notices as log lines on the `cairn.serve` logger."""

    def notify(self, title: str, body: str, *, urgency: Urgency = "info") -> None:
        log.log(_LEVELS.get(urgency, logging.INFO), "%s: %s", title, body)


class DesktopNotifier:
    """A system notification, where the desktop offers one; otherwise nothing."""

    def __init__(self) -> None:
        self._command = _desktop_command()

    @property
    def available(self) -> bool:
        return self._command is not None

    def notify(self, title: str, body: str, *, urgency: Urgency = "info") -> None:
        if self._command is None:
            return
        if self._command == "notify-send":
            level = {"info": "low", "attention": "normal", "failure": "critical"}[urgency]
            argv = ["notify-send", "--app-name=Cairn", f"--urgency={level}", title, body]
        else:  # osascript: the texts are passed as arguments, never spliced into the script
            script = (
                "on run argv\n display notification (item 2 of argv) with title"
                " (item 1 of argv)\nend run"
            )
            argv = ["osascript", "-e", script, title, body]
        try:
            subprocess.run(argv, check=False, timeout=5, capture_output=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("desktop notification failed: %s", exc)


def _desktop_command() -> str | None:
    if sys.platform == "darwin" and shutil.which("osascript"):
        return "osascript"
    has_session = os.environ.get("DBUS_SESSION_BUS_ADDRESS") or os.environ.get("DISPLAY")
    if sys.platform.startswith("linux") and has_session and shutil.which("notify-send"):
        return "notify-send"
    return None


class Notifiers:
    """One notice to each notifier in turn; one that fails does not stop the others."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = tuple(notifiers)

    def notify(self, title: str, body: str, *, urgency: Urgency = "info") -> None:
        for notifier in self.notifiers:
            try:
                notifier.notify(title, body, urgency=urgency)
            except Exception:
                log.exception("a notifier failed")
