"""Benchmark: what the task harness costs around the model, per step and for a whole task.

The runner timed is the one `cairn run` builds, `cairn.runtime.build_runner(model, root,
task_id=...)`, with everything it wires: router, budget guard, JSONL spend ledger, approval
queue, the approval judge (agents.md routes `approval`), recall from the memory index (opened
and repaired at every build, as at every `cairn run`), the memory step after the task, the
default guards, and the markdown record written into the space; a `TraceWriter` is opened,
fed every event and closed, as the CLI does. The bench only puts timing wrappers around the
objects the runtime built (the dispatcher's engine lookup, the router, guard, ledger, price,
recall, judge and memory step): nothing is rebuilt, nothing is left out.

* harness overhead per step: a 1,000-file workspace (the starter workspace copied into a
  temp folder, then --skills more workspace skills, --operators operators, a few space
  skills and automations, --memories archived memories in the team and company spaces that
  the request recalls, and notes in the spaces up to exactly --files files), loaded once with
  `WorkspaceModel(LocalFileStore(root))`. agents.md keeps the starter's roles, routing,
  permissions and budgets; its models point at two loopback `OpenAIStub` servers, reached
  through litellm by the real `CloudEngine` (OpenAI's chat-completions protocol, streamed):
  cloud-fast (openai/gpt-4o-mini) and cloud-strong (openai/gpt-4o) at one, declared
  `local: false` and priced from litellm's bundled map; local-small at the other, declared
  `local: true`, context 8,192. Each step is a one-step task (space team, plan never), timed
  from the call to build_runner to the trace closed, minus the time spent inside the engines'
  stream() generators (litellm, the HTTP round trip and the stub answering: the model's
  time; litellm finishes each call on its logging threads, and the bench waits for that
  inside the engine's time, so it does not slow the harness while it is timed). Three
  variants: the model answers at once; the model calls read_file on a note,
  then answers (two model calls, one tool call); the model writes a draft into
  spaces/team/drafts/ (allowed by agents.md), the judge on local-small rates it high risk,
  so the write is queued for a person as a headless `cairn run` does (approvals "queue";
  the other variants "yes"), then the model answers. After each task the memory step asks
  local-small, which proposes nothing, so every task sees the same workspace. Before each
  task the ledger is put back to --ledger-records earlier records (about a week of use) and
  the approval queue emptied. After --warmup tasks, --steps tasks per variant: p50 / p95 /
  max in ms, and the mean per step of the parts measured on their own (each excluding the
  others it contains): build_runner, recall, tokens (counting and context windows outside
  the engine), routing with the sensitivity scan, budget (the guard's checks), ledger
  (appends), price (look-ups before a call), judge, memory step, trace, writes (the task
  record); "loop" is the rest. Target: p50 <= 5 ms. When it is missed (or with --profile),
  a cProfile of the answer-at-once variant (with the cross-check's in-process engines, so
  litellm does not fill the listing) prints the top functions by own time.
* cross-check of the subtraction: --check-steps answer-at-once tasks with the same wiring,
  but the dispatcher's engines are in-process `ScriptedEngine`s (counting tokens with
  tiktoken, as a cloud engine does) instead of litellm and the stubs; the same figure
  measured both ways, and their ratio, say how much of the engines the subtraction leaves.
* three-step task on the tiny model: a random-weight llama GGUF from `write_tiny_model`
  (context --context), every role of a short agents.md routed to it (its judge and memory
  step too), a small space, and a task run with plan="always" on build_runner's runner:
  the planning call is grammar-constrained to PLAN_SCHEMA, so it returns a valid plan, and
  seeds are tried (base seed + call number, so a run is reproducible) until the plan has
  exactly three steps. Only that attempt is reported; the engine (built by
  `cairn.runtime.build_engine` from agents.md, and kept warm across runners as `Engines`
  keeps it) is already loaded and its grammars compiled by an untimed first task (its time
  is printed for reference). Its stream() calls are timed: total wall time, time inside
  stream() (raw model time), model calls, and the ratio total / model. No target.

Exit status 0 whatever the figures (benchmarks report, they do not gate); 1 only when a
run is invalid (the workspace does not load cleanly, a task fails or goes to another model
than planned, no 3-step plan).

    .venv/bin/python bench/harness.py [--files 1000] [--steps 300] [--profile]
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
# Never the user's keychain or keys: an empty in-memory keyring, and a dummy key that only
# ever reaches the loopback stubs.
os.environ["PYTHON_KEYRING_BACKEND"] = "cairn.testing.memory_keyring.MemoryKeyring"
os.environ["OPENAI_API_KEY"] = "sk-bench-loopback-000000000000"

import argparse
import cProfile
import gc
import io
import json
import logging
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cairn.core.engine import (
    CancelToken,
    ChatRequest,
    EngineEvent,
    Message,
    ToolSpec,
)
from cairn.core.routing.budget import SpendRecord
from cairn.core.routing.dispatch import Dispatcher, Routed
from cairn.core.tasks.events import (
    ApprovalDecided,
    MemoryRecalled,
    PlanMade,
    StepFinished,
    TaskFailed,
    TaskFinished,
    ToolResult,
)
from cairn.core.tasks.loop import TaskOptions, TaskRunner
from cairn.core.workspace.loader import WorkspaceModel, WorkspaceUpdate
from cairn.engines.tokens import count_messages, count_text
from cairn.infra.files import LocalFileStore
from cairn.infra.ledger import JsonlLedger
from cairn.infra.redaction import install_log_redaction
from cairn.infra.starter import copy_starter
from cairn.infra.trace import TraceWriter
from cairn.runtime import build_engine, build_runner
from cairn.testing.openai_stub import OpenAIStub
from cairn.testing.scripted_engine import ScriptedEngine

if TYPE_CHECKING:  # the engine protocol (annotations only)
    from cairn.core.ports import ChatEngine

TARGET_P50_MS = 5.0
COUNT_MODEL = "openai/gpt-4o-mini"

TEXT = """the team review draft owner decision deadline risk budget customer release summary
notes inbox priority context meeting follow-up evidence source plan estimate status memo brief
action open loop metric weekly quarter scope hiring roadmap incident vendor contract invoice
launch feedback research interview dashboard"""
WORDS = TEXT.split()
NOTE_SPACES = ("team", "company", "chief-of-staff")
MEMORY_SPACES = ("team", "company")
REQUEST = "Summarise what the team notes say about the release and name the open risks."
ANSWER = "The release is on track; two risks stay open: vendor contract and hiring."
NOTHING_TO_KEEP = '{"items": []}'
HIGH_RISK = '{"risk": "high", "reason": "replaces a shared draft"}'
DRAFT = "# Release status\n\nOn track. Open risks: the vendor contract and one hire.\n"
TINY_REQUEST = (
    "Read the bench notes, then draft a short status note, and finally list the open questions."
)
PAST = time.time() - 3600  # memory files older than the index's racy-mtime window


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


def memory_note(rng: random.Random, i: int, space: str) -> tuple[str, str]:
    """An archived memory in the documented format (docs/memory.md): (path, text)."""
    day = datetime(2026, 1, 1) + timedelta(days=i % 300)
    date, item = f"{day:%Y-%m-%d}", f"{rng.getrandbits(32):08x}"
    path = f"spaces/{space}/memory/archive/{day:%Y/%m}/{date}-bench-{i:04d}-{item}.md"
    text = (
        f"---\nid: {item}\ndate: {date}\nsource: user-said\nvalue: 0.3\nspace: {space}\n"
        f"origin: history/{day:%Y%m%d}-1400-task.md\n---\n{prose(rng, 8, 20)}\n"
    )
    return path, text


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and ".cairn" not in p.parts)


def build_workspace(root: Path, args: argparse.Namespace) -> dict[str, int]:
    """The starter workspace plus generated skills, operators, memories and notes."""
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
    memories = dict(
        memory_note(rng, i, MEMORY_SPACES[i % len(MEMORY_SPACES)]) for i in range(args.memories)
    )
    files.update(memories)
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
        if path in memories:  # settled on disk: repair() stats them, never re-reads them
            os.utime(target, (PAST, PAST))
    return {"files": count_files(root), "notes": notes, "memories": len(memories)}


def stub_models(cloud: OpenAIStub, local: OpenAIStub) -> dict[str, Any]:
    """agents.md's models at the loopback stubs (see tests/hostile/conftest.py)."""
    remote = {"engine": "litellm", "api_base": cloud.base_url, "local": False}
    return {
        "local-small": {
            "engine": "litellm",
            "model": "openai/local-stub",
            "api_base": local.base_url,
            "local": True,
            "context": 8192,
        },
        "cloud-fast": {**remote, "model": "openai/gpt-4o-mini"},
        "cloud-strong": {**remote, "model": "openai/gpt-4o"},
    }


