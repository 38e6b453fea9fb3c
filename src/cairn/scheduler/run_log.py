"""The readable side of run history: one markdown file per automation, in its space.

`<space folder>/history/automations/<name>.md` (or `history/automations/<name>.md` for
an automation without a space) lists the automation's latest runs and skipped slots,
newest first: when, trigger, status, time taken, tokens, cost, the files the run wrote,
the task's record and trace, and the reason for anything that did not end `done`.
`.cairn/runs.sqlite` stays the full account; this file keeps the latest `KEEP` entries.

It is written through the workspace model (atomic, refused on conflict); a conflicting
edit is retried once against the new content, and a log that cannot be written never
fails a run: the database has the row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

from cairn.core.errors import CairnError
from cairn.core.workspace.documents import content_hash
from cairn.core.workspace.entities import Automation
from cairn.core.workspace.loader import WorkspaceModel
from cairn.infra.redaction import REDACTOR
from cairn.infra.runs import Run

log = logging.getLogger(__name__)

KEEP: Final = 100
"""Entries kept in the markdown log; older ones live on in `.cairn/runs.sqlite`."""
_ENTRY = "\n## "


def log_path(model: WorkspaceModel, automation: Automation) -> str:
    space = automation.meta.space
    found = model.workspace.spaces.get(space) if space else None
    base = f"{found.root}/history" if found else "history"
    return f"{base}/automations/{automation.name}.md"


def append_run(
    model: WorkspaceModel,
    automation: Automation,
    run: Run,
    *,
    written: Sequence[str] = (),
    record: str | None = None,
) -> None:
    """Add one finished run to the automation's log (never raises)."""
    _prepend(model, automation, [_entry(run, written, record)])


def append_skipped(model: WorkspaceModel, automation: Automation, runs: Iterable[Run]) -> None:
    """Add skipped slots to the automation's log, oldest first (never raises)."""
    entries = [_entry(run, (), None) for run in sorted(runs, key=lambda r: r.slot)]
    if entries:
        _prepend(model, automation, entries)


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def _entry(run: Run, written: Sequence[str], record: str | None) -> str:
    lines = [f"## {_when(run.slot)} · {run.status}", ""]
    lines.append(f"- trigger: {run.trigger}; slot {run.slot.astimezone().isoformat()}")
    if run.status != "skipped":
        took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0
        lines.append(f"- took {took:.0f} s; {run.tokens:,} tokens; ${run.cost_usd:.6f}")
    if written:
        lines.append("- wrote: " + ", ".join(f"`{path}`" for path in written))
    if record:
        lines.append(f"- record: `{record}`")
    if run.trace:
        lines.append(f"- trace: `.cairn/traces/{run.trace}.jsonl` (`cairn trace show {run.trace}`)")
    if run.reason:
        lines.append(f"- why: {REDACTOR.redact(run.reason)}")
    return "\n".join(lines) + "\n"


def _header(automation: Automation) -> str:
    return (
        f"---\nautomation: {automation.name}\n---\n"
        f"# Runs of {automation.name}\n\n"
        f"Newest first, the latest {KEEP}; Cairn adds each run here"
        " (`cairn automations history` shows them all).\n"
    )


def _prepend(model: WorkspaceModel, automation: Automation, entries: list[str]) -> None:
    path = log_path(model, automation)
    for _attempt in range(2):
        try:
            raw = _read(model, path)
            current = None if raw is None else raw.decode("utf-8", errors="replace")
            old = [] if current is None else current.split(_ENTRY)[1:]
            kept = [e.removeprefix("## ") for e in reversed(entries)] + old
            text = _header(automation) + "".join(
                _ENTRY + e.rstrip("\n") + "\n" for e in kept[:KEEP]
            )
            base = None if raw is None else content_hash(raw)
            model.write(path, text, base_hash=base)
            return
        except CairnError as exc:  # a conflict (someone edited it): read again, once
            problem: Exception = exc
        except OSError as exc:
            problem = exc
            break
    log.warning("could not add to the run log %s: %s", path, problem)


def _read(model: WorkspaceModel, path: str) -> bytes | None:
    try:
        return model.store.read(path, 4 * 1024 * 1024)
    except FileNotFoundError:
        return None
