"""The workspace commands: init, check, ls, watch."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError, WorkspaceNotFoundError
from cairn.core.workspace.diagnostics import Diagnostic, Severity
from cairn.core.workspace.entities import Workspace
from cairn.core.workspace.layouts import LAYOUT_NAMES
from cairn.core.workspace.loader import EntityEvent, WorkspaceEvent, WorkspaceModel
from cairn.core.workspace.summary import summarise
from cairn.infra.files import LocalFileStore
from cairn.infra.starter import OtherToolWorkspaceError, create_workspace, looks_like_workspace


def _open(directory: str, *, strict: bool = False) -> tuple[Path, WorkspaceModel]:
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise WorkspaceNotFoundError(f"{root} is not a folder")
    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(
            f"{root} is not a workspace (no agents.md, AGENTS.md, CLAUDE.md, spaces/, skills/, "
            f"operators/ or automations/); create one with: cairn init {directory}"
        )
    model = WorkspaceModel(LocalFileStore(root), strict=strict)
    model.load()
    return root, model


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _emit(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))


def run_init(args: argparse.Namespace) -> int:
    if getattr(args, "source", None):
        return _adopt(Path(args.source).expanduser())
    target = Path(args.dir).expanduser()
    try:
        report = create_workspace(target)
    except OtherToolWorkspaceError as exc:
        raise CairnError(
            f"{exc}; to open it as it is, adding only Cairn's settings: "
            f"cairn init --from {args.dir}"
        ) from exc
    for path in report.created:
        print(f"  created {path}")
    for path in report.kept:
        print(f"  kept    {path} (already exists; not overwritten)")
    print(
        f"Cairn workspace ready in {target.resolve()}: {len(report.created)} files created, "
        f"{len(report.kept)} kept. Next: cairn check {args.dir}"
    )
    return 0


COLLAPSE_AFTER = 5  # diagnostics of one code beyond this are summarised unless --all


def _adopt(folder: Path) -> int:
    from cairn.infra.starter import adopt

    if not folder.is_dir():
        raise WorkspaceNotFoundError(f"{folder} is not a folder")
    report = adopt(folder)
    for path in report.created:
        print(f"  created {path}")
    for path in report.kept:
        print(f"  kept    {path} (already there; not changed)")
    model = WorkspaceModel(LocalFileStore(folder))
    workspace = model.load()
    summaries = summarise(workspace)
    for summary in summaries:
        print(f"  found   {summary.line()}")
    if not summaries and not workspace.layers:
        print("  found   no instructions, skills or operators another tool wrote here")
    print(
        f"Cairn now reads {folder.resolve()} as it is; its settings are in {report.policy}, "
        f"and Cairn's tools may not write {', '.join(report.protected)}. "
        f"Next: cairn check {folder}"
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    root, model = _open(args.dir, strict=getattr(args, "strict", False))
    workspace = model.workspace
    cases, eval_problems = _eval_cases(root)
    diagnostics = (*workspace.diagnostics, *eval_problems)
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    layouts = summarise(workspace)
    if args.json:
        _emit(
            {
                "root": str(root.resolve()),
                "files": len(workspace.files),
                "eval_cases": cases,
                "errors": errors,
                "warnings": warnings,
                "layouts": [
                    {"layout": s.layout, "counts": dict(s.counts), "inferred": s.inferred}
                    for s in layouts
                ],
                "skipped": dict(workspace.skipped),
                "diagnostics": [d.to_json() for d in diagnostics],
            }
        )
        return 1 if errors else 0
    for line in _diagnostic_lines(diagnostics, everything=getattr(args, "all", False)):
        print(line)
    if diagnostics:
        print()
    for summary in layouts:
        print(summary.line())
    if workspace.skipped:
        print(_skipped_line(workspace))
    notes = len(diagnostics) - errors - warnings
    parts = [_count(errors, "error"), _count(warnings, "warning")]
    parts += [_count(notes, "note")] if notes else []
    verdict = ", ".join(parts) if diagnostics else "clean"
    evals = f" and {_count(cases, 'eval case')}" if cases or eval_problems else ""
    print(f"checked {len(workspace.files)} files{evals} in {root}: {verdict}")
    return 1 if errors else 0


def _eval_cases(root: Path) -> tuple[int, list[Diagnostic]]:
    """The eval cases under `evals/` that parse, and the problems of those that do not.
    Only in Cairn's own workspaces: another tool's `evals/` folder is not Cairn's format."""
    own = any((root / name).is_file() for name in ("agents.md", "cairn.md"))
    if not own or not (root / "evals").is_dir():
        return 0, []
    from cairn.improve.suite import load_suite

    cases, problems = load_suite(root)
    return len(cases), problems


