"""Benchmark: what the task harness costs around the model, per step and for a whole task.

* harness overhead per step: a 1,000-file workspace (the starter workspace copied into a
  temp folder, then --skills more workspace skills, --operators operators, a few space
  skills and automations, and notes in the spaces up to exactly --files files), loaded with
  `WorkspaceModel(LocalFileStore(root))`. The starter policy's models are `ScriptedEngine`s
  (cloud-fast and cloud-strong not local, 128,000-token windows; local-small local, 8,192)
  that count tokens for real, as a cloud engine does (`count_messages("openai/gpt-4o-mini",
  ...)`, tiktoken). The wiring is the CLI's (`build_runner`): router, budget guard, JSONL
  spend ledger, default guards, a `TraceWriter` recording every event, and the markdown
  record written into the space (write_record=True). Each step is a one-step task
  (space team, approvals yes, plan never), timed from building the runner to its last
  event, minus the time spent inside the engines' stream() generators (instantaneous
  here, subtracted anyway). Two variants: the model answers at once; the model calls
  read_file on a note, then answers (two model calls, one tool call). Before each task
  the ledger is put back to --ledger-records earlier records (about a week of use), so
  every step reads a ledger of the same size and the day budget is never reached.
  After --warmup tasks, --steps tasks per variant: p50 / p95 / max in ms, and the mean
  per step of the parts measured on their own (token counting outside the engine,
  routing with the sensitivity scan, budget check and ledger, trace, record).
  Target: p50 <= 5 ms. When it is missed (or with --profile), a cProfile of the
  answer-at-once variant prints the top functions by own time.
* three-step task on the tiny model: a random-weight llama GGUF from `write_tiny_model`
  (context --context), every role of a short agents.md routed to it, a small space, and a
  task run with plan="always": the planning call is grammar-constrained to PLAN_SCHEMA,
  so it returns a valid plan, and seeds are tried (base seed + call number, so a run is
  reproducible) until the plan has exactly three steps. Only that attempt is reported;
  the engine is already loaded and its grammars compiled by an untimed first task (its
  time is printed for reference). The engine is a `LocalEngine` whose stream() calls are
  timed: total wall time, time inside stream() (raw model time), model calls, and the
  ratio total / model. No target.

Exit status 0 whatever the figures (benchmarks report, they do not gate); 1 only when a
run is invalid (the workspace does not load cleanly, a task fails, no 3-step plan).

    .venv/bin/python bench/harness.py [--files 1000] [--steps 300] [--profile]
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import argparse
import cProfile
import gc
import io
import json
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineEvent,
    Message,
    ToolCall,
    ToolSpec,
)
from cairn.core.routing.budget import BudgetGuard, Spend, SpendRecord, Verdict
from cairn.core.routing.dispatch import Dispatcher
from cairn.core.routing.router import Decision, Router, Sensitivity, Step
from cairn.core.tasks.events import PlanMade, StepFinished, TaskFailed, TaskFinished, ToolResult
from cairn.core.tasks.guards import default_guards
from cairn.core.tasks.loop import TaskOptions, TaskRunner
from cairn.core.workspace.loader import WorkspaceModel, WorkspaceUpdate
from cairn.core.workspace.schema import AgentsPolicy
from cairn.engines.local import LocalEngine
from cairn.engines.tokens import count_messages, count_text
from cairn.infra.files import LocalFileStore
from cairn.infra.ledger import JsonlLedger
from cairn.infra.starter import copy_starter
from cairn.infra.trace import TraceWriter
from cairn.testing.scripted_engine import ScriptedEngine

TARGET_P50_MS = 5.0
COUNT_MODEL = "openai/gpt-4o-mini"

TEXT = """the team review draft owner decision deadline risk budget customer release summary
notes inbox priority context meeting follow-up evidence source plan estimate status memo brief
action open loop metric weekly quarter scope hiring roadmap incident vendor contract invoice
launch feedback research interview dashboard"""
WORDS = TEXT.split()
NOTE_SPACES = ("team", "company", "chief-of-staff")
REQUEST = "Summarise what the team notes say about the release and name the open risks."
ANSWER = "The release is on track; two risks stay open: vendor contract and hiring."
TINY_REQUEST = (
    "Read the bench notes, then draft a short status note, and finally list the open questions."
)


# --- the 1,000-file workspace ---------------------------------------------------------------


def prose(rng: random.Random, low: int = 6, high: int = 16) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def body(rng: random.Random, title: str, size: int, headings: Sequence[str]) -> str:
    parts, i = [f"# {title}\n"], 0
    while sum(map(len, parts)) < size:
        parts.append(f"\n## {headings[i % len(headings)]}\n\n")
        parts.append(" ".join(prose(rng) for _ in range(rng.randint(3, 6))) + "\n")
        i += 1
    return "".join(parts)


def skill_text(rng: random.Random, name: str) -> str:
    head = (
        f'---\nname: {name}\ndescription: "{prose(rng, 15, 30)} Use when {prose(rng, 5, 10)}"\n'
        f"license: MIT\n---\n\n"
    )
    return head + body(rng, name, rng.randint(1500, 4000), ("Inputs", "Steps", "Output"))


def operator_text(rng: random.Random, name: str) -> str:
    head = f'---\nname: {name}\ndescription: "{prose(rng, 10, 20)}"\nwhen: "{prose(rng)}"\n---\n\n'
    return head + body(rng, name, rng.randint(1000, 2500), ("How to review", "Flag", "Report"))


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and ".cairn" not in p.parts)


def build_workspace(root: Path, args: argparse.Namespace) -> dict[str, int]:
    """The starter workspace plus generated skills, operators and notes: --files files."""
    rng = random.Random(7)
    copy_starter(root)  # the installed starter workspace, as `cairn init` copies it
    files: dict[str, str] = {}
    skills = [f"{rng.choice(WORDS)}-skill-{i:03d}" for i in range(args.skills)]
    for i, name in enumerate(skills):
        files[f"skills/{name}/SKILL.md"] = skill_text(rng, name)
        if i % 10 == 3:  # a bundled reference: listed with the skill, not parsed
            files[f"skills/{name}/references/guide.md"] = f"# Guide\n\n{prose(rng)}\n"
    for j in range(3):
        files[f"spaces/team/skills/team-skill-{j}/SKILL.md"] = skill_text(rng, f"team-skill-{j}")
    for i in range(args.operators):
        name = f"{rng.choice(WORDS)}-lens-{i:03d}"
        files[f"operators/{name}.md"] = operator_text(rng, name)
    for i in range(8):
        files[f"automations/job-{i:02d}.md"] = (
            f'---\ndescription: "{prose(rng)}"\nschedule: "every day"\nspace: team\n'
            f"skill: {rng.choice(skills)}\nenabled: false\n---\n\n{prose(rng)}\n"
        )
    existing = count_files(root) + len(files)
    notes = args.files - existing
    if notes < 10:
        raise SystemExit(f"--files {args.files} is too small: the rest already makes {existing}")
    for i in range(notes):
        space = NOTE_SPACES[i % len(NOTE_SPACES)]
        folder = "inbox" if space == "chief-of-staff" else "notes"
        text = body(rng, f"Note {i}", rng.randint(800, 3000), ("Context", "Decisions", "Open"))
        files[f"spaces/{space}/{folder}/note-{i:04d}.md"] = text
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return {"files": count_files(root), "notes": notes}


# --- engines and wiring that measure themselves ---------------------------------------------


@dataclass
class Meter:
    """Seconds spent, by part; `in_model` is true while an engine's stream() runs."""

    seconds: dict[str, float] = field(default_factory=dict)
    in_model: bool = False

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + seconds

    def take(self) -> dict[str, float]:
        taken, self.seconds = self.seconds, {}
        return taken


