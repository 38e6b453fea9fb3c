"""Benchmark: load a 5,000-file workspace cold, then keep it current one file at a time.

What it measures
  * cold load: a fresh interpreter (`sys.executable -c ...`) times
    `import cairn.core.loader, cairn.infra.files`, then
    `WorkspaceModel(LocalFileStore(dir)).load()`. One untimed warm-up run first (it
    compiles bytecode and checks the counts), then --runs timed runs: median and worst.
    Target: import + load <= 1 s. The files were just written, so the OS page cache is
    warm: this is "open the app", not "first open after a reboot".
  * incremental update: in this process, after one load, rewrite the description of one
    workspace skill and time `model.refresh([path])`, over --updates different skills:
    p50 / p95 / max. Target: <= 20 ms. Also one refresh of an unchanged file.

The workspace (deterministic, seed 7) holds exactly --files model files: agents.md; N/25
spaces, each a readme plus 4 skills and 3 operators; 16% workspace operators; 10%
automations (cron, interval and one-off schedules naming existing spaces, skills and
operators); the rest workspace skills (9 in 10 are folders with a 2-6 KB SKILL.md with
license and metadata; 1 in 10 folders also bundles scripts/ and references/ files, which
are listed but not parsed). It must load with 0 errors and the expected counts, or the
script exits 1. Otherwise it exits 0: benchmarks report, they do not gate.

Run from the repository root:
    .venv/bin/python bench/workspace_load.py [--files 5000] [--dir PATH] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

WORDS = ("the team review draft owner decision deadline risk budget customer release summary "
         "notes inbox priority context meeting follow-up evidence source plan estimate status "
         "memo brief action open loop metric weekly quarter scope hiring roadmap incident "
         "vendor contract invoice launch feedback research interview dashboard").split()
SCHEDULES = ("30 7 * * mon-fri", "0 16 * * fri", "*/15 9-17 * * 1-5", "0 0 1 * *", "@daily",
             "@hourly", "0 9,13 * * *", "every 2 hours", "every 30 minutes", "every day",
             "every 1 week", "once 2026-12-01 09:00", "at 2027-01-15 18:30")
ZONES = ("local", "local", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
AGENTS = """---
name: Bench
models:
  local-small: {engine: local, path: ~/models/small.gguf, context: 8192}
  cloud-fast: {engine: litellm, model: openai/gpt-4o-mini}
roles: {worker: [cloud-fast, local-small], fast: [cloud-fast], local: [local-small]}
routing: {plan: worker, work: worker, summarise: fast, sensitive: local, memory: local}
permissions:
  - {tool: read_file, decision: allow}
  - {tool: write_file, path: "spaces/*/drafts/**", decision: allow}
budgets: {task: {tokens: 200000, usd: 0.5}, day: {usd: 5.0}}
---

# Bench

You are a working assistant. Read the space readme before acting.
"""
LOAD = """import json, sys, time
t0 = time.perf_counter()
import cairn.core.loader, cairn.infra.files
t1 = time.perf_counter()
ws = cairn.core.loader.WorkspaceModel(cairn.infra.files.LocalFileStore(sys.argv[1])).load()
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "files": len(ws.files),
                  "errors": len(ws.errors)}))
