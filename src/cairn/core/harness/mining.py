"""Weakness mining: recurring failures in task traces and eval runs, grouped into patterns.

Each trace is a task's events as its JSONL records (`{"event": "tool_result", ...}`, see
docs/tasks.md). The patterns are fixed and deterministic, so the same traces always give
the same digest; a model only comes in later, to propose edits for what was found.

A trace is *sensitive* when any of its model calls was routed as sensitive, when its task
ran in a private space, or when it never reached the router (`is_sensitive`): evidence
from it may only be shown to local models (`Weakness.sensitive`). Damaged records are
read as far as they make sense, never trusted to have the right shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Record = Mapping[str, Any]

PATTERNS: Mapping[str, tuple[str, str]] = {
    "loop": (
        "Loops: the same call again and again, or a step that ran out of model calls",
        "a skill step that says what to do after a tool result, or a lower max_repeats",
    ),
    "failing_calls": (
        "Repeated failing tool calls",
        "a skill or instruction line naming the right tool and arguments, or max_failures",
    ),
    "invalid_calls": (
        "Invalid tool calls: unknown tools, missing or wrong arguments",
        "an instruction line listing the tools and their arguments",
    ),
    "context_overflow": (
        "Context overflow: tool output or history filled the model's window",
        "a skill step that reads less at once, or a lower tool_output_share",
    ),
    "skipped_verification": (
        "Skipped verification: a file was written and never read back",
        "a skill's last step: read the written file back and check it",
    ),
    "skill_unused": (
        "A skill matched the request but was not loaded",
        "an instruction line on when to load that skill",
    ),
    "budget_pause": (
        "Budget pauses and warnings",
        "a cheaper routing rule for the step kind, or fewer model calls per step",
    ),
    "eval_failed": (
        "Eval cases that failed their checks",
        "an edit to the skill or instructions the case exercises",
    ),
}
"""pattern → (title, the kind of edit that may help)."""

_INVALID = re.compile(
    r"^(there is no tool|missing arguments:|argument '.*' of \S+ must be)"
    r"|( takes an object of named arguments| is missing required argument"
    r"| does not take argument)"
)
_WRITES = ("write_file", "append_file")
_READS = ("read_file",)
_LOOP_GUARDS = ("loop breaker", "step limit", "tool rounds", "repetition")
_STOP_WORDS = frozenset({"with", "from", "that", "this", "into", "your", "what", "when"})


@dataclass(frozen=True, slots=True)
class Evidence:
    task: str  # the trace's task id, or `eval:CASE`
    detail: str
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class Weakness:
    pattern: str  # a key of PATTERNS
    evidence: tuple[Evidence, ...]
    subject: str = ""  # the tool, skill or case it is about, when it is about one

    @property
    def key(self) -> str:
        return f"{self.pattern}:{self.subject}" if self.subject else self.pattern

    @property
    def title(self) -> str:
        title = PATTERNS[self.pattern][0]
        return f"{title} ({self.subject})" if self.subject else title

    @property
    def hint(self) -> str:
        return PATTERNS[self.pattern][1]

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.task for e in self.evidence))

    @property
    def sensitive(self) -> bool:
        return any(e.sensitive for e in self.evidence)


@dataclass(frozen=True, slots=True)
class EvalFailure:
    """A failed run of an eval case: its name, request and the checks it failed."""

    case: str
    request: str
    failures: tuple[str, ...]
    sensitive: bool = False  # its run was routed as sensitive


@dataclass
class _Found:
    by_key: dict[tuple[str, str], list[Evidence]] = field(default_factory=dict)

    def add(self, pattern: str, subject: str, evidence: Evidence) -> None:
        self.by_key.setdefault((pattern, subject), []).append(evidence)


def _map(value: Any) -> Mapping[str, Any]:
    """A record's field as a mapping; anything else (a damaged line) as an empty one."""
    return value if isinstance(value, Mapping) else {}


def is_sensitive(records: Sequence[Record], private_spaces: Iterable[str] = ()) -> bool:
    """Whether a task's content must stay on local models: one of its calls was routed as
    sensitive, it ran in a private space, or it never reached the router (a task that
    failed before its first call: what it held is unknown, so it counts as sensitive)."""
    records = [r for r in records if isinstance(r, Mapping)]
    started = next((r for r in records if r.get("event") == "task_started"), {})
    if started.get("space") and started.get("space") in set(private_spaces):
        return True
    decisions = [_map(r.get("decision")) for r in records if r.get("event") == "routed"]
    return not decisions or any(bool(d.get("sensitive")) for d in decisions)


