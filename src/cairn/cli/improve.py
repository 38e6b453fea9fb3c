"""`cairn eval [SUITE]` and `cairn improve [ACTION] [ID]`: the harness, measured and improved.

`eval` runs the workspace's eval cases headless on copies of it and stores the figures.
`improve` runs one improvement cycle (nothing changes in the workspace), then `list`,
`show ID`, `accept ID`, `reject ID`, `log` and `rollback [ID]` let a person decide.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cairn.core.errors import CairnError, WorkspaceNotFoundError

ACTIONS = ("run", "digest", "list", "show", "accept", "reject", "log", "rollback")


def add_parser(commands: Any) -> None:
    ev = commands.add_parser(
        "eval",
        help="run the workspace's eval cases (evals/) and report pass rate, tokens, cost, time",
        description="Each case's task runs headless on a fresh copy of the workspace, with "
        "approvals refused, and is judged by its checks. Results are kept under "
        ".cairn/evals/runs/ and compared with the previous run.",
    )
    ev.add_argument("suite", nargs="?", metavar="SUITE", help="a folder or case under evals/")
    ev.add_argument("--workspace", default=".", metavar="DIR")
    ev.add_argument("--model", metavar="MODEL", help="run every step on this model")
    ev.add_argument("--repeat", type=int, default=1, metavar="N", help="runs per case")
    ev.add_argument("--list", action="store_true", help="list the cases; run nothing")
    ev.add_argument("--json", action="store_true", help="machine-readable output")

    imp = commands.add_parser(
        "improve",
        help="find weaknesses in recent tasks and evals, and propose gated edits",
        description="`cairn improve` (run): baseline evals, weakness mining, proposals from "
        "the model agents.md routes `improve` to, the critic and the gate (a held-out case "
        "fixed, no case worse). Nothing in the workspace changes: kept proposals wait for "
        "you: `list`, `show ID`, `accept ID`, `reject ID`. `log` shows the harness "
        "changelog; `rollback [ID]` undoes an applied change byte for byte. `digest` writes "
        "the weakness digest from recent traces and the last eval run (no model runs).",
    )
    imp.add_argument(
        "action",
        nargs="?",
        default="run",
        choices=ACTIONS,
        metavar="ACTION",
        help=f"{', '.join(ACTIONS)} (default: run)",
    )
    imp.add_argument("id", nargs="?", metavar="ID", help="a proposal or change (or its start)")
    imp.add_argument("--workspace", default=".", metavar="DIR")
    imp.add_argument("--suite", metavar="SUITE", help="eval cases to use (default: all)")
    imp.add_argument("--model", metavar="MODEL", help="run the eval tasks on this model")
    imp.add_argument(
        "--improve-model", metavar="MODEL", help="ask this model for edits (default: routing)"
    )
    imp.add_argument("--repeat", type=int, default=1, metavar="N", help="runs per case")
    imp.add_argument(
        "--patterns", type=int, default=3, metavar="K", help="weaknesses to ask edits for"
    )
    imp.add_argument("--json", action="store_true", help="machine-readable output")


def _root(text: str) -> Path:
    from cairn.infra.starter import looks_like_workspace

    root = Path(text).expanduser().resolve()
    if not looks_like_workspace(root):
        raise WorkspaceNotFoundError(f"{root} is not a Cairn workspace; see `cairn init`")
    return root


def _policy_ready(root: Path) -> None:
    """Refuse at once, saying why, when no task could run (agents.md missing or broken)
    rather than failing every case with the same error."""
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore
    from cairn.runtime import policy_missing

    workspace = WorkspaceModel(LocalFileStore(root)).load()
    if workspace.agents is None:
        raise CairnError(policy_missing(workspace))


def _suite(root: Path, suite: str | None) -> tuple[list[Any], list[Any]]:
    """The cases of `suite`, each broken file's problem said on stderr."""
    from cairn.improve.suite import load_suite

    cases, problems = load_suite(root, suite)
    for problem in problems:
        _err(problem.format())
    return cases, problems


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_eval(args: argparse.Namespace) -> int:
    from cairn.improve.runner import previous_run, run_cases, save
    from cairn.infra.redaction import install_log_redaction

    install_log_redaction()
    if args.repeat < 1:
        raise CairnError("--repeat must be at least 1")
    root = _root(args.workspace)
    cases, problems = _suite(root, args.suite)
    if args.list:
        if args.json:
            listed = [
                {
                    "name": c.name,
                    "split": c.split,
                    "space": c.space,
                    "skill": c.skill,
                    "description": c.description,
                    "request": c.request,
                }
                for c in cases
            ]
            print(json.dumps({"cases": listed, "problems": [p.format() for p in problems]}))
        else:
            for case in cases:
                print(f"{case.name:<36} {case.split:<9} {case.description or case.request[:60]}")
        return 1 if problems else 0
    if not cases:
        raise CairnError("no eval case could be read; fix the files above")
    _policy_ready(root)
    result = run_cases(
        root,
        cases,
        model=args.model,
        repeat=args.repeat,
        suite=args.suite or "",
        progress=None if args.json else _err,
    )
    path = save(root, result)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        _report(result, previous_run(root, result), path.relative_to(root))
    return 0 if all(r.passed for r in result.results) else 1