def timed_stream(events: Iterator[EngineEvent], meter: Meter) -> Iterator[EngineEvent]:
    """Re-yield `events`, adding the time spent inside the generator to meter['model']."""
    while True:
        meter.in_model = True
        start = time.perf_counter()
        try:
            event = next(events)
        except StopIteration:
            return
        finally:
            meter.add("model", time.perf_counter() - start)
            meter.in_model = False
        yield event


@dataclass
class CountingEngine(ScriptedEngine):
    """A scripted engine that counts tokens as a cloud engine does, and times its stream."""

    meter: Meter = field(default_factory=Meter)

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
        if self.meter.in_model:  # the scripted engine counts its own prompt: model time
            return self._count(messages, tools)
        start = time.perf_counter()
        try:
            return self._count(messages, tools)
        finally:
            self.meter.add("tokens", time.perf_counter() - start)

    def _count(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        """As the cloud engine counts: the messages, plus the tool schemas it sends."""
        count = count_messages(COUNT_MODEL, messages)
        if tools:
            schemas = json.dumps([[t.name, t.description, dict(t.parameters)] for t in tools])
            count += count_text(COUNT_MODEL, schemas)
        return count

    def stream(
        self, request: ChatRequest, cancel: CancelToken | None = None
    ) -> Iterator[EngineEvent]:
        return timed_stream(super().stream(request, cancel), self.meter)


class TimedRouter(Router):
    meter: Meter

    def assess(self, step: Step) -> Sensitivity:
        start = time.perf_counter()
        try:
            return super().assess(step)
        finally:
            self.meter.add("routing", time.perf_counter() - start)

    def decide(self, step: Step, *args: Any, **kwargs: Any) -> Decision:
        start = time.perf_counter()
        try:
            return super().decide(step, *args, **kwargs)
        finally:
            self.meter.add("routing", time.perf_counter() - start)


class TimedGuard(BudgetGuard):
    meter: Meter

    def check(self, projected: Spend) -> Verdict:
        start = time.perf_counter()
        try:
            return super().check(projected)
        finally:
            self.meter.add("budget", time.perf_counter() - start)


class TimedLedger(JsonlLedger):
    meter: Meter

    def append(self, record: SpendRecord) -> None:
        start = time.perf_counter()
        try:
            super().append(record)
        finally:
            self.meter.add("budget", time.perf_counter() - start)


class TimedModel(WorkspaceModel):
    meter: Meter

    def write(self, path: str, text: str, base_hash: str | None) -> WorkspaceUpdate:
        start = time.perf_counter()
        try:
            return super().write(path, text, base_hash)
        finally:
            self.meter.add("record", time.perf_counter() - start)


def seed_ledger(ledger: JsonlLedger, records: int) -> bytes:
    """About a week of earlier calls (a few dozen of them today); returns the file's bytes."""
    rng = random.Random(3)
    now = datetime.now().astimezone()
    models = ("cloud-fast", "cloud-strong", "local-small")
    ledger.path.parent.mkdir(parents=True, exist_ok=True)
    ledger.path.write_bytes(b"")
    for i in range(records):
        model = rng.choice(models)
        ledger.append(
            SpendRecord(
                at=now - timedelta(minutes=50 * (records - i)),
                model=model,
                local=model == "local-small",
                input_tokens=rng.randint(1500, 9000),
                output_tokens=rng.randint(50, 900),
                cost_usd=0.0 if model == "local-small" else round(rng.uniform(0.0005, 0.02), 6),
                task=f"earlier-{i:04d}",
            )
        )
    return ledger.path.read_bytes()


@dataclass
class Harness:
    root: Path
    model: TimedModel
    policy: AgentsPolicy
    engines: dict[str, CountingEngine]
    ledger: TimedLedger
    ledger_bytes: bytes
    meter: Meter

    def price(self, name: str, input_tokens: int, output_tokens: int) -> float | None:
        engine = self.engines[name]
        return 0.0 if engine.is_local else (input_tokens * 0.15 + output_tokens * 0.6) / 1e6

    def run_task(self, number: int, script: list[str | ToolCall]) -> tuple[float, float]:
        """One one-step task, the CLI's way; (seconds in all, seconds inside stream())."""
        for engine in self.engines.values():
            engine.script = list(script)
            engine.requests.clear()
        self.ledger.path.write_bytes(self.ledger_bytes)  # the same ledger before every task
        self.meter.take()
        task = f"bench-{number:05d}"
        start = time.perf_counter()
        guard = TimedGuard(self.policy.budgets, self.ledger, task=task)
        guard.meter = self.meter
        router = TimedRouter(self.policy)
        router.meter = self.meter
        dispatcher = Dispatcher(
            router, self.engines.__getitem__, ledger=self.ledger, guard=guard, price=self.price
        )
        runner = TaskRunner(
            self.model, dispatcher, guards=default_guards(guard), task_id=task, write_record=True
        )
        trace = TraceWriter(self.root, task)
        options = TaskOptions(space="team", approvals="yes", plan="never")
        finished = None
        for event in runner.run(REQUEST, options):
            mark = time.perf_counter()
            trace.record(event)
            self.meter.add("trace", time.perf_counter() - mark)
            if isinstance(event, TaskFinished | TaskFailed):
                finished = event
            elif isinstance(event, ToolResult) and not event.ok:
                raise SystemExit(f"INVALID: {event.name} failed in task {task}: {event.output}")
        total = time.perf_counter() - start
        if not isinstance(finished, TaskFinished) or finished.record is None:
            raise SystemExit(f"INVALID: task {task} did not finish with a record: {finished}")
        return total, self.meter.seconds.get("model", 0.0)


def make_harness(root: Path, ledger_records: int) -> Harness:
    meter = Meter()
    model = TimedModel(LocalFileStore(root))
    model.meter = meter
    workspace = model.load()
    if workspace.errors or workspace.agents is None:
        problems = "; ".join(str(d) for d in workspace.errors[:5])
        raise SystemExit(f"INVALID: the generated workspace does not load cleanly: {problems}")
    policy = workspace.agents.policy
    engines = {
        name: CountingEngine(
            name,
            [ANSWER],
            is_local=name == "local-small",
            context_window=8192 if name == "local-small" else 128_000,
            meter=meter,
        )
        for name in policy.models
    }
    ledger = TimedLedger(root / ".cairn" / "spend.jsonl")
    ledger.meter = meter
    ledger_bytes = seed_ledger(ledger, ledger_records)
    return Harness(root, model, policy, engines, ledger, ledger_bytes, meter)


PARTS = ("tokens", "routing", "budget", "trace", "record")


def overhead(harness: Harness, args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    variants: dict[str, Any] = {
        "answer": lambda n: [ANSWER],
        "read_file": lambda n: [
            ToolCall(f"call-{n}", "read_file", {"path": notes[n % len(notes)]}),
            ANSWER,
        ],
    }
    number = 0
    for name, script in variants.items():
        samples: list[float] = []
        parts = dict.fromkeys(PARTS, 0.0)
        for i in range(args.warmup + args.steps):
            number += 1
            total, model = harness.run_task(number, script(number))
            if i >= args.warmup:
                samples.append((total - model) * 1000)
                for part, seconds in harness.meter.seconds.items():
                    if part in parts:
                        parts[part] += seconds * 1000
        samples.sort()
        sent = [r for e in harness.engines.values() for r in e.requests]
        results[name] = {
            "prompt": count_messages(COUNT_MODEL, sent[-1].messages),
            "p50": statistics.median(samples),
            "p95": samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)],
            "max": samples[-1],
            "parts": {k: v / len(samples) for k, v in parts.items()},
        }
    return results


