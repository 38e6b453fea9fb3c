"""Impact: usage, cost, the share kept local, what local routing and the prompt cache saved,
and a conservative time-saved estimate — from telemetry, never from what a task said.

The sources, all in the workspace's `.cairn/`:

* the spend ledger (`spend.jsonl`): one record per model call — the model, whether it ran
  locally, its tokens and cost, the task and the automation it was for;
* the traces (`traces/<task>.jsonl`): when each task started, how it ended, whether it
  left an action queued for a person, and the prompt tokens the local engine reused
  instead of evaluating them again (`usage.cached_input_tokens`);
* the run database (`runs.sqlite`), its `trace` column only: which traces are automation
  runs (a run that failed before any model call has no ledger record to say so).

Content is left out by construction. A trace line is parsed only when its event is one of
`_FIELDS` (the event's name is read from the line's start, where `TraceWriter` puts it),
and the parse keeps, at every level, only `at`, `event` and the fields `_FIELDS` names for
that event: a request, an answer, a tool's output or an error message are dropped as each
object is decoded. What is kept is numbers, timestamps and a few fixed words compared with
constants; the figures hold counts and sums only.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cairn.infra.state import STATE

if TYPE_CHECKING:
    # Imported where used: the desktop app imports this module (for the formula and the
    # periods) while its window is starting, before the workspace's own imports are done.
    from cairn.core.routing.budget import SpendRecord
    from cairn.core.workspace.schema import AgentsPolicy

Period = Literal["today", "last 7 days", "last 30 days", "all time"]
PERIODS: tuple[Period, ...] = ("today", "last 7 days", "last 30 days", "all time")

Kind = Literal["question", "task", "automation run"]
Outcome = Literal["done", "waiting", "failed", "cancelled", "unfinished"]

# Minutes a person would have spent doing by hand what one *finished* piece of work did.
# Deliberately low: the estimate should be one a sceptic accepts, not a sales figure.
MINUTES_PER_QUESTION = 1.0
"""A `cairn ask` answered: at least the minute it takes to look the answer up yourself."""
MINUTES_PER_TASK = 3.0
"""A task done (`cairn run`, the app): reading the files it read and writing what it wrote
takes a person far longer than three minutes for all but the smallest tasks."""
MINUTES_PER_AUTOMATION_RUN = 5.0
"""An automation run done: a whole job (a brief, a digest, a review) nobody had to start."""

FORMULA = (
    f"Time saved ≈ {MINUTES_PER_QUESTION:g} min × questions answered"
    f" + {MINUTES_PER_TASK:g} min × tasks done"
    f" + {MINUTES_PER_AUTOMATION_RUN:g} min × automation runs done"
)
FORMULA_NOTE = (
    "Only work that finished counts: failed, cancelled and unfinished runs, and tasks that "
    "left an action waiting for your approval, count zero."
)

ASK_PREFIX = "ask-"  # `cairn ask` names its traces so (see cli/ask.py)
_REFERENCE_CALL = (1_000, 1_000)  # tokens in, out: breaks ties between comparison models

# The trace events read, and the fields read from each (besides `at` and `event`).
_FIELDS: dict[str, frozenset[str]] = {
    "task_started": frozenset(),
    "task_finished": frozenset(),
    "task_failed": frozenset(),
    "task_cancelled": frozenset(),
    "failed": frozenset(),  # TraceWriter.failed: a crash, a stopped route, a budget pause
    "stopped": frozenset(),
    "paused": frozenset(),
    "finished": frozenset({"reason"}),  # the engine's end of a `cairn ask` answer
    "approval_decided": frozenset({"by"}),
    "usage": frozenset({"cached_input_tokens"}),  # tokens and cost: the ledger has them
}
_ALWAYS = frozenset({"at", "event"})
# TraceWriter writes `at`, `task`, `event` first: the event's name is known before parsing.
_EVENT_NAME = re.compile(r'^\{"at": "[^"\\]*", "task": "[^"\\]*", "event": "([a-z_]+)"')
_ENDS: dict[str, Outcome] = {
    "task_finished": "done",
    "task_failed": "failed",
    "task_cancelled": "cancelled",
    "failed": "failed",
    "stopped": "failed",
    "paused": "failed",
}
_ANSWERED = frozenset({"stop", "tool_calls"})  # an ask cut short (length, loop) is not done


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How many runs of one kind ended each way."""

    done: int = 0
    waiting: int = 0  # finished, but left an action queued for a person to approve
    failed: int = 0
    cancelled: int = 0
    unfinished: int = 0  # no end in the trace: still running, or its process died

    @property
    def total(self) -> int:
        return self.done + self.waiting + self.failed + self.cancelled + self.unfinished