"""


def prose(rng: random.Random, low: int = 6, high: int = 16) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def body(rng: random.Random, title: str, size: int, headings: tuple[str, ...]) -> str:
    parts, i = [f"# {title}\n"], 0
    while sum(map(len, parts)) < size:
        parts.append(f"\n## {headings[i % len(headings)]}\n\n")
        if i % 2 == 0:
            parts.append("".join(f"{k}. {prose(rng)}\n" for k in range(1, rng.randint(4, 7))))
        else:
            text = " ".join(prose(rng) for _ in range(rng.randint(3, 6)))
            parts.append("\n".join(textwrap.wrap(text, 88)) + "\n")
        i += 1
    return "".join(parts)


def skill(rng: random.Random, name: str) -> str:
    tools = "allowed-tools: read_file search load_skill\n" if rng.random() < 0.3 else ""
    head = (f"---\nname: {name}\ndescription: \"{prose(rng, 15, 35)} Use when {prose(rng, 5, 12)}\"\n"
            f"license: {rng.choice(('MIT', 'Apache-2.0', 'Proprietary'))}\n{tools}"
            f"metadata:\n  author: {rng.choice(WORDS)}-team\n  version: \"1.{rng.randint(0, 9)}\"\n---\n\n")
    size = rng.randint(2048, 5200) - len(head)
    return head + body(rng, name, size, ("Inputs", "Steps", "Output", "Pitfalls", "Examples"))


def operator(rng: random.Random, name: str) -> str:
    return (f"---\nname: {name}\ndescription: \"{prose(rng, 10, 25)}\"\nwhen: \"{prose(rng)}\"\n"
            f"---\n\n" + body(rng, name, rng.randint(1200, 3000), ("How to review", "Flag", "Report")))


def generate(root: Path, total: int, rng: random.Random) -> dict[str, int]:
    """Write exactly `total` model files under `root`; return the counts to expect."""
    per_space = (4, 3)  # space-level skills, operators
    n_spaces, n_ops, n_autos = max(1, total // 25), total * 16 // 100, total // 10
    n_skills = total - 1 - n_spaces * (1 + sum(per_space)) - n_ops - n_autos
    if n_skills < 1:
        raise SystemExit(f"--files {total} is too small for the mix; use at least 100")
    files, resources = {"agents.md": AGENTS}, 0
    spaces = [f"space-{i:03d}" for i in range(n_spaces)]
    skills = [f"{rng.choice(WORDS)}-skill-{i:04d}" for i in range(n_skills)]
    ops = [f"{rng.choice(WORDS)}-lens-{i:03d}" for i in range(n_ops)]
    for s in spaces:
        routing = "routing: {summarise: local}\n" if rng.random() < 0.2 else ""
        files[f"spaces/{s}/readme.md"] = (
            f"---\ndescription: \"{prose(rng)}\"\nscope: {rng.choice(('private', 'team', 'company'))}"
            f"\nmemory: {rng.choice(('permissive', 'balanced', 'cautious'))}\n{routing}---\n\n"
            + body(rng, s, rng.randint(1500, 4000), ("Priorities", "People", "Memory")))
        for j in range(per_space[0]):
            files[f"spaces/{s}/skills/local-{j}/SKILL.md"] = skill(rng, f"local-{j}")
        for j in range(per_space[1]):
            files[f"spaces/{s}/operators/lens-{j}.md"] = operator(rng, f"lens-{j}")
    for i, name in enumerate(skills):
        folder = i % 10 != 9  # 1 in 10 skills is a single file
        files[f"skills/{name}/SKILL.md" if folder else f"skills/{name}.md"] = skill(rng, name)
        if i % 10 == 3:  # bundled resources: listed, not parsed
            for extra in ("scripts/run.py", "references/guide.md"):
                files[f"skills/{name}/{extra}"] = f"# {extra}\n{prose(rng)}\n"
                resources += 1
    for i, name in enumerate(ops):
        files[f"operators/{name}/OPERATOR.md" if i % 8 == 0 else f"operators/{name}.md"] = (
            operator(rng, name))
    for i in range(n_autos):
        use = rng.choice(skills) if rng.random() < 0.7 else f"local-{rng.randint(0, 3)}"
        op = f"operator: {rng.choice(ops)}\n" if ops and rng.random() < 0.4 else ""
        files[f"automations/job-{i:04d}.md"] = (
            f"---\ndescription: \"{prose(rng)}\"\nschedule: \"{rng.choice(SCHEDULES)}\"\n"
            f"timezone: {rng.choice(ZONES)}\nenabled: {str(rng.random() < 0.9).lower()}\n"
            f"space: {rng.choice(spaces)}\nskill: {use}\n{op}"
            "budget: {tokens: 40000, usd: 0.05, minutes: 5}\n"
            "headless:\n  allow: [read_file, search, write_file]\n  on_approval: queue\n---\n\n"
            + body(rng, "Instruction", rng.randint(400, 1200), ("Steps", "Rules")))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    assert len(files) - resources == total
    sizes = [len(t.encode()) for p, t in files.items()
             if p.startswith("skills/") and (p.endswith("/SKILL.md") or p.count("/") == 1)]
    print(f"generated {total:,} model files (+{resources} bundled resource files) in {root}:\n"
          f"  {n_spaces} spaces x (readme + {per_space[0]} skills + {per_space[1]} operators), "
          f"{n_skills:,} workspace skills ({min(sizes):,}-{max(sizes):,} B, mean "
          f"{statistics.mean(sizes):,.0f} B), {n_ops} operators, {n_autos} automations")
    return {"files": total, "spaces": n_spaces, "skills": n_skills, "operators": n_ops,
            "automations": n_autos, "space_skills": per_space[0] * n_spaces,
            "space_operators": per_space[1] * n_spaces}


def counts(ws: Any) -> dict[str, int]:
    return {"files": len(ws.files), "spaces": len(ws.spaces), "skills": len(ws.skills),
            "operators": len(ws.operators), "automations": len(ws.automations),
            "space_skills": sum(len(s.skills) for s in ws.spaces.values()),
            "space_operators": sum(len(s.operators) for s in ws.spaces.values())}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def cold_load(root: Path, runs: int, expected: dict[str, int]) -> None:
    samples = []
    for i in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", LOAD, str(root)], capture_output=True,
                             text=True, check=True).stdout
        result = json.loads(out)
        if result["files"] != expected["files"] or result["errors"]:
            raise SystemExit(f"cold load read {result['files']} files, {result['errors']} errors")
        if i:  # run 0 is the warm-up
            samples.append(result)
    total = sorted(r["import"] + r["load"] for r in samples)
    imp = statistics.median(r["import"] for r in samples)
    load = statistics.median(r["load"] for r in samples)
    median = statistics.median(total)
    print(f"cold load ({expected['files']:,} files, {runs} fresh processes): median {median:.2f} s"
          f" (import {imp:.2f} s + load {load:.2f} s), worst {total[-1]:.2f} s (target <= 1 s) "
          f"{verdict(total[-1] <= 1.0)}")


def validate(root: Path, expected: dict[str, int]) -> Any:
    from cairn.core.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore

    model = WorkspaceModel(LocalFileStore(root))
    ws = model.load()
    if ws.errors or counts(ws) != expected:
        for problem in ws.errors[:10]:
            print(problem.format(), file=sys.stderr)
        raise SystemExit(f"workspace is not as generated: {counts(ws)} != {expected}, "
                         f"{len(ws.errors)} errors")
    print(f"validated: {counts(ws)}, 0 errors, {len(ws.warnings)} warnings")
    return model


def incremental(model: Any, root: Path, updates: int) -> None:
    ws = model.workspace
    skills = sorted(ws.skills.values(), key=lambda s: s.path)
    chosen = [skills[i * len(skills) // updates] for i in range(min(updates, len(skills)))]
    times = []
    for i, sk in enumerate(chosen):
        file = root / sk.path
        text = re.sub(r"^description: .*$", f'description: "Revised {i}: {sk.description[:60]}"',
                      file.read_text(encoding="utf-8"), count=1, flags=re.MULTILINE)
        file.write_text(text, encoding="utf-8")
        start = time.perf_counter()
        update = model.refresh([sk.path])
        times.append((time.perf_counter() - start) * 1000)
        if not update.changes or not update.workspace.skills[sk.name].description.startswith(
                f"Revised {i}:") or update.workspace.errors:
            raise SystemExit(f"refresh of {sk.path} did not pick up the edit")
    start = time.perf_counter()
    update = model.refresh([chosen[0].path])
    same = (time.perf_counter() - start) * 1000
    assert not update.changes
    p95 = statistics.quantiles(times, n=100)[94] if len(times) > 1 else times[0]
    print(f"incremental update ({len(times)} skill edits): p50 {statistics.median(times):.1f} ms, "
          f"p95 {p95:.1f} ms, max {max(times):.1f} ms (target <= 20 ms) {verdict(p95 <= 20)}")
    print(f"refresh of an unchanged file: {same:.2f} ms (no changes reported)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=5000, help="model files (default 5000)")
    parser.add_argument("--dir", type=Path, help="generate here (an empty or new folder)")
    parser.add_argument("--runs", type=int, default=5, help="cold-load processes (default 5)")
    parser.add_argument("--updates", type=int, default=200, help="skill edits (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as temp:
        root = (args.dir or Path(temp)).resolve()
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            parser.error(f"{root} is not empty")
        expected = generate(root, args.files, random.Random(7))
        model = validate(root, expected)
        cold_load(root, args.runs, expected)
        incremental(model, root, args.updates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