def write_models(root: Path, models: dict[str, Any]) -> None:
    """Replace agents.md's models; keep its roles, routing, permissions, budgets and body."""
    agents = root / "agents.md"
    text = agents.read_text(encoding="utf-8")
    end = text.index("\n---\n", 4)
    front = yaml.safe_load(text[4:end])
    front["models"] = models
    agents.write_text(
        "---\n" + yaml.safe_dump(front, sort_keys=False) + text[end + 1 :], encoding="utf-8"
    )


# --- timing wrappers around what the runtime built --------------------------------------------


class Meter:
    """Seconds spent, by part. Timed sections nest; each part gets its own time only (a
    section's time less the sections timed inside it), so the parts add up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._open: list[list[float]] = []  # [start, seconds in nested sections]

    def take(self) -> dict[str, float]:
        taken, self.seconds = self.seconds, {}
        return taken

    def enter(self) -> None:
        self._open.append([time.perf_counter(), 0.0])

    def leave(self, part: str) -> None:
        start, inner = self._open.pop()
        elapsed = time.perf_counter() - start
        self.seconds[part] = self.seconds.get(part, 0.0) + elapsed - inner
        if self._open:
            self._open[-1][1] += elapsed

    def timed(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[part] = self.calls.get(part, 0) + 1
            self.enter()
            try:
                return function(*args, **kwargs)
            finally:
                self.leave(part)

        return call

    def timed_iter(self, part: str, events: Generator[Any, None, Any]) -> Generator[Any, None, Any]:
        """Re-yield `events`, timing every step as `part`; returns what they return."""
        while True:
            self.enter()
            try:
                event = next(events)
            except StopIteration as stop:
                return stop.value
            finally:
                self.leave(part)
            yield event

    def timed_generator(self, part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[part] = self.calls.get(part, 0) + 1
            return (yield from self.timed_iter(part, function(*args, **kwargs)))

        return call


class TimedEngine:
    """An engine as the dispatcher sees it: stream() timed as the model's time, counting
    tokens and reading the window timed on their own; every request kept."""

    def __init__(self, engine: ChatEngine, meter: Meter, base_seed: int | None = None) -> None:
        self.engine = engine
        self.meter = meter
        self.base_seed = base_seed  # call n of a run samples with seed base + n
        self.requests: list[ChatRequest] = []

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def is_local(self) -> bool:
        return self.engine.is_local

    @property
    def context_window(self) -> int | None:
        self.meter.enter()
        try:
            return self.engine.context_window
        finally:
            self.meter.leave("tokens")

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
        self.meter.enter()
        try:
            return self.engine.count_tokens(messages, tools)
        finally:
            self.meter.leave("tokens")

    def stream(
        self, request: ChatRequest, cancel: CancelToken | None = None
    ) -> Iterator[EngineEvent]:
        if self.base_seed is not None:
            request = replace(request, seed=self.base_seed + len(self.requests))
        self.requests.append(request)
        self.meter.calls["model"] = self.meter.calls.get("model", 0) + 1
        return self._timed(self.engine.stream(request, cancel))

    def _timed(self, events: Iterator[EngineEvent]) -> Iterator[EngineEvent]:
        meter = self.meter
        while True:
            meter.enter()
            try:
                event = next(events)
            except StopIteration:
                return
            finally:
                LITELLM_BACKLOG.settle()  # the engine's own work, finished on litellm's threads
                meter.leave("model")
            yield event


class LitellmBacklog:
    """litellm ends a streamed call on its logging threads (success handlers, cost
    bookkeeping), after stream() has returned: the engine's work, which would otherwise
    take the processor from the harness while it is being timed. Every task litellm hands
    its logging executor is recorded, and `settle()`, called after each step of a stream
    inside the engine's time, waits until they are done."""

    def __init__(self) -> None:
        self.pending: list[Future[Any]] = []
        self.hooked = False

    def hook(self) -> None:
        try:
            from litellm.litellm_core_utils.thread_pool_executor import executor
        except ImportError:  # another litellm: its background work counts as the harness's
            return
        submit = executor.submit

        def recording(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            future = submit(function, *args, **kwargs)
            self.pending.append(future)
            return future

        executor.submit = recording  # type: ignore[method-assign]
        self.hooked = True

    def settle(self) -> None:
        while self.pending:  # a handler may hand on more work
            batch, self.pending = self.pending, []
            wait(batch)


LITELLM_BACKLOG = LitellmBacklog()


class TimedEngines:
    """In the built dispatcher's place for its engines: the runtime's `Engines` (built for
    this task, as `cairn run` builds them), or an engine kept across tasks, timed."""

    def __init__(
        self, runtime: Callable[[str], ChatEngine], timed: dict[str, TimedEngine], meter: Meter
    ) -> None:
        self.runtime, self.timed, self.meter = runtime, timed, meter

    def __call__(self, name: str) -> ChatEngine:
        found = self.timed.get(name)
        if found is None:
            found = self.timed[name] = TimedEngine(self.runtime(name), self.meter)
        return found


def instrument(
    runner: TaskRunner, dispatcher: Dispatcher, meter: Meter, timed: dict[str, TimedEngine]
) -> None:
    """Timing wrappers around the objects build_runner made; the wiring stays as it is."""
    dispatcher.engines = TimedEngines(dispatcher.engines, timed, meter)
    router = dispatcher.router
    router.assess = meter.timed("routing", router.assess)  # type: ignore[method-assign]
    router.decide = meter.timed("routing", router.decide)  # type: ignore[method-assign]
    if dispatcher.guard is not None:
        guard = dispatcher.guard
        guard.check = meter.timed("budget", guard.check)  # type: ignore[method-assign]
    if dispatcher.ledger is not None:
        ledger = dispatcher.ledger
        ledger.append = meter.timed("ledger", ledger.append)  # type: ignore[method-assign]
    if dispatcher.price is not None:
        dispatcher.price = meter.timed("price", dispatcher.price)
    if runner.recall is not None:
        runner.recall = meter.timed("recall", runner.recall)
    if runner.remember is not None:
        runner.remember = meter.timed_generator("memory", runner.remember)
    if runner.calls.risk is not None:
        runner.calls.risk = meter.timed_generator("judge", runner.calls.risk)


class TimedModel(WorkspaceModel):
    meter: Meter

    def write(self, path: str, text: str, base_hash: str | None) -> WorkspaceUpdate:
        self.meter.enter()
        try:
            return super().write(path, text, base_hash)
        finally:
            self.meter.leave("writes")


@dataclass
class CountingEngine(ScriptedEngine):
    """A scripted engine that counts tokens as a cloud engine does (tiktoken)."""

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
        count = count_messages(COUNT_MODEL, messages)
        if tools:  # as the cloud engine counts: the messages, plus the tool schemas it sends
            schemas = json.dumps([[t.name, t.description, dict(t.parameters)] for t in tools])
            count += count_text(COUNT_MODEL, schemas)
        return count


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


# --- the per-step overhead --------------------------------------------------------------------


@dataclass
class Variant:
    label: str
    approvals: str
    cloud: Callable[[int], list[str | dict[str, Any]]]  # what cloud-fast answers, in order
    local: list[str]  # what local-small answers before the memory step's NOTHING_TO_KEEP
    denied: int = 0  # tool calls the task is expected to see refused (queued)


@dataclass
class Wiring:
    """What build_runner wired, and how often each part ran in the timed tasks."""

    wired: dict[str, bool] = field(default_factory=dict)
    ran: dict[str, int] = field(default_factory=dict)

    def add(self, part: str, times: int) -> None:
        self.ran[part] = self.ran.get(part, 0) + times


@dataclass
class Harness:
    root: Path
    model: TimedModel
    cloud: OpenAIStub
    local: OpenAIStub
    ledger_path: Path
    ledger_bytes: bytes
    meter: Meter
    wiring: Wiring = field(default_factory=Wiring)
    timed: dict[str, TimedEngine] = field(default_factory=dict)  # the last task's engines

    def reset(self, variant: Variant, number: int) -> None:
        """Untimed: the same ledger, an empty approval queue, the stubs' answers."""
        self.ledger_path.write_bytes(self.ledger_bytes)
        shutil.rmtree(self.root / ".cairn" / "approvals", ignore_errors=True)
        self.cloud.state.script = list(variant.cloud(number))
        self.cloud.state.requests.clear()
        self.local.state.script = [*variant.local, NOTHING_TO_KEEP]
        self.local.state.requests.clear()

    def run_task(
        self, number: int, variant: Variant, scripted: dict[str, ScriptedEngine] | None = None
    ) -> tuple[float, float]:
        """One one-step task on build_runner's runner; (seconds in all, seconds in engines).

        With `scripted`, those engines answer in place of the runtime's (the cross-check)."""
        self.reset(variant, number)
        meter = self.meter
        meter.take()
        timed = {name: TimedEngine(engine, meter) for name, engine in (scripted or {}).items()}
        task = f"bench-{number:05d}"
        start = time.perf_counter()
        meter.enter()
        runner, dispatcher = build_runner(self.model, self.root, task_id=task)
        meter.leave("build")
        mark = time.perf_counter()
        instrument(runner, dispatcher, meter, timed)
        wrapping = time.perf_counter() - mark  # the bench's own doing: not counted
        trace = TraceWriter(self.root, runner.task)
        meter.enter()
        trace.open()
        meter.leave("trace")
        options = TaskOptions(space="team", approvals=variant.approvals, plan="never")  # type: ignore[arg-type]
        finished: TaskFinished | TaskFailed | None = None
        first_route, denied, recalled, queued = None, 0, 0, 0
        for event in runner.run(REQUEST, options):
            meter.enter()
            trace.record(event)
            meter.leave("trace")
            if isinstance(event, TaskFinished | TaskFailed):
                finished = event
            elif isinstance(event, Routed) and first_route is None:
                first_route = event.decision.chosen
            elif isinstance(event, ToolResult) and not event.ok:
                denied += 1
            elif isinstance(event, MemoryRecalled):
                recalled += 1
            elif isinstance(event, ApprovalDecided) and event.by == "queued":
                queued += 1
        meter.enter()
        trace.close()
        meter.leave("trace")
        total = time.perf_counter() - start - wrapping
        self.check(
            task,
            variant=variant,
            finished=finished,
            route=first_route,
            denied=denied,
            scripted=scripted,
        )
        self.timed = timed
        self.wiring.wired = {
            "recall": runner.recall is not None,
            "memory step": runner.remember is not None,
            "judge": runner.calls.risk is not None,
            "queue": runner.calls.queue is not None,
            "guard": dispatcher.guard is not None,
            "ledger": dispatcher.ledger is not None,
        }
        for part, times in (
            ("recall", recalled),
            ("memory step", meter.calls.pop("memory", 0)),
            ("judge", meter.calls.pop("judge", 0)),
            ("queue", queued),
            ("guard", meter.calls.pop("budget", 0)),
            ("ledger", meter.calls.pop("ledger", 0)),
            ("tasks", 1),
        ):
            self.wiring.add(part, times)
        meter.calls.clear()
        return total, meter.seconds.get("model", 0.0)

    def check(
        self,
        task: str,
        *,
        variant: Variant,
        finished: TaskFinished | TaskFailed | None,
        route: str | None,
        denied: int,
        scripted: dict[str, ScriptedEngine] | None,
    ) -> None:
        if not isinstance(finished, TaskFinished) or finished.record is None:
            raise SystemExit(f"INVALID: task {task} did not finish with a record: {finished}")
        if route != "cloud-fast":
            raise SystemExit(f"INVALID: task {task}'s step went to {route}, not cloud-fast")
        if denied != variant.denied:
            raise SystemExit(
                f"INVALID: task {task}: {denied} tool calls refused, not {variant.denied}"
            )
        if scripted is None and (self.cloud.state.script or self.local.state.script):
            raise SystemExit(f"INVALID: task {task} did not make the model calls planned")


PARTS = (
    "build",
    "recall",
    "tokens",
    "routing",
    "budget",
    "ledger",
    "price",
    "judge",
    "memory",
    "trace",
    "writes",
)


def variants(notes: list[str]) -> dict[str, Variant]:
    def read(n: int) -> list[str | dict[str, Any]]:
        return [{"name": "read_file", "arguments": {"path": notes[n % len(notes)]}}, ANSWER]

    def write(n: int) -> list[str | dict[str, Any]]:
        path = f"spaces/team/drafts/bench-{n:05d}.md"
        return [{"name": "write_file", "arguments": {"path": path, "content": DRAFT}}, ANSWER]

    return {
        "answer": Variant("answers at once", "yes", lambda n: [ANSWER], []),
        "read_file": Variant("read_file, answer", "yes", read, []),
        "write_file": Variant("write, judged, queued", "queue", write, [HIGH_RISK], denied=1),
    }


def summarise(samples: list[float], parts: dict[str, float]) -> dict[str, Any]:
    samples.sort()
    return {
        "p50": statistics.median(samples),
        "p95": samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)],
        "max": samples[-1],
        "parts": {k: v / len(samples) for k, v in parts.items()},
    }