@dataclass(frozen=True, slots=True)
class Comparison:
    """The cloud model local calls are priced on: the cheapest one agents.md names."""

    name: str  # its name in agents.md
    model: str  # its litellm id


@dataclass(frozen=True, slots=True)
class Figures:
    """One period's figures."""

    period: Period
    questions: Outcomes
    tasks: Outcomes
    automation_runs: Outcomes
    input_tokens: int
    output_tokens: int
    cost_usd: float  # calls with a known price
    unpriced_calls: int  # cloud calls whose price litellm's price list does not know
    local_calls: int
    cloud_calls: int
    local_input_tokens: int
    local_output_tokens: int
    saved_usd: float | None  # the local calls priced on the comparison model; None: none
    cached_tokens: int  # prompt tokens the local engine reused instead of evaluating

    @property
    def local_share(self) -> float | None:
        calls = self.local_calls + self.cloud_calls
        return self.local_calls / calls if calls else None

    @property
    def minutes_saved(self) -> float:
        """`FORMULA`, for this period."""
        return (
            MINUTES_PER_QUESTION * self.questions.done
            + MINUTES_PER_TASK * self.tasks.done
            + MINUTES_PER_AUTOMATION_RUN * self.automation_runs.done
        )


@dataclass(frozen=True, slots=True)
class Impact:
    figures: tuple[Figures, ...]  # one per `PERIODS`, in that order
    comparison: Comparison | None
    comparison_note: str  # why there is no comparison, when there is none
    computed_at: datetime

    def period(self, period: Period) -> Figures:
        return self.figures[PERIODS.index(period)]

    @property
    def empty(self) -> bool:
        """Nothing recorded yet: no task, no question, no model call."""
        every = self.period("all time")
        runs = every.questions.total + every.tasks.total + every.automation_runs.total
        return runs == 0 and every.local_calls + every.cloud_calls == 0


def compute_impact(
    root: str | Path, policy: AgentsPolicy | None, *, now: datetime | None = None
) -> Impact:
    """The figures of the workspace at `root` for every period, as of `now`.

    `policy` (agents.md's) names the cloud models local calls are compared with. Pricing
    imports litellm (its bundled price list, never fetched): call this off the UI thread."""
    from cairn.infra.ledger import JsonlLedger

    root = Path(root)
    moment = _aware(now or datetime.now())
    calls = list(JsonlLedger.for_workspace(root).records())
    automations = _automation_traces(root) | {r.task for r in calls if r.task and r.automation}
    traces = list(_read_traces(root / STATE / "traces", automations))
    local = [r for r in calls if r.local]
    comparison, price, note = _comparison(policy, local)
    figures = []
    for period in PERIODS:
        start = period_start(period, moment)

        def within(at: datetime, start: datetime | None = start) -> bool:
            return start is None or _aware(at) >= start

        figures.append(_figures(period, [c for c in calls if within(c.at)], traces, within, price))
    return Impact(tuple(figures), comparison, note, moment)


def period_start(period: Period, now: datetime) -> datetime | None:
    """Where `period` begins (local midnight for today); None for all time."""
    now = _aware(now)
    if period == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "all time":
        return None
    return now - timedelta(days=7 if period == "last 7 days" else 30)


# --- the ledger's side ------------------------------------------------------------------------


Price = Callable[[int, int], float | None]


def _figures(
    period: Period,
    calls: list[SpendRecord],
    traces: list[_Trace],
    within: Callable[[datetime], bool],
    price: Price | None,
) -> Figures:
    local = [c for c in calls if c.local]
    saved: float | None = None
    if price is not None:
        saved = sum((price(c.input_tokens, c.output_tokens) or 0.0 for c in local), 0.0)
    outcomes: dict[Kind, Counter[str]] = {k: Counter() for k in _KINDS}
    for trace in traces:
        if within(trace.started):
            outcomes[trace.kind][trace.outcome] += 1
    return Figures(
        period=period,
        questions=Outcomes(**outcomes["question"]),
        tasks=Outcomes(**outcomes["task"]),
        automation_runs=Outcomes(**outcomes["automation run"]),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        cost_usd=sum((c.cost_usd or 0.0 for c in calls), 0.0),
        unpriced_calls=sum(1 for c in calls if c.cost_usd is None and not c.local),
        local_calls=len(local),
        cloud_calls=len(calls) - len(local),
        local_input_tokens=sum(c.input_tokens for c in local),
        local_output_tokens=sum(c.output_tokens for c in local),
        saved_usd=saved,
        cached_tokens=sum(n for at, n in (p for t in traces for p in t.cached) if within(at)),
    )


_KINDS: tuple[Kind, ...] = ("question", "task", "automation run")


