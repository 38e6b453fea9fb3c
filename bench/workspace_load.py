"""Benchmark: load a 5,000-file workspace cold, then keep it current one file at a time.

* cold load: a fresh interpreter (`sys.executable -c ...`) times
  `import cairn.core.workspace.loader, cairn.infra.files` and
  `WorkspaceModel(LocalFileStore(dir)).load()`; one untimed warm-up, then --runs timed runs,
  median and worst. Target: median <= 1 s. The page cache is warm (the files were just
  written): "open the app", not "first open after a reboot".
* incremental update: in-process after a load, rewrite one workspace skill's description and
  time `model.refresh([path])`, over --updates different skills: p50 / p95 / max. Target:
  p95 <= 20 ms. Plus one refresh of an unchanged file.

The generated workspace (seed 7) holds exactly --files model files: agents.md; N/25 spaces,
each a readme plus 4 skills and 3 operators; 16% operators; 10% automations (cron, interval
and one-off schedules naming existing spaces, skills, operators); the rest workspace skills
(2-6 KB SKILL.md folders with license and metadata, 1 in 10 single files, 1 in 10 bundling
scripts/ and references/ files). It must load with 0 errors and the expected counts, else
exit 1; otherwise exit 0 whatever the figures: benchmarks report, they do not gate.

    .venv/bin/python bench/workspace_load.py [--files 5000] [--dir NEW_DIR] [--runs 5]
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

TEXT = """the team review draft owner decision deadline risk budget customer release summary
notes inbox priority context meeting follow-up evidence source plan estimate status memo brief
action open loop metric weekly quarter scope hiring roadmap incident vendor contract invoice
launch feedback research interview dashboard"""
WORDS = TEXT.split()
SCHEDULE_TEXT = """30 7 * * mon-fri | 0 16 * * fri | */15 9-17 * * 1-5 | 0 0 1 * * | @daily
@hourly | 0 9,13 * * * | every 2 hours | every 30 minutes | every day | every 1 week
once 2026-12-01 09:00 | at 2027-01-15 18:30"""
SCHEDULES = [part.strip() for part in SCHEDULE_TEXT.replace("\n", " | ").split(" | ")]
KEYS = ("files", "spaces", "skills", "operators", "automations", "space_skills", "space_operators")
DESCRIPTION = re.compile(r"^description: .*$", re.MULTILINE)
ZONES = ("local", "local", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
AGENTS = """---
models:
  local-small: {engine: local, path: ~/models/small.gguf, context: 8192}
  cloud-fast: {engine: litellm, model: openai/gpt-4o-mini}
roles: {worker: [cloud-fast, local-small], fast: [cloud-fast], local: [local-small]}
routing: {plan: worker, work: worker, summarise: fast, sensitive: local, memory: local}
permissions: [{tool: read_file, decision: allow}, {tool: write_file, decision: ask}]
budgets: {task: {tokens: 200000, usd: 0.5}, day: {usd: 5.0}}
---
You are a working assistant. Read the space readme before acting.
"""
AUTOMATION = """---
description: "{desc}"
schedule: "{schedule}"
timezone: {zone}
enabled: {enabled}
space: {space}
skill: {skill}
{operator}budget: {{tokens: 40000, usd: 0.05, minutes: 5}}
headless: {{allow: [read_file, search, write_file], on_approval: queue}}
---

"""
LOAD = """import json, sys, time
t0 = time.perf_counter()
import cairn.core.workspace.loader, cairn.infra.files
t1 = time.perf_counter()
store = cairn.infra.files.LocalFileStore(sys.argv[1])
ws = cairn.core.workspace.loader.WorkspaceModel(store).load()
print(json.dumps([t1 - t0, time.perf_counter() - t1, len(ws.files), len(ws.errors)]))
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
    license_ = rng.choice(("MIT", "Apache-2.0", "Proprietary"))
    head = (
        f'---\nname: {name}\ndescription: "{prose(rng, 15, 35)} Use when {prose(rng, 5, 12)}"'
        f"\nlicense: {license_}\n{tools}metadata:\n  author: {rng.choice(WORDS)}-team\n"
        f'  version: "1.{rng.randint(0, 9)}"\n---\n\n'
    )
    size = rng.randint(2048, 5200) - len(head)
    return head + body(rng, name, size, ("Inputs", "Steps", "Output", "Pitfalls", "Examples"))