def profile(harness: Harness, tasks: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(tasks):
        harness.run_task(900_000 + n, [ANSWER])
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


# --- the three-step task on the tiny model --------------------------------------------------


class TimedLocal(LocalEngine):
    """A LocalEngine whose stream() calls are timed; call n of a run samples with seed base+n."""

    base_seed: int | None = None
    calls = 0
    model_s = 0.0

    def stream(
        self, request: ChatRequest, cancel: CancelToken | None = None
    ) -> Iterator[EngineEvent]:
        if self.base_seed is not None:
            request = replace(request, seed=self.base_seed + self.calls)
        self.calls += 1
        meter = Meter()
        try:
            yield from timed_stream(super().stream(request, cancel), meter)
        finally:
            self.model_s += meter.seconds.get("model", 0.0)


def tiny_workspace(root: Path, gguf: Path, context: int, starter: AgentsPolicy) -> None:
    copy_starter(root)
    permissions = "".join(
        f"  - {json.dumps(r.model_dump(exclude_none=True))}\n" for r in starter.permissions
    )
    kinds = ("plan", "work", "summarise", "sensitive", "approval", "memory")
    (root / "agents.md").write_text(
        "---\nname: Bench\nmodels:\n"
        f"  local-small: {{engine: local, path: {json.dumps(str(gguf))}, context: {context}}}\n"
        "roles: {local: [local-small]}\n"
        f"routing: {{{', '.join(f'{k}: local' for k in kinds)}}}\n"
        f"permissions:\n{permissions}"
        f"budgets: {json.dumps(starter.budgets.model_dump(exclude_none=True))}\n"
        "plan_approval: multi-step\n---\n\n"
        "You are Cairn, a working assistant. Lead with the answer, keep it short, and cite "
        "the files you used by path.\n",
        encoding="utf-8",
    )
    (root / "spaces/bench/notes").mkdir(parents=True)
    (root / "spaces/bench/readme.md").write_text(
        '---\ndescription: "A small space for the harness benchmark."\nscope: team\n---\n\n'
        "# Bench\n\nNotes live in `notes/`. The release is due on Friday.\n",
        encoding="utf-8",
    )
    (root / "spaces/bench/notes/status.md").write_text(
        "# Status\n\nThe release is on track. Open: the vendor contract, one hire.\n",
        encoding="utf-8",
    )


@dataclass
class TinyRun:
    total_s: float
    model_s: float
    calls: int
    steps: int
    tool_calls: int
    finished: bool


def tiny_task(
    model: WorkspaceModel, root: Path, engine: TimedLocal, seed: int, want_steps: int | None
) -> TinyRun:
    """Run the task; give up right after the plan when it does not have `want_steps` steps."""
    policy = model.workspace.agents.policy if model.workspace.agents else None
    assert policy is not None
    engine.base_seed, engine.calls, engine.model_s = seed, 0, 0.0
    task = f"tiny-{seed:04d}"
    start = time.perf_counter()
    ledger = JsonlLedger.for_workspace(root)
    guard = BudgetGuard(policy.budgets, ledger, task=task)
    dispatcher = Dispatcher(
        Router(policy), lambda name: engine, ledger=ledger, guard=guard, price=lambda *a: 0.0
    )
    runner = TaskRunner(model, dispatcher, guards=default_guards(guard), task_id=task)
    trace = TraceWriter(root, task)
    options = TaskOptions(space="bench", approvals="yes", plan="always", max_tokens=64)
    steps = tool_calls = 0
    finished = False
    events = runner.run(TINY_REQUEST, options)
    for event in events:
        trace.record(event)
        if isinstance(event, PlanMade):
            steps = len(event.plan.steps)
            if want_steps is not None and steps != want_steps:
                events.close()
                break
        elif isinstance(event, StepFinished):
            tool_calls += event.tool_calls
        elif isinstance(event, TaskFailed):
            print(f"  task {task} failed: {event.reason}")
        elif isinstance(event, TaskFinished):
            finished = True
    total = time.perf_counter() - start
    return TinyRun(total, engine.model_s, engine.calls, steps, tool_calls, finished)


def three_step(args: argparse.Namespace, temp: Path, starter: AgentsPolicy) -> TinyRun | None:
    from cairn.testing.tiny_gguf import write_tiny_model

    gguf = write_tiny_model(
        temp / "tiny.gguf",
        context_length=args.context,
        embedding=args.embedding,
        layers=args.layers,
        heads=args.heads,
        feed_forward=args.feed_forward,
    )
    root = temp / "tiny-workspace"
    tiny_workspace(root, gguf, args.context, starter)
    model = WorkspaceModel(LocalFileStore(root))
    if model.load().errors:
        raise SystemExit(f"INVALID: the tiny workspace does not load: {model.workspace.errors}")
    engine = TimedLocal("local-small", gguf, context=args.context, threads=args.threads)
    start = time.perf_counter()
    engine.load()
    print(
        f"  tiny model: {gguf.stat().st_size / 1e6:.1f} MB, context {args.context}, "
        f"loaded in {time.perf_counter() - start:.2f} s (not counted below)"
    )
    first = tiny_task(model, root, engine, args.seed + 10_000, None)
    print(
        f"  untimed first task (compiles the plan and tool grammars): {first.total_s:.2f} s, "
        f"{first.model_s:.2f} s in {first.calls} model calls, {first.steps}-step plan"
    )
    for attempt in range(args.tries):
        run = tiny_task(model, root, engine, args.seed + attempt * 100, 3)
        if run.steps == 3:
            print(
                f"  3-step plan with base seed {args.seed + attempt * 100} (attempt {attempt + 1})"
            )
            return run if run.finished else None
    return None


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="workspace files (1000)")
    parser.add_argument("--skills", type=int, default=100, help="generated skills (100)")
    parser.add_argument("--operators", type=int, default=20, help="generated operators (20)")
    parser.add_argument("--ledger-records", type=int, default=200, help="earlier spend (200)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed tasks per variant (30)")
    parser.add_argument("--steps", type=int, default=300, help="timed tasks per variant (300)")
    parser.add_argument("--profile", action="store_true", help="profile even if the target is met")
    parser.add_argument("--profile-tasks", type=int, default=100, help="tasks profiled (100)")
    tiny = parser.add_argument_group("the tiny model")
    tiny.add_argument("--context", type=int, default=4096, help="context window (4096)")
    tiny.add_argument("--embedding", type=int, default=64)
    tiny.add_argument("--layers", type=int, default=2)
    tiny.add_argument("--heads", type=int, default=4)
    tiny.add_argument("--feed-forward", type=int, default=128)
    tiny.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default)")
    tiny.add_argument("--seed", type=int, default=1, help="first base seed (1)")
    tiny.add_argument("--tries", type=int, default=60, help="seeds to try for 3 steps (60)")
    args = parser.parse_args()
    if args.steps < 20:
        parser.error("--steps must be at least 20")

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cairn-harness-") as name:
        temp = Path(name)
        root = temp / "workspace"
        counts = build_workspace(root, args)
        harness = make_harness(root, args.ledger_records)
        workspace = harness.model.workspace
        skills = len(workspace.skills_for("team"))
        notes = sorted(
            p.relative_to(root).as_posix() for p in (root / "spaces/team/notes").glob("*.md")
        )
        print(
            f"workspace: {counts['files']:,} files ({len(workspace.files)} model files: "
            f"{skills} skills visible in space team, {len(workspace.operators)} operators, "
            f"{counts['notes']} notes); ledger {args.ledger_records} earlier records"
        )
        gc.collect()
        results = overhead(harness, args, notes)
        for variant, label in (("answer", "answers at once"), ("read_file", "read_file, answer")):
            r = results[variant]
            parts = ", ".join(f"{k} {v:.2f}" for k, v in r["parts"].items())
            print(
                f"  {label:<18} p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms, "
                f"max {r['max']:.2f} ms; last prompt {r['prompt']:,} tokens\n"
                f"    mean per step inside that, ms: {parts}"
            )
        missed = results["answer"]["p50"] > TARGET_P50_MS
        if missed or args.profile:
            print(f"\nprofile of {args.profile_tasks} answer-at-once tasks:")
            print(profile(harness, args.profile_tasks))

        print("\nthree-step task on the tiny model:")
        run = three_step(args, temp, harness.policy)

    a, t = results["answer"], results["read_file"]
    verdict = "FAIL" if missed else "PASS"
    print(
        f"\nharness overhead per step ({counts['files']:,}-file workspace, scripted engine): "
        f"p50 {a['p50']:.1f} ms, p95 {a['p95']:.1f} ms, max {a['max']:.1f} ms "
        f"(target p50 <= {TARGET_P50_MS:g} ms) {verdict}"
    )
    # A step that uses a tool makes two model calls; the target is stated per step, so
    # report it as it is, and per model call alongside.
    tool_verdict = "PASS" if t["p50"] <= TARGET_P50_MS else "over"
    print(
        f"harness overhead per step with one read_file call (2 model calls + 1 tool call): "
        f"p50 {t['p50']:.1f} ms ({t['p50'] / 2:.1f} ms per model call), p95 {t['p95']:.1f} ms, "
        f"max {t['max']:.1f} ms (target p50 <= {TARGET_P50_MS:g} ms per step) {tool_verdict}"
    )
    if run is None:
        print("three-step task on the tiny model: INVALID (no finished 3-step plan; try --tries)")
        return 1
    print(
        f"three-step task on the tiny model: {run.total_s:.2f} s total, {run.model_s:.2f} s in "
        f"{run.calls} model calls ({run.tool_calls} tool calls) → ratio "
        f"{run.total_s / run.model_s:.2f}"
    )
    print(f"(benchmark ran {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
