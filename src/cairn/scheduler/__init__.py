"""Automations that run: the scheduler `cairn serve` runs and the desktop app embeds.

`AutomationScheduler` (service) keeps a workspace's automations on schedule with
APScheduler; `SlotKeeper` (keeper) takes every decision about a slot through the run
store, so several processes never run a slot twice; `execute` (execute) runs one
automation headless and records it; `run_log` keeps the readable markdown history and
`notify` words what happened for the person.
"""

from __future__ import annotations

from cairn.scheduler.execute import UnknownAutomationError, execute, find_automation
from cairn.scheduler.keeper import LATE_LIMIT, SlotKeeper
from cairn.scheduler.notify import DesktopNotifier, LogNotifier, Notifiers, notice_for
from cairn.scheduler.service import AutomationScheduler, AutomationState

__all__ = [
    "LATE_LIMIT",
    "AutomationScheduler",
    "AutomationState",
    "DesktopNotifier",
    "LogNotifier",
    "Notifiers",
    "SlotKeeper",
    "UnknownAutomationError",
    "execute",
    "find_automation",
    "notice_for",
]