def operator(rng: random.Random, name: str) -> str:
    head = f'---\nname: {name}\ndescription: "{prose(rng, 10, 25)}"\nwhen: "{prose(rng)}"\n---\n\n'
    return head + body(rng, name, rng.randint(1200, 3000), ("How to review", "Flag", "Report"))


def space(rng: random.Random, name: str) -> str:
    scope = rng.choice(("private", "team", "company"))
    memory = rng.choice(("permissive", "balanced", "cautious"))
    routing = "routing: {summarise: local}\n" if rng.random() < 0.2 else ""
    head = f'---\ndescription: "{prose(rng)}"\nscope: {scope}\nmemory: {memory}\n{routing}---\n\n'
    return head + body(rng, name, rng.randint(1500, 4000), ("Priorities", "People", "Memory"))


def generate(root: Path, total: int, rng: random.Random) -> dict[str, int]:
    """Write exactly `total` model files under `root`; return the counts to expect."""
    n_spaces, n_ops, n_autos = max(1, total // 25), total * 16 // 100, total // 10
    n_skills = total - 1 - 8 * n_spaces - n_ops - n_autos
    if n_skills < 1:
        raise SystemExit(f"--files {total} is too small for the mix; use at least 100")
    files, resources, sizes = {"agents.md": AGENTS}, 0, []
    spaces = [f"space-{i:03d}" for i in range(n_spaces)]
    skills = [f"{rng.choice(WORDS)}-skill-{i:04d}" for i in range(n_skills)]
    ops = [f"{rng.choice(WORDS)}-lens-{i:03d}" for i in range(n_ops)]
    for s in spaces:
        files[f"spaces/{s}/readme.md"] = space(rng, s)
        for j in range(4):
            files[f"spaces/{s}/skills/local-{j}/SKILL.md"] = skill(rng, f"local-{j}")
        for j in range(3):
            files[f"spaces/{s}/operators/lens-{j}.md"] = operator(rng, f"lens-{j}")
    for i, name in enumerate(skills):
        path = f"skills/{name}.md" if i % 10 == 9 else f"skills/{name}/SKILL.md"
        files[path] = skill(rng, name)
        sizes.append(len(files[path].encode()))
        if i % 10 == 3:  # bundled resources: listed, not parsed
            files[f"skills/{name}/scripts/run.py"] = "print('hello')\n"
            files[f"skills/{name}/references/guide.md"] = f"# Guide\n\n{prose(rng)}\n"
            resources += 2
    for i, name in enumerate(ops):
        path = f"operators/{name}/OPERATOR.md" if i % 8 == 0 else f"operators/{name}.md"
        files[path] = operator(rng, name)
    for i in range(n_autos):
        use = rng.choice(skills) if rng.random() < 0.7 else f"local-{rng.randint(0, 3)}"
        files[f"automations/job-{i:04d}.md"] = AUTOMATION.format(
            desc=prose(rng),
            schedule=rng.choice(SCHEDULES),
            zone=rng.choice(ZONES),
            enabled=str(rng.random() < 0.9).lower(),
            space=rng.choice(spaces),
            skill=use,
            operator=f"operator: {rng.choice(ops)}\n" if rng.random() < 0.4 else "",
        ) + body(rng, "Instruction", rng.randint(400, 1200), ("Steps", "Rules"))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    assert len(files) - resources == total
    print(
        f"generated {total:,} model files (+{resources} bundled resource files) in {root}:\n"
        f"  {n_spaces} spaces x (readme + 4 skills + 3 operators), {n_skills:,} workspace "
        f"skills ({min(sizes):,}-{max(sizes):,} B, mean {statistics.mean(sizes):,.0f} B), "
        f"{n_ops} operators, {n_autos} automations"
    )
    values = (total, n_spaces, n_skills, n_ops, n_autos, 4 * n_spaces, 3 * n_spaces)
    return dict(zip(KEYS, values, strict=True))


def counts(ws: Any) -> dict[str, int]:
    in_spaces = [(len(s.skills), len(s.operators)) for s in ws.spaces.values()]
    values = (len(ws.files), len(ws.spaces), len(ws.skills), len(ws.operators))
    values += (len(ws.automations), *(sum(column) for column in zip(*in_spaces, strict=True)))
    return dict(zip(KEYS, values, strict=True))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def validate(root: Path, expected: dict[str, int]) -> Any:
    from cairn.core.workspace.loader import WorkspaceModel
    from cairn.infra.files import LocalFileStore

    model = WorkspaceModel(LocalFileStore(root))
    ws = model.load()
    if ws.errors or counts(ws) != expected:
        print("\n".join(problem.format() for problem in ws.errors[:10]), file=sys.stderr)
        raise SystemExit(f"not as generated: {counts(ws)} != {expected}, {len(ws.errors)} errors")
    print(f"validated: {counts(ws)}, 0 errors, {len(ws.warnings)} warnings")
    return model


def cold_load(root: Path, runs: int, expected: dict[str, int]) -> None:
    samples = []
    for i in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", LOAD, str(root)], capture_output=True, text=True, check=True
        ).stdout
        imported, loaded, files, errors = json.loads(out)
        if files != expected["files"] or errors:
            raise SystemExit(f"cold load read {files} files, {errors} errors")
        if i:  # run 0 is the warm-up
            samples.append((imported, loaded))
    total = sorted(imported + loaded for imported, loaded in samples)
    imp, load = (statistics.median(column) for column in zip(*samples, strict=True))
    median = statistics.median(total)
    print(
        f"cold load ({expected['files']:,} files, {runs} fresh processes): median {median:.2f} s"
        f" (import {imp:.2f} s + load {load:.2f} s), worst {total[-1]:.2f} s "
        f"(target median <= 1 s) {verdict(median <= 1.0)}"
    )