def _diagnostic_lines(diagnostics: tuple[Diagnostic, ...], *, everything: bool) -> list[str]:
    """Each diagnostic formatted; a code that repeats more than `COLLAPSE_AFTER` times (40
    skills without frontmatter) is shown three times and counted, unless `everything`."""
    by_code = Counter((d.code, d.severity) for d in diagnostics)
    shown: Counter[tuple[str, str]] = Counter()
    lines: list[str] = []
    for diagnostic in diagnostics:
        key = (diagnostic.code, diagnostic.severity)
        if everything or by_code[key] <= COLLAPSE_AFTER or shown[key] < 3:
            lines.append(diagnostic.format())
        shown[key] += 1
    for (code, severity), total in by_code.items():
        if not everything and total > COLLAPSE_AFTER:
            lines.append(
                f"... and {total - 3} more {severity}s like these [{code}] "
                "(cairn check --all lists every one)"
            )
    return lines


def _skipped_line(workspace: Workspace) -> str:
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(workspace.skipped.items()))
    total = sum(workspace.skipped.values())
    return f"left out {_count(total, 'folder')} ({reasons})"


def _next_runs(workspace: Workspace) -> dict[str, str | None]:
    from cairn.infra.triggers import next_fire_time

    now = datetime.now().astimezone()
    result: dict[str, str | None] = {}
    for name, auto in workspace.automations.items():
        when = next_fire_time(auto.schedule, auto.meta.timezone, now) if auto.enabled else None
        result[name] = when.isoformat(timespec="minutes") if when else None
    return result


def _listing(workspace: Workspace) -> dict[str, Any]:
    next_runs = _next_runs(workspace)

    def skill_row(skill: Any) -> dict[str, Any]:
        return {
            "name": skill.name,
            "description": skill.description,
            "path": skill.path,
            "space": skill.space,
            "layout": skill.layout,
            "inferred": list(skill.inferred),
            "title": skill.title,
        }

    def operator_row(op: Any) -> dict[str, Any]:
        return {
            "name": op.name,
            "description": op.description,
            "when": op.meta.when,
            "path": op.path,
            "space": op.space,
            "layout": op.layout,
            "inferred": list(op.inferred),
            "title": op.title,
        }

    return {
        "agents": workspace.agents.path if workspace.agents else None,
        "layers": [{"path": x.path, "layout": x.layout} for x in workspace.layers],
        "layouts": [s.line() for s in summarise(workspace)],
        "spaces": [
            {
                "name": s.name,
                "scope": s.scope,
                "memory": s.meta.memory,
                "description": s.meta.description,
                "path": s.path,
                "layout": s.layout,
                "skills": [skill_row(k) for k in s.skills.values()],
                "operators": [operator_row(o) for o in s.operators.values()],
            }
            for s in workspace.spaces.values()
        ],
        "skills": [skill_row(k) for k in workspace.skills.values()],
        "operators": [operator_row(o) for o in workspace.operators.values()],
        "automations": [
            {
                "name": a.name,
                "schedule": a.meta.schedule,
                # A Rebel automation whose schedule Rebel keeps: say so, not the placeholder.
                "describe": "no schedule in the file"
                if a.layout == "rebel" and "schedule" in a.inferred
                else a.schedule.describe(),
                "timezone": a.meta.timezone,
                "enabled": a.enabled,
                "space": a.meta.space,
                "skill": a.meta.skill,
                "operator": a.meta.operator,
                "next_run": next_runs[a.name],
                "path": a.path,
                "layout": a.layout,
                "inferred": list(a.inferred),
            }
            for a in workspace.automations.values()
        ],
        "errors": len(workspace.errors),
        "warnings": len(workspace.warnings),
    }


def _clip(text: str | None, width: int = 70) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _origin(row: dict[str, Any]) -> str:
    """Where an item came from, for items not in Cairn's own format: layout, file and what
    Cairn inferred ("[OpenClaw skills/weather/SKILL.md; description inferred]")."""
    if row.get("layout", "cairn") == "cairn" and not row.get("inferred"):
        return ""
    notes = [f"{LAYOUT_NAMES[row['layout']]} {row['path']}"]
    if row.get("title"):
        notes.append(f"written as '{row['title']}'")
    if row.get("inferred"):
        notes.append(f"{' and '.join(row['inferred'])} inferred")
    return f"\n  {'':<22} [{'; '.join(notes)}]"


