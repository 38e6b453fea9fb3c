"""`cairn automations`: list, history, pause, resume and run-now of automations."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn.core.errors import WorkspaceNotFoundError


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _root(args: argparse.Namespace) -> Path:
    from cairn.infra.starter import looks_like_workspace

    root = Path(args.workspace).expanduser().resolve()
    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(f"{root} is not a Cairn workspace; see `cairn init`")
    return root


def run_automations(args: argparse.Namespace) -> int:
    command = {
        "list": _list,
        "history": _history,
        "pause": _pause,
        "resume": _resume,
        "run": _run_now,
    }[args.automations_command]
    return command(args)


def _when(moment: datetime | None) -> str | None:
    return moment.astimezone().isoformat(timespec="minutes") if moment else None


def _list(args: argparse.Namespace) -> int:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.runs import RunStore
    from cairn.scheduler.control import overview

    root = _root(args)
    workspace = WorkspaceModel(LocalFileStore(root)).load()
    with RunStore(root) as store:
        store.recover()
        shown = overview(workspace, store)
    rows: list[dict[str, Any]] = []
    for auto in shown:
        last = auto.last_run
        rows.append(
            {
                "name": auto.name,
                "enabled": auto.enabled,
                "schedule": auto.schedule,
                "describe": auto.describe,
                "timezone": auto.timezone,
                "next_run": _when(auto.next_run),
                "last_run": None
                if last is None
                else {
                    "id": last.id,
                    "status": last.status,
                    "trigger": last.trigger,
                    "at": _when(last.finished_at or last.started_at),
                    "cost_usd": last.cost_usd,
                    "tokens": last.tokens,
                },
                "catch_up": auto.catch_up,
                "problem": auto.problem,
                "path": auto.path,
            }
        )
    if args.json:
        print(json.dumps({"automations": rows}, indent=2))
        return 0
    if not rows:
        print("no automations (add one under automations/)")
    for row in rows:
        state = "enabled" if row["enabled"] else "paused"
        shown_next = row["next_run"] or ("—" if row["enabled"] else "not while paused")
        last = row["last_run"]
        ran = f"{last['status']} {last['at']} ${last['cost_usd']:.4f}" if last else "never"
        print(f"{row['name']}  [{state}]")
        print(f"  schedule  {row['describe']} ({row['timezone']})")
        print(f"  next run  {shown_next}")
        print(f"  last run  {ran}")
        print(f"  catch-up  {row['catch_up']}")
        if row["problem"]:
            print(f"  held      {row['problem']} (`cairn check` shows how to fix it)")
    return 0


def _history(args: argparse.Namespace) -> int:
    from cairn.infra.runs import RunStore

    root = _root(args)
    with RunStore(root) as store:
        store.recover()
        runs = store.history(args.name, limit=args.limit)
    if args.json:
        rows = [
            {
                "id": r.id,
                "automation": r.automation,
                "slot": r.slot.isoformat(),
                "trigger": r.trigger,
                "status": r.status,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "cost_usd": r.cost_usd,
                "tokens": r.tokens,
                "trace": r.trace,
                "reason": r.reason,
                "output_path": r.output_path,
            }
            for r in runs
        ]
        print(json.dumps({"runs": rows}, indent=2))
        return 0
    if not runs:
        print("no runs yet")
    for r in runs:
        why = f"  {r.reason}" if r.reason else ""
        print(
            f"{r.id:>5}  {_when(r.started_at)}  {r.automation:<20} {r.trigger:<9} "
            f"{r.status:<14} {r.tokens:>7,} tok  ${r.cost_usd:.4f}{why}"
        )
    return 0


def _pause(args: argparse.Namespace) -> int:
    return _set_enabled(args, enabled=False)


def _resume(args: argparse.Namespace) -> int:
    return _set_enabled(args, enabled=True)


def _set_enabled(args: argparse.Namespace, *, enabled: bool) -> int:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.runs import RunStore
    from cairn.scheduler.control import set_enabled

    root = _root(args)
    model = WorkspaceModel(LocalFileStore(root))
    model.load()
    with RunStore(root) as runs:
        done = set_enabled(model, args.name, enabled=enabled, runs=runs)
    word = "resumed" if enabled else "paused"
    if not done.changed:
        print(f"{done.name} is already {word} ({done.path})")
    else:
        print(f"{done.name} {word} ({done.path}: enabled: {'true' if enabled else 'false'})")
    return 0


def _run_now(args: argparse.Namespace) -> int:
    from cairn.core.tasks.events import StepStarted
    from cairn.infra.redaction import install_log_redaction
    from cairn.infra.runs import Refusal
    from cairn.scheduler.control import run_now, trace_path
    from cairn.scheduler.progress import progress_line

    install_log_redaction()
    root = _root(args)

    def progress(event: object) -> None:
        line = progress_line(event)
        if line is not None:
            _err(f"── {line}" if isinstance(event, StepStarted) else f"   {line}")

    _err(f"▶ {args.name} (run-now)")
    result = run_now(root, args.name, on_event=progress)
    if isinstance(result, Refusal):
        _err(f"cairn: {result.message}")
        return 1
    mark = "✔" if result.status == "done" else "✘"
    parts = [
        f"{mark} {result.status}",
        f"{result.tokens:,} tokens",
        f"${result.cost_usd:.6f}",
        f"run {result.id}",
    ]
    if result.output_path:
        parts.append(f"record: {result.output_path}")
    trace = trace_path(result)
    if trace:
        parts.append(f"trace: {trace}")
    print(" · ".join(parts))
    if result.reason:
        print(f"  {result.reason}")
    return 0 if result.status == "done" else 1