def incremental(model: Any, root: Path, updates: int) -> None:
    skills = sorted(model.workspace.skills.values(), key=lambda s: s.path)
    chosen = [skills[i * len(skills) // updates] for i in range(min(updates, len(skills)))]
    times = []
    for i, sk in enumerate(chosen):
        file, new = root / sk.path, f"Revised {i}: {sk.description[:60]}"
        text = DESCRIPTION.sub(f'description: "{new}"', file.read_text(encoding="utf-8"), 1)
        file.write_text(text, encoding="utf-8")
        start = time.perf_counter()
        update = model.refresh([sk.path])
        times.append((time.perf_counter() - start) * 1000)
        if update.workspace.skills[sk.name].description != new or update.workspace.errors:
            raise SystemExit(f"refresh of {sk.path} did not pick up the edit")
    start = time.perf_counter()
    update = model.refresh([chosen[0].path])
    same = (time.perf_counter() - start) * 1000
    if update.changes:
        raise SystemExit(f"refresh of unchanged {chosen[0].path} reported {update.changes}")
    p95 = statistics.quantiles(times, n=100)[94] if len(times) > 1 else times[0]
    print(
        f"incremental update ({len(times)} skill edits): p50 {statistics.median(times):.1f} ms,"
        f" p95 {p95:.1f} ms, max {max(times):.1f} ms (target p95 <= 20 ms) {verdict(p95 <= 20)}"
    )
    print(f"refresh of an unchanged file: {same:.2f} ms (no changes reported)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=5000, help="model files (default 5000)")
    parser.add_argument("--dir", type=Path, help="generate here (a new or empty folder)")
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