def run_ls(args: argparse.Namespace) -> int:
    root, model = _open(args.dir)
    data = _listing(model.workspace)
    if args.json:
        _emit(data)
        return 0
    workspace = model.workspace
    print(f"Workspace {root.resolve()}")
    for line in data["layouts"]:
        print(f"  {line}")
    if workspace.agents or workspace.layers:
        print("\nInstructions, in order")
        for path in [workspace.agents.path] if workspace.agents else []:
            print(f"  {path}  (policy and instructions)")
        for layer in workspace.layers:
            print(f"  {layer.path}  [{LAYOUT_NAMES[layer.layout]}]")
    print(f"\nSpaces ({len(data['spaces'])})")
    for s in data["spaces"]:
        extra = [f"{len(s['skills'])} skills"] if s["skills"] else []
        extra += [f"{len(s['operators'])} operators"] if s["operators"] else []
        print(
            f"  {s['name']:<22} {s['scope']:<8} memory: {s['memory']:<10} "
            f"{_clip(s['description'], 50)}{'  (' + ', '.join(extra) + ')' if extra else ''}"
            f"{_origin(s)}"
        )
    print(f"\nSkills ({len(data['skills'])})")
    for k in data["skills"]:
        print(f"  {k['name']:<22} {_clip(k['description'])}{_origin(k)}")
    print(f"\nOperators ({len(data['operators'])})")
    for o in data["operators"]:
        print(f"  {o['name']:<22} {_clip(o['description'])}{_origin(o)}")
    print(f"\nAutomations ({len(data['automations'])})")
    for a in data["automations"]:
        state = (
            f"next {a['next_run']}"
            if a["enabled"] and a["next_run"]
            else ("disabled" if not a["enabled"] else "no further runs")
        )
        uses = ", ".join(x for x in (a["skill"], a["operator"]) if x)
        print(
            f"  {a['name']:<22} {a['describe']:<28} {a['timezone']:<14} "
            f"space: {a['space'] or '(none)'}{' (' + uses + ')' if uses else ''}; {state}"
            f"{_origin(a)}"
        )
    if workspace.skipped:
        print(f"\n{_skipped_line(workspace)}")
    if data["errors"] or data["warnings"]:
        print(
            f"\n{_count(data['errors'], 'error')}, {_count(data['warnings'], 'warning')}: "
            "run `cairn check` for details"
        )
    return 0


def _report(events: tuple[WorkspaceEvent, ...], as_json: bool) -> None:
    changes = [e for e in events if isinstance(e, EntityEvent)]
    if not changes:
        return
    workspace = changes[0].workspace
    changed = {c.path for c in changes}
    diagnostics: list[Diagnostic] = [d for d in workspace.diagnostics if d.path in changed]
    if as_json:
        _emit(
            {
                "time": datetime.now().astimezone().isoformat(timespec="seconds"),
                "changes": [
                    {"kind": c.kind, "what": c.what, "name": c.name, "path": c.path}
                    for c in changes
                ],
                "diagnostics": [d.to_json() for d in diagnostics],
            }
        )
    else:
        stamp = datetime.now().strftime("%H:%M:%S")
        for change in changes:
            if change.what != "file":
                print(f"{stamp} {change.kind:<8} {change.what} {change.name}  ({change.path})")
        if not any(c.what != "file" for c in changes):
            for change in changes:
                print(f"{stamp} {change.kind:<8} {change.path}")
        for diagnostic in diagnostics:
            print(f"{stamp} {diagnostic.format()}")
    sys.stdout.flush()


def run_watch(args: argparse.Namespace) -> int:
    from cairn.infra.watcher import WorkspaceWatcher

    root, model = _open(args.dir)
    workspace = model.workspace
    from cairn.infra.memory_index import MemoryIndex
    from cairn.runtime import space_folders

    with MemoryIndex(root, space_folders=lambda: space_folders(model.workspace)) as index:
        index.repair()  # hand edits made while nothing was watching
        subscription = model.subscribe(lambda events: _report(events, args.json))
        with subscription, WorkspaceWatcher(model, root, on_paths=index.update):
            # Announced only now that the watcher runs: an edit made after this line is seen.
            if not args.json:
                print(
                    f"watching {root.resolve()}: {_count(len(workspace.files), 'file')}, "
                    f"{_count(len(workspace.errors), 'error')}, "
                    f"{_count(len(workspace.warnings), 'warning')} (Ctrl-C to stop)"
                )
            else:
                _emit(
                    {
                        "watching": str(root.resolve()),
                        "files": len(workspace.files),
                        "errors": len(workspace.errors),
                        "warnings": len(workspace.warnings),
                    }
                )
            sys.stdout.flush()
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
    return 0