def mine(
    traces: Mapping[str, Sequence[Record]],
    *,
    skills: Mapping[str, str] | None = None,
    eval_failures: Iterable[EvalFailure] = (),
    private_spaces: Iterable[str] = (),
) -> list[Weakness]:
    """Weaknesses in `traces` (task id → records) and failed eval runs, most frequent
    first. `skills` is name → description, for noticing a skill that was not used;
    tasks in `private_spaces` are sensitive."""
    found = _Found()
    private = frozenset(private_spaces)
    for task, records in traces.items():
        _mine_trace(
            task,
            [r for r in records if isinstance(r, Mapping)],
            skills or {},
            found,
            is_sensitive(records, private),
        )
    for failure in eval_failures:
        detail = f"{failure.request[:120]!r} failed: {'; '.join(failure.failures)[:300]}"
        evidence = Evidence(f"eval:{failure.case}", detail, failure.sensitive)
        found.add("eval_failed", failure.case, evidence)
    weaknesses = [
        Weakness(pattern, tuple(evidence), subject)
        for (pattern, subject), evidence in found.by_key.items()
    ]
    order = list(PATTERNS)
    weaknesses.sort(key=lambda w: (-len(w.tasks), order.index(w.pattern), w.subject))
    return weaknesses


def _mine_trace(
    task: str,
    records: Sequence[Record],
    skills: Mapping[str, str],
    found: _Found,
    sensitive: bool,
) -> None:
    def note(pattern: str, detail: str, subject: str = "") -> None:
        found.add(pattern, subject, Evidence(task, detail[:300], sensitive))

    started = next((r for r in records if r.get("event") == "task_started"), {})
    request = str(started.get("request") or "")
    written: dict[str, None] = {}  # in the order written (a dict keeps it)
    read_back: set[str] = set()
    failing: dict[str, int] = {}
    used_tools: set[str] = set()
    for record in records:
        event = record.get("event")
        if event == "tool_called":
            name = str(record.get("name") or "")
            used_tools.add(name)
        elif event == "tool_result":
            name = str(record.get("name") or "")
            output = str(record.get("output") or "")
            path = record.get("path")
            if record.get("ok"):
                failing.pop(name, None)
                if name in _WRITES and path:
                    written[str(path)] = None
                elif name in _READS and path and str(path) in written:
                    read_back.add(str(path))
                continue
            if _INVALID.search(output):
                note("invalid_calls", f"{name}: {output[:200]}", name)
            failing[name] = failing.get(name, 0) + 1
            if failing[name] == 2:
                note("failing_calls", f"{name} failed twice in a row: {output[:200]}", name)
        elif event == "guard_stopped":
            guard = str(record.get("guard") or "")
            reason = str(record.get("reason") or "")
            if guard in _LOOP_GUARDS:
                note("loop", f"{guard}: {reason}")
            elif guard == "tool-failure guard":
                note("failing_calls", f"{guard}: {reason}")
            elif guard == "context budget":
                note("context_overflow", reason)
            elif guard == "cost guard":
                note("budget_pause", reason)
        elif event == "task_failed":
            kind = record.get("kind")
            if kind == "context":
                note("context_overflow", str(record.get("reason") or ""))
            elif kind == "budget":
                note("budget_pause", str(record.get("reason") or ""))
        elif event in ("budget_warning", "paused"):
            verdict = _map(record.get("verdict"))
            note("budget_pause", str(verdict.get("reason") or record.get("reason") or event))
    for path in written:
        if path not in read_back:
            note("skipped_verification", f"wrote {path} and did not read it back")
    if not started.get("skill") and "load_skill" not in used_tools:
        for skill in matching_skills(request, skills):
            note("skill_unused", f"{request[:120]!r} matches skill {skill}", skill)


def matching_skills(request: str, skills: Mapping[str, str]) -> list[str]:
    """Skills whose name's words (four letters or more) all appear in the request:
    `draft-a-reply` matches "Draft a reply to Sam", not "reply later"."""
    words = set(re.findall(r"[a-z0-9]+", request.lower()))
    found = []
    for name in skills:
        parts = [p for p in name.split("-") if len(p) >= 4 and p not in _STOP_WORDS]
        if parts and all(_stem(p) in {_stem(w) for w in words} for p in parts):
            found.append(name)
    return found


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 4 else word


def digest(weaknesses: Sequence[Weakness], *, traces: int, evals: int = 0) -> str:
    """The weaknesses as markdown a person can read."""
    lines = [
        "# What went wrong lately",
        "",
        f"From {_count(traces, 'task trace')} and {_count(evals, 'eval run')}. Patterns are "
        "found by fixed rules "
        "(docs/improving.md); evidence from sensitive tasks is marked and is only shown to "
        "local models.",
        "",
    ]
    if not weaknesses:
        lines.append("Nothing recurring was found.")
    for n, weakness in enumerate(weaknesses, 1):
        count = len(weakness.tasks)
        lines += [
            f"## {n}. {weakness.title}",
            "",
            f"In {count} task{'s' if count != 1 else ''}. What may help: {weakness.hint}.",
            "",
        ]
        for item in weakness.evidence[:5]:
            mark = " (sensitive)" if item.sensitive else ""
            lines.append(f"- `{item.task}`{mark}: {item.detail}")
        if len(weakness.evidence) > 5:
            lines.append(f"- … and {len(weakness.evidence) - 5} more")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