def measure(
    harness: Harness,
    variant: Variant,
    *,
    warmup: int,
    steps: int,
    first: int,
    scripted: dict[str, ScriptedEngine] | None = None,
) -> dict[str, Any]:
    samples: list[float] = []
    totals: list[float] = []
    parts = dict.fromkeys((*PARTS, "loop"), 0.0)
    for i in range(warmup + steps):
        total, model = harness.run_task(first + i, variant, scripted)
        if i >= warmup:
            samples.append((total - model) * 1000)
            totals.append(total * 1000)
            seconds = harness.meter.seconds
            for part in PARTS:
                parts[part] += seconds.get(part, 0.0) * 1000
            parts["loop"] += (total - sum(seconds.values())) * 1000
    worker = harness.timed["cloud-fast"]
    result = summarise(samples, parts)
    result["prompt"] = worker.engine.count_tokens(worker.requests[-1].messages)
    result["total_p50"] = statistics.median(totals)
    return result


def overhead(harness: Harness, args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for number, (name, variant) in enumerate(variants(notes).items()):
        results[name] = measure(
            harness, variant, warmup=args.warmup, steps=args.steps, first=number * 100_000
        )
    return results


def scripted_engines() -> dict[str, ScriptedEngine]:
    """In-process engines with the stubs' answers, windows and locality."""
    return {
        name: CountingEngine(
            name,
            [NOTHING_TO_KEEP if name == "local-small" else ANSWER],
            is_local=name == "local-small",
            context_window=8192 if name == "local-small" else 128_000,
        )
        for name in ("cloud-fast", "cloud-strong", "local-small")
    }


def cross_check(harness: Harness, args: argparse.Namespace) -> dict[str, Any]:
    """The answer-at-once variant with in-process engines, in the dispatcher's place."""
    engines = scripted_engines()
    variant = variants([])["answer"]
    return measure(
        harness,
        variant,
        warmup=args.warmup,
        steps=args.check_steps,
        first=800_000,
        scripted=engines,
    )


def profile(harness: Harness, tasks: int) -> str:
    """The answer-at-once variant with in-process engines, so litellm does not crowd the
    harness's functions out of the listing."""
    variant = variants([])["answer"]
    engines = scripted_engines()
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(tasks):
        harness.run_task(900_000 + n, variant, engines)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


# --- the three-step task on the tiny model --------------------------------------------------


def tiny_workspace(root: Path, gguf: Path, args: argparse.Namespace) -> None:
    """The starter workspace; agents.md keeps its permissions and budgets, and routes every
    kind of step (plan, work, summarise, sensitive, approval, memory) to the tiny model."""
    copy_starter(root)
    threads = {"threads": args.threads} if args.threads else {}
    kinds = ("plan", "work", "summarise", "sensitive", "approval", "memory")
    agents = root / "agents.md"
    text = agents.read_text(encoding="utf-8")
    end = text.index("\n---\n", 4)
    front = yaml.safe_load(text[4:end])
    front.update(
        name="Bench",
        models={
            "local-small": {"engine": "local", "path": str(gguf), "context": args.context} | threads
        },
        roles={"local": ["local-small"]},
        routing=dict.fromkeys(kinds, "local"),
        providers={"allow": [], "deny": []},
        plan_approval="multi-step",
    )
    agents.write_text(
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n"
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
    model: WorkspaceModel, root: Path, engine: ChatEngine, seed: int, want_steps: int | None
) -> TinyRun:
    """Run the task; give up right after the plan when it does not have `want_steps` steps."""
    meter = Meter()
    timed = {"local-small": TimedEngine(engine, meter, base_seed=seed)}
    task = f"tiny-{seed:04d}"
    start = time.perf_counter()
    runner, dispatcher = build_runner(model, root, task_id=task)
    dispatcher.engines = TimedEngines(dispatcher.engines, timed, meter)  # kept warm, timed
    trace = TraceWriter(root, runner.task)
    trace.open()
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
    trace.close()
    total = time.perf_counter() - start
    calls = len(timed["local-small"].requests)
    return TinyRun(total, meter.seconds.get("model", 0.0), calls, steps, tool_calls, finished)


def three_step(args: argparse.Namespace, temp: Path) -> TinyRun | None:
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
    tiny_workspace(root, gguf, args)
    model = WorkspaceModel(LocalFileStore(root))
    workspace = model.load()
    if workspace.errors or workspace.agents is None:
        raise SystemExit(f"INVALID: the tiny workspace does not load: {workspace.errors}")
    spec = workspace.agents.policy.models["local-small"]
    engine = build_engine("local-small", spec, root)  # as the runtime's `Engines` builds it
    start = time.perf_counter()
    engine.load()  # type: ignore[attr-defined]  # a LocalEngine
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


def make_harness(root: Path, cloud: OpenAIStub, local: OpenAIStub, ledger_records: int) -> Harness:
    meter = Meter()
    write_models(root, stub_models(cloud, local))
    model = TimedModel(LocalFileStore(root))
    model.meter = meter
    workspace = model.load()
    if workspace.errors or workspace.agents is None:
        problems = "; ".join(str(d) for d in workspace.errors[:5])
        raise SystemExit(f"INVALID: the generated workspace does not load cleanly: {problems}")
    cloud.state.reply, local.state.reply = ANSWER, NOTHING_TO_KEEP
    ledger = JsonlLedger.for_workspace(root)
    ledger_bytes = seed_ledger(ledger, ledger_records)
    return Harness(root, model, cloud, local, ledger.path, ledger_bytes, meter)


def wiring_line(wiring: Wiring) -> str:
    tasks = wiring.ran.get("tasks", 0)
    unit = {
        "recall": "tasks recalled memories",
        "memory step": "runs",
        "judge": "calls",
        "queue": "approvals queued",
        "guard": "checks",
        "ledger": "records",
    }
    shown = ", ".join(
        f"{part} {'yes' if on else 'no'} ({wiring.ran.get(part, 0):,} {unit[part]})"
        for part, on in wiring.wired.items()
    )
    return (
        f"wiring measured (cairn.runtime.build_runner, over the {tasks:,} tasks of the three "
        f"variants, warm-up included): {shown}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="workspace files (1000)")
    parser.add_argument("--skills", type=int, default=100, help="generated skills (100)")
    parser.add_argument("--operators", type=int, default=20, help="generated operators (20)")
    parser.add_argument("--memories", type=int, default=120, help="archived memories (120)")
    parser.add_argument("--ledger-records", type=int, default=200, help="earlier spend (200)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed tasks per variant (30)")
    parser.add_argument("--steps", type=int, default=300, help="timed tasks per variant (300)")
    parser.add_argument(
        "--check-steps", type=int, default=150, help="timed cross-check tasks (150)"
    )
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
    if args.steps < 20 or args.check_steps < 20:
        parser.error("--steps and --check-steps must be at least 20")

    install_log_redaction()  # as `cairn run` does, before anything runs
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)  # its notes on the stub's model name
    from cairn.engines.cloud import litellm_module

    litellm_module()  # imported once, as the first cloud call would (seconds): not timed
    LITELLM_BACKLOG.hook()
    began = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="cairn-harness-") as name,
        OpenAIStub() as cloud,
        OpenAIStub() as local,
    ):
        temp = Path(name)
        root = temp / "workspace"
        counts = build_workspace(root, args)
        harness = make_harness(root, cloud, local, args.ledger_records)
        workspace = harness.model.workspace
        skills = len(workspace.skills_for("team"))
        notes = sorted(
            p.relative_to(root).as_posix() for p in (root / "spaces/team/notes").glob("*.md")
        )
        print(
            f"workspace: {counts['files']:,} files ({len(workspace.files)} model files: "
            f"{skills} skills visible in space team, {len(workspace.operators)} operators, "
            f"{counts['memories']} archived memories, {counts['notes']} notes); "
            f"ledger {args.ledger_records} earlier records"
        )
        print(
            "models: cloud-fast, cloud-strong (local: false) and local-small (local: true) "
            "through litellm at loopback OpenAI-protocol stubs"
        )
        gc.collect()
        results = overhead(harness, args, notes)
        wiring = Wiring(dict(harness.wiring.wired), dict(harness.wiring.ran))
        for key, variant in variants(notes).items():
            r = results[key]
            parts = ", ".join(f"{k} {v:.2f}" for k, v in r["parts"].items())
            print(
                f"  {variant.label:<22} p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms, "
                f"max {r['max']:.2f} ms (p50 with the engines {r['total_p50']:.1f} ms); "
                f"last prompt {r['prompt']:,} tokens\n"
                f"    mean per step inside that, ms: {parts}"
            )
        check = cross_check(harness, args)
        parts = ", ".join(f"{k} {v:.2f}" for k, v in check["parts"].items())
        print(
            f"  {'cross-check: answers':<22} p50 {check['p50']:.2f} ms, p95 {check['p95']:.2f} ms, "
            f"max {check['max']:.2f} ms, with in-process engines instead of the stubs\n"
            f"    mean per step inside that, ms: {parts}"
        )
        missed = results["answer"]["p50"] > TARGET_P50_MS
        if missed or args.profile:
            print(f"\nprofile of {args.profile_tasks} answer-at-once tasks:")
            print(profile(harness, args.profile_tasks))

        print("\nthree-step task on the tiny model:")
        run = three_step(args, temp)

    a, t, w = results["answer"], results["read_file"], results["write_file"]
    verdict = "FAIL" if missed else "PASS"
    print("\n" + wiring_line(wiring))
    print(
        f"harness overhead per step ({counts['files']:,}-file workspace, stub engines): "
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
    write_verdict = "PASS" if w["p50"] <= TARGET_P50_MS else "over"
    print(
        f"harness overhead per step with a judged, queued write (2 model calls + judge + "
        f"queue): p50 {w['p50']:.1f} ms, p95 {w['p95']:.1f} ms, max {w['max']:.1f} ms "
        f"(target p50 <= {TARGET_P50_MS:g} ms per step) {write_verdict}"
    )
    print(
        f"subtraction cross-check: the answer-at-once p50 is {a['p50']:.1f} ms with the stubs "
        f"subtracted, {check['p50']:.1f} ms with in-process engines (ratio "
        f"{a['p50'] / check['p50']:.2f})"
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
