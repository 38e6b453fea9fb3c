"""`cairn doctor [DIR]`: what works on this machine, what is missing, and the fix for each.

The checks are `cairn.infra.doctor`'s (the desktop app's first-run page shows the same
rows); this prints them, or their JSON report, and exits 1 when Cairn's main job — a task
on a local model with no keys — cannot run yet.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cairn.infra.doctor import diagnose, plural, row_label


def run_doctor(args: argparse.Namespace) -> int:
    from cairn.infra.redaction import install_log_redaction

    install_log_redaction()  # keyring and its backends log; keys resolved here are redacted
    report = diagnose(args.dir, load=bool(args.load))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        _print(report)
    return int(report["exit_code"])


def _print(report: dict[str, Any]) -> None:
    checks = report["checks"]
    labels = [row_label(row) for row in checks]
    width = max(len(label) for label in labels)
    print(f"cairn doctor: {report['workspace']}\n")
    for row, label in zip(checks, labels, strict=True):
        print(f"  {row['status']:<4}  {label:<{width}}  {row['finding']}")
        if row["fix"] and row["status"] != "ok":
            print(f"  {'':<4}  {'':<{width}}  fix: {row['fix']}")
    job = report["main_job"]
    print()
    if job["can_run"]:
        print(f"Ready: tasks run on {job['model']} with no keys. Try: {job['command']}")
    else:
        failed = sum(1 for row in checks if row["status"] == "fail")
        reason = (
            f"fix the {plural(failed, 'row')} marked fail" if failed else "no local model can run"
        )
        print(f"Not ready: a task cannot run on a local model yet; {reason}, then run again.")