def _report(result: Any, before: Any, path: Path) -> None:
    # Tokens, cost and time are each case's mean per run; the overall line adds them up.
    print(f"{'case':<36} {'split':<9} {'passed':>7} {'tokens':>9} {'cost':>10} {'time':>8}")
    for name, runs in result.by_case().items():
        own = [r for r in result.results if r.case == name]
        cost = sum(r.seen.cost_usd for r in own) / len(own)
        seconds = sum(r.seen.seconds for r in own) / len(own)
        tokens = sum(r.seen.tokens for r in own) // len(own)
        print(
            f"{name:<36} {own[0].split:<9} {runs.passed:>3}/{runs.runs:<3} {tokens:>9,} "
            f"${cost:>9.4f} {seconds:>7.1f}s"
        )
        for run in own:
            for check in run.checks:
                if not check.passed:
                    print(f"    ✗ run {run.repeat}: {check.check}: {check.detail[:120]}")
    print(
        f"overall: {result.pass_rate:.0%} passed · {result.tokens:,} tokens · "
        f"${result.cost_usd:.4f} · {result.seconds:.1f} s · stored in {path}"
    )
    if before is not None:
        delta = result.pass_rate - before.pass_rate
        print(f"previous run {before.id}: {before.pass_rate:.0%} passed ({delta:+.0%})")


def run_improve(args: argparse.Namespace) -> int:
    from cairn.improve import changes

    root = _root(args.workspace)
    action = args.action
    if action in ("show", "accept", "reject") and not args.id:
        raise CairnError(f"`cairn improve {action}` needs a proposal ID (`cairn improve list`)")
    if action in ("run", "digest", "list", "log") and args.id:
        raise CairnError(f"`cairn improve {action}` takes no ID (got '{args.id}')")
    if action == "run":
        return _cycle(root, args)
    if action == "digest":
        return _digest(root, args.suite)
    if action == "list":
        pending = changes.list_pending(root)
        if args.json:
            print(json.dumps([p.to_json() for p in pending], ensure_ascii=False))
            return 0
        for item in pending:
            figures = item.figures
            print(
                f"{item.proposal.id}  {item.proposal.summary}  "
                f"held-out {changes.rate(figures, 'before_rate'):.0%} → "
                f"{changes.rate(figures, 'after_rate'):.0%}  ({item.proposal.pattern})"
            )
        if not pending:
            print("no proposals waiting; `cairn improve` looks for some")
        return 0
    if action == "show":
        print(changes.describe(root, changes.find_pending(root, args.id)), end="")
        return 0
    if action == "accept":
        record = changes.accept(root, args.id)
        print(
            f"applied {record['id']} to {record['path']}; "
            f"undo with `cairn improve rollback {record['key']}`"
        )
        return 0
    if action == "reject":
        item = changes.reject(root, args.id)
        print(f"set aside {item.proposal.id}; the workspace is unchanged")
        return 0
    if action == "log":
        print(changes.changelog(root) or "no changes applied yet")
        return 0
    record = changes.rollback(root, args.id)
    print(f"rolled back {record['key']}: {record['path']} is as it was before")
    return 0


def _digest(root: Path, suite: str | None) -> int:
    """The weakness digest from recent traces and the last stored eval run's train cases;
    no model is called and nothing runs."""
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.improve.cycle import mine_workspace
    from cairn.improve.runner import stored_runs
    from cairn.improve.suite import load_suite
    from cairn.infra.files import LocalFileStore

    workspace = WorkspaceModel(LocalFileStore(root)).load()
    runs = [r for r in stored_runs(root) if r.label in ("", "baseline")]
    cases = load_suite(root, suite)[0] if (root / "evals").is_dir() else []
    _, text = mine_workspace(root, workspace, runs[-1] if runs else None, cases)
    print(text, end="")
    _err("(written to .cairn/improve/digest.md)")
    return 0


def _cycle(root: Path, args: argparse.Namespace) -> int:
    from cairn.improve.cycle import improve_cycle
    from cairn.infra.redaction import install_log_redaction

    install_log_redaction()
    if args.repeat < 1 or args.patterns < 0:
        raise CairnError("--repeat must be at least 1 and --patterns at least 0")
    cases, _ = _suite(root, args.suite)
    _policy_ready(root)
    report = improve_cycle(
        root,
        cases,
        model=args.model,
        improve_model=args.improve_model,
        repeat=args.repeat,
        patterns=args.patterns,
        suite=args.suite or "",
        progress=None if args.json else _err,
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 0
    kept = report.kept
    print(
        f"cycle {report.id}: {len(report.weaknesses)} weaknesses, "
        f"{len(report.candidates)} proposals tried, {len(kept)} kept"
    )
    for candidate in report.candidates:
        why = "; ".join(candidate.reasons)
        print(
            f"  {candidate.proposal.id} {candidate.status:<14} {candidate.proposal.summary}"
            + (f" — {why}" if why else "")
        )
    if report.note:
        print(f"  {report.note}")
    print(
        f"held-out pass rate {report.held_out_before:.0%} → {report.held_out_best:.0%} · "
        f"{report.tokens:,} tokens · {report.seconds:.1f} s · digest: "
        f"{report.digest_path.relative_to(root)}"
    )
    if kept:
        print("review with `cairn improve show ID`; nothing changes until you accept one")
    return 0
