"""`cairn automations`: list, history, pause, resume and run-now of automations."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError, WorkspaceNotFoundError


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
    from cairn.core.automations import Timing
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.infra.runs import RunStore
    from cairn.infra.triggers import zone

    root = _root(args)
    workspace = WorkspaceModel(LocalFileStore(root)).load()
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    with RunStore(root) as store:
        store.recover()
        for auto in workspace.automations.values():
            timing = Timing.of(auto.schedule, zone(auto.meta.timezone), auto.meta.catch_up)
            upcoming = timing.next_slot(now) if auto.enabled else None
            last = store.last_run(auto.name)
            rows.append(
                {
                    "name": auto.name,
                    "enabled": auto.enabled,
                    "schedule": auto.meta.schedule,
                    "describe": auto.schedule.describe(),
                    "timezone": auto.meta.timezone,
                    "next_run": _when(upcoming),
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
                    "catch_up": timing.catch_up.describe(),
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
        shown = row["next_run"] or ("—" if row["enabled"] else "not while paused")
        last = row["last_run"]
        ran = f"{last['status']} {last['at']} ${last['cost_usd']:.4f}" if last else "never"
        print(f"{row['name']}  [{state}]")
        print(f"  schedule  {row['describe']} ({row['timezone']})")
        print(f"  next run  {shown}")
        print(f"  last run  {ran}")
        print(f"  catch-up  {row['catch_up']}")
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
    from cairn.core.errors import WriteConflictError
    from cairn.core.workspace.documents import MAX_FILE_BYTES, content_hash
    from cairn.core.workspace.edit import EditError, update_frontmatter
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.scheduler.execute import find_automation

    root = _root(args)
    files = LocalFileStore(root)
    auto = find_automation(WorkspaceModel(files), args.name)
    word = "resumed" if enabled else "paused"
    if auto.enabled == enabled:
        print(f"{auto.name} is already {word} ({auto.path})")
        return 0
    raw = files.read(auto.path, MAX_FILE_BYTES)
    bom = b"\xef\xbb\xbf" if raw.startswith(b"\xef\xbb\xbf") else b""
    try:
        text = update_frontmatter(raw[len(bom) :].decode("utf-8"), {"enabled": enabled})
    except (UnicodeDecodeError, EditError) as exc:
        raise CairnError(f"{auto.path} cannot be edited: {exc}") from exc
    try:
        files.write(auto.path, bom + text.encode("utf-8"), base_hash=content_hash(raw))
    except WriteConflictError as exc:
        raise CairnError(f"{auto.path} changed while Cairn was editing it; try again") from exc
    print(f"{auto.name} {word} ({auto.path}: enabled: {'true' if enabled else 'false'})")
    return 0


def _run_now(args: argparse.Namespace) -> int:
    from cairn.core.routing.dispatch import Routed
    from cairn.core.tasks.events import StepStarted, TaskFailed, ToolCalled, ToolResult
    from cairn.infra.redaction import install_log_redaction
    from cairn.infra.runs import Refusal, RunStore
    from cairn.scheduler.execute import execute

    install_log_redaction()
    root = _root(args)

    def progress(event: object) -> None:
        if isinstance(event, StepStarted):
            _err(f"── step {event.index}: {event.step.title} ({event.step.kind})")
        elif isinstance(event, Routed) and event.decision.chosen:
            where = "local" if event.decision.chosen_is_local else "cloud"
            _err(f"   → {event.decision.chosen} ({where})")
        elif isinstance(event, ToolCalled):
            _err(f"   ⚙ {event.name}")
        elif isinstance(event, ToolResult):
            _err(f"   {'✓' if event.ok else '✗'} {event.name}")
        elif isinstance(event, TaskFailed):
            _err(f"   ✘ {event.kind}: {event.reason}")

    with RunStore(root) as store:
        store.recover()
        _err(f"▶ {args.name} (run-now)")
        result = execute(
            root,
            args.name,
            trigger="run-now",
            slot=datetime.now(UTC),
            store=store,
            on_event=progress,
        )
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
    if result.trace:
        parts.append(f"trace: .cairn/traces/{result.trace}.jsonl")
    print(" · ".join(parts))
    if result.reason:
        print(f"  {result.reason}")
    return 0 if result.status == "done" else 1