def _comparison(
    policy: AgentsPolicy | None, local: list[SpendRecord]
) -> tuple[Comparison | None, Price | None, str]:
    """The cheapest cloud model agents.md names (for these local calls, all time), its price,
    and why there is none when there is none. Opted-out providers are not compared with."""
    from cairn.core.routing.router import spec_is_local, spec_provider

    if policy is None:
        return None, None, "the workspace has no agents.md to name a cloud model"
    candidates = []
    providers = policy.providers
    for name, spec in policy.models.items():
        provider = spec_provider(spec)
        if spec_is_local(spec) or spec.model is None or provider in providers.deny:
            continue
        if providers.allow and provider not in providers.allow:
            continue
        candidates.append((name, spec.model, spec.api_base))
    if not candidates:
        return None, None, "agents.md names no cloud model to compare with"
    from cairn.engines.cloud import CloudEngine

    best: tuple[tuple[float, float], Comparison, Price] | None = None
    for name, model, api_base in candidates:
        price = CloudEngine(name, model, api_base=api_base, local=False).estimate_cost
        reference = price(*_REFERENCE_CALL)
        if reference is None:
            continue  # not in litellm's price list: it cannot be compared with
        key = (sum(price(c.input_tokens, c.output_tokens) or 0.0 for c in local), reference)
        if best is None or key < best[0]:
            best = (key, Comparison(name, model), price)
    if best is None:
        return None, None, "no cloud model in agents.md has a price in litellm's price list"
    return best[1], best[2], ""


def _automation_traces(root: Path) -> set[str]:
    """The trace ids of automation runs in the run database; none when there is none (it
    is opened read-only: this never creates or changes it)."""
    from cairn.infra.runs import DB_NAME

    path = root / STATE / DB_NAME
    if not path.is_file():
        return set()
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT trace FROM runs WHERE trace IS NOT NULL").fetchall()
    except sqlite3.Error:
        return set()  # unreadable or foreign: the ledger's automation tags still count
    return {str(row[0]) for row in rows}


# --- the traces' side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Trace:
    started: datetime
    kind: Kind
    outcome: Outcome
    cached: tuple[tuple[datetime, int], ...]  # (when, prompt tokens reused) per call


def _read_traces(folder: Path, automations: set[str]) -> Iterable[_Trace]:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.jsonl")):
        if path.stem.startswith(ASK_PREFIX):
            kind: Kind = "question"
        else:
            kind = "automation run" if path.stem in automations else "task"
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                trace = _summarise(kind, (_pick(line) for line in handle))
        except OSError:
            continue  # deleted while being read
        if trace is not None:
            yield trace


def _summarise(kind: Kind, events: Iterable[dict[str, Any] | None]) -> _Trace | None:
    started: datetime | None = None
    outcome: Outcome = "unfinished"
    queued = False
    cached: list[tuple[datetime, int]] = []
    for event in events:
        if event is None:
            continue
        at, name = event["at"], event["event"]
        if started is None:
            started = at  # `task_started` first; a trace without it starts where it starts
        if name in _ENDS:
            outcome = _ENDS[name]
        elif name == "finished":
            reason = event.get("reason")
            outcome = "done" if reason in _ANSWERED else "failed"
            if reason == "cancelled":
                outcome = "cancelled"
        elif name == "approval_decided":
            queued = queued or event.get("by") == "queued"
        elif name == "usage":
            reused = event.get("cached_input_tokens")
            if isinstance(reused, int) and not isinstance(reused, bool) and reused > 0:
                cached.append((at, reused))
    if started is None:
        return None
    if outcome == "done" and queued:
        outcome = "waiting"
    return _Trace(started, kind, outcome, tuple(cached))


def _pick(line: str) -> dict[str, Any] | None:
    """The named fields of one trace line whose event is read here, else None."""
    match = _EVENT_NAME.match(line)
    if match is not None:
        name: object = match[1]
    else:  # not written by TraceWriter: find the event's name first, keeping nothing else
        name = _decode(line, _ALWAYS - {"at"}).get("event")
    if not isinstance(name, str) or name not in _FIELDS:
        return None
    data = _decode(line, _ALWAYS | _FIELDS[name])
    try:
        at = _aware(datetime.fromisoformat(data["at"]))
    except (KeyError, TypeError, ValueError):
        return None
    if data.get("event") != name:
        return None
    return {**data, "at": at}


def _decode(line: str, keep: frozenset[str]) -> dict[str, Any]:
    """`line` as JSON with only the keys in `keep` kept, in every object, as it is decoded."""

    def named(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        return {key: value for key, value in pairs if key in keep}

    try:
        data = json.loads(line, object_pairs_hook=named)
    except ValueError:
        return {}  # a torn last line, or not JSON
    return data if isinstance(data, dict) else {}


def _aware(moment: datetime) -> datetime:
    """A time with its zone; a time written without one is this machine's local time."""
    return moment if moment.tzinfo is not None else moment.astimezone()
