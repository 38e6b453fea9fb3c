"""Benchmark: one improvement cycle (`cairn improve`) on the starter workspace and its eval
suite, on the starter model, with no keys: what it costs and whether it helped.

A fresh copy of the starter workspace (`cairn init`) in a temporary folder; every step of
the eval tasks and the `improve` calls run on the model given (default: the starter
model, `local-starter`). The cycle runs the suite as it is (its baseline), mines the
traces and the train cases' failures, asks for proposals for the top weaknesses, and
tries each on the held-out cases behind the gate. Nothing is accepted.

Prints:
- the baseline: pass rate, tokens and time of the plain eval run inside the cycle;
- the cycle: tokens and time in all, and their ratio to the baseline's (what an
  improvement cycle costs over just measuring, on the same machine in the same run);
- the proposals tried, and for each why it was kept or refused;
- the held-out pass rate before and with the best kept edit: the pass-rate delta.

Run from the repository root:
    .venv/bin/python bench/improve.py [--model local-starter] [--repeat 1] [--patterns 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="local-starter", help="runs the eval tasks")
    parser.add_argument("--improve-model", default=None, help="proposes (default: --model)")
    parser.add_argument("--suite", default=None, help="a folder or case under evals/")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--patterns", type=int, default=2)
    args = parser.parse_args()
    # Prefixes saved by earlier runs would make this run's first calls faster than a user's.
    os.environ.setdefault("CAIRN_CACHE_DIR", tempfile.mkdtemp(prefix="cairn-bench-cache-"))
    from cairn.improve.cycle import improve_cycle
    from cairn.improve.suite import load_suite
    from cairn.infra.starter import copy_starter

    root = Path(tempfile.mkdtemp(prefix="cairn-bench-improve-")) / "workspace"
    root.mkdir(parents=True)
    copy_starter(root)
    cases, problems = load_suite(root, args.suite)
    assert not problems, [p.format() for p in problems]
    report = improve_cycle(
        root,
        cases,
        model=args.model,
        improve_model=args.improve_model or args.model,
        repeat=args.repeat,
        patterns=args.patterns,
        suite=args.suite or "",
        progress=lambda line: print(f"  {line}", flush=True),
    )
    base = report.baseline
    print(
        f"baseline: {len(cases)} cases × {args.repeat}: {base.pass_rate:.0%} passed, "
        f"{base.tokens:,} tokens, {base.seconds:.1f} s"
    )
    for weakness in report.weaknesses:
        print(f"weakness: {weakness.title}, in {len(weakness.tasks)} task(s)")
    for candidate in report.candidates:
        why = "; ".join(candidate.reasons) or (
            candidate.verdict.reason if candidate.verdict else ""
        )
        print(
            f"proposal {candidate.proposal.id} ({candidate.proposal.summary}): "
            f"{candidate.status} — {why}"
        )
    for problem in report.problems:
        print(f"not a proposal: {problem}")
    if report.note:
        print(f"note: {report.note}")
    print(
        f"cycle: {report.tokens:,} tokens ({report.tokens / max(base.tokens, 1):.2f}× the "
        f"baseline's), {report.seconds:.1f} s ({report.seconds / max(base.seconds, 1e-9):.2f}× "
        f"the baseline's); {len(report.candidates)} proposals tried, {len(report.kept)} kept"
    )
    print(
        f"held-out pass rate: {report.held_out_before:.0%} → {report.held_out_best:.0%} "
        f"(delta {report.held_out_best - report.held_out_before:+.0%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
